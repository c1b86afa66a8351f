/* test_policy.c: the roles admitted to each operation, checked against the table of DESIGN.md for
 * every role, and the refusal of an operation on a server of another interface. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "error.h"
#include "policy.h"
#include "soapH.h"
#include "soap_tls.h"

static const enum cl_role all_roles[] = {CL_ROLE_NONE,          CL_ROLE_CA_SERVER,
                                         CL_ROLE_COMM_TERMINAL, CL_ROLE_FACTORY_TERMINAL,
                                         CL_ROLE_DEVICE,        CL_ROLE_DEVICE_COMMON};

/* DESIGN.md, "The sequence": interface, served by, admitted peers. */
static const struct {
    const char *element;
    enum cl_interface iface;
    unsigned roles;
} expected[] = {
    {"ca:CertificateTransmissionRequest", CL_IFACE_CA, CL_ROLE_COMM_TERMINAL},
    {"ca:InstallationReport", CL_IFACE_CA, CL_ROLE_COMM_TERMINAL},
    {"ca:CheckIn", CL_IFACE_CA, CL_ROLE_DEVICE},
    {"ct:CertificateTransmissionRequest", CL_IFACE_COMM_TERMINAL, CL_ROLE_FACTORY_TERMINAL},
    {"ct:ReceptionNotice", CL_IFACE_COMM_TERMINAL, CL_ROLE_FACTORY_TERMINAL},
    {"ct:WriteResult", CL_IFACE_COMM_TERMINAL, CL_ROLE_FACTORY_TERMINAL},
    {"dev:CertificateTransmission", CL_IFACE_DEVICE, CL_ROLE_FACTORY_TERMINAL},
    {"line:WriteResult", CL_IFACE_LINE, CL_ROLE_DEVICE | CL_ROLE_DEVICE_COMMON},
};

/* Makes soap look as the server does after peeking at a request element: the element given as
 * "prefix:Name" is parsed from XML that binds the namespace to an unrelated prefix, so matching
 * must go by namespace, not by spelling. */
static void peek(struct soap *soap, const char *element)
{
    static const char *const uris[][2] = {{"ca", "urn:certline:ca:1"},
                                          {"ct", "urn:certline:comm-terminal:1"},
                                          {"dev", "urn:certline:device:1"},
                                          {"line", "urn:certline:line:1"}};
    static char xml[512];
    const char *colon = strchr(element, ':'), *uri = "urn:unknown";

    for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++)
        if (strncmp(element, uris[i][0], (size_t)(colon - element)) == 0 &&
            uris[i][0][colon - element] == '\0')
            uri = uris[i][1];
    snprintf(xml, sizeof(xml), "<q:%s xmlns:q=\"%s\"/>", colon + 1, uri);
    soap->is = xml;
    assert_int_equal(soap_begin_recv(soap), SOAP_OK);
    assert_int_equal(soap_peek_element(soap), SOAP_OK);
}

static struct soap *new_soap(void)
{
    struct soap *soap = soap_new();
    struct cl_soap_limits limits;
    cl_soap_limits_default(&limits);
    cl_soap_apply_limits(soap, &limits); /* installs the namespace table */
    return soap;
}

static void test_every_role_on_every_operation(void **state)
{
    struct soap *soap = new_soap();
    size_t count;
    char reason[256];
    (void)state;

    assert_non_null(cl_policy_operations(&count));
    assert_int_equal(count, sizeof(expected) / sizeof(expected[0]));
    for (size_t i = 0; i < count; i++) {
        for (size_t r = 0; r < sizeof(all_roles) / sizeof(all_roles[0]); r++) {
            struct cl_peer peer = {.role = all_roles[r], .name = "peer"};
            int admitted = (expected[i].roles & (unsigned)all_roles[r]) != 0;
            peek(soap, expected[i].element);
            int rc = cl_policy_admit(soap, expected[i].iface, &peer, reason, sizeof(reason));
            if (admitted && rc != CL_OK)
                fail_msg("%s should admit %s: %s", expected[i].element, cl_role_name(all_roles[r]),
                         reason);
            if (!admitted) {
                assert_int_equal(rc, CL_ERR_PEER_ROLE);
                assert_non_null(strstr(reason, cl_role_name(all_roles[r])));
                assert_non_null(strstr(reason, expected[i].element));
            }
        }
    }
    soap_free(soap);
}

static void test_operation_of_another_interface_is_refused(void **state)
{
    struct soap *soap = new_soap();
    struct cl_peer comm = {.role = CL_ROLE_COMM_TERMINAL, .name = "comm"};
    char reason[256];
    (void)state;

    peek(soap, "ca:CertificateTransmissionRequest");
    assert_int_equal(cl_policy_admit(soap, CL_IFACE_COMM_TERMINAL, &comm, reason, sizeof(reason)),
                     CL_ERR_PEER_ROLE);
    assert_string_equal(reason, "operation ca:CertificateTransmissionRequest belongs to the ca "
                                "interface; this server serves comm-terminal");
    soap_free(soap);
}

static void test_unknown_element_is_left_to_gsoap(void **state)
{
    struct soap *soap = new_soap();
    struct cl_peer comm = {.role = CL_ROLE_COMM_TERMINAL, .name = "comm"};
    char reason[256];
    (void)state;

    peek(soap, "ca:IssueEverything");
    assert_int_equal(cl_policy_admit(soap, CL_IFACE_CA, &comm, reason, sizeof(reason)),
                     CL_ERR_NOT_FOUND);
    soap_free(soap);
}

static void test_role_names_round_trip(void **state)
{
    (void)state;
    for (size_t r = 1; r < sizeof(all_roles) / sizeof(all_roles[0]); r++)
        assert_int_equal(cl_role_from_name(cl_role_name(all_roles[r])), all_roles[r]);
    assert_int_equal(cl_role_from_name("Comm-Terminal"), CL_ROLE_NONE);
    assert_int_equal(cl_role_from_name(""), CL_ROLE_NONE);
    assert_string_equal(cl_role_name(CL_ROLE_NONE), "none");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_role_on_every_operation),
        cmocka_unit_test(test_operation_of_another_interface_is_refused),
        cmocka_unit_test(test_unknown_element_is_left_to_gsoap),
        cmocka_unit_test(test_role_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
