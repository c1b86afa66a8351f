/* test_policy.c: the roles admitted to each operation, checked against the table of DESIGN.md for
 * every role, and the refusal of an operation on a server of another interface. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "policy.h"
#include "soapH.h"
#include "soap_tls.h"

static const enum cl_role all_roles[] = {
    CL_ROLE_NONE,   CL_ROLE_CA_SERVER,     CL_ROLE_COMM_TERMINAL, CL_ROLE_FACTORY_TERMINAL,
    CL_ROLE_DEVICE, CL_ROLE_DEVICE_COMMON, CL_ROLE_PRODUCTION};

/* The interfaces of DESIGN.md, by the prefix the operations are spelt with. */
static const struct {
    const char *prefix, *uri;
    enum cl_interface iface;
} interfaces[] = {
    {"ca", "urn:certline:ca:1", CL_IFACE_CA},
    {"ct", "urn:certline:comm-terminal:1", CL_IFACE_COMM_TERMINAL},
    {"dev", "urn:certline:device:1", CL_IFACE_DEVICE},
    {"line", "urn:certline:line:1", CL_IFACE_LINE},
};

/* DESIGN.md, "The sequence", read by peer: the operations each role may call (NULL-padded).
 * Written per role rather than per operation, so that it restates the design and does not copy
 * the table of policy.c. */
static const struct {
    enum cl_role role;
    const char *operations[7];
} may_call[] = {
    {CL_ROLE_COMM_TERMINAL,
     {"ca:CertificateTransmissionRequest", "ca:InstallationReport", "ca:RevocationList",
      "ca:Retire", "ca:Models", "ca:ReportBatch"}},
    {CL_ROLE_FACTORY_TERMINAL,
     {"ct:CertificateTransmissionRequest", "ct:ReceptionNotice", "ct:WriteResult",
      "ct:RevocationList", "dev:CertificateTransmission"}},
    {CL_ROLE_DEVICE, {"ca:CheckIn", "line:WriteResult"}},
    {CL_ROLE_DEVICE_COMMON, {"line:WriteResult"}},
    {CL_ROLE_PRODUCTION, {"ct:SubmitPlan", "ct:FetchNow"}},
};

enum { MAY_CALL = sizeof(may_call) / sizeof(may_call[0]), OPS_EACH = 7 };

/* The entry of interfaces[] whose prefix element ("prefix:Name") has, or NULL. */
static const char *uri_of(const char *element, enum cl_interface *iface)
{
    const char *colon = strchr(element, ':');

    for (size_t i = 0; i < sizeof(interfaces) / sizeof(interfaces[0]); i++)
        if (strncmp(element, interfaces[i].prefix, (size_t)(colon - element)) == 0 &&
            interfaces[i].prefix[colon - element] == '\0') {
            if (iface != NULL)
                *iface = interfaces[i].iface;
            return interfaces[i].uri;
        }
    return NULL;
}

/* Whether DESIGN.md lets role call operation. */
static int may(enum cl_role role, const char *operation)
{
    for (size_t r = 0; r < MAY_CALL; r++)
        for (size_t k = 0; k < OPS_EACH && may_call[r].operations[k] != NULL; k++)
            if (may_call[r].role == role && strcmp(may_call[r].operations[k], operation) == 0)
                return 1;
    return 0;
}

/* Makes soap look as the server does after peeking at a request element: the element given as
 * "prefix:Name" is parsed from XML that binds the namespace to an unrelated prefix, so matching
 * must go by namespace, not by spelling. */
static void peek(struct soap *soap, const char *element)
{
    static char xml[512];
    const char *uri = uri_of(element, NULL);

    snprintf(xml, sizeof(xml), "<q:%s xmlns:q=\"%s\"/>", strchr(element, ':') + 1,
             uri != NULL ? uri : "urn:unknown");
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

/* Every role on operation: admitted where DESIGN.md lets it call, refused by name elsewhere. */
static void check_operation(struct soap *soap, const char *operation)
{
    enum cl_interface iface = CL_IFACE_CA;
    char reason[256];

    assert_non_null(uri_of(operation, &iface));
    for (size_t r = 0; r < sizeof(all_roles) / sizeof(all_roles[0]); r++) {
        struct cl_peer peer = {.role = all_roles[r], .name = "peer"};
        int admitted = may(all_roles[r], operation);
        peek(soap, operation);
        int rc = cl_policy_admit(soap, iface, &peer, reason, sizeof(reason));
        if (admitted && rc != CL_OK)
            fail_msg("%s should admit %s: %s", operation, cl_role_name(all_roles[r]), reason);
        if (!admitted) {
            assert_int_equal(rc, CL_ERR_PEER_ROLE);
            assert_non_null(strstr(reason, cl_role_name(all_roles[r])));
            assert_non_null(strstr(reason, operation));
        }
    }
}

static void test_every_role_on_every_operation(void **state)
{
    struct soap *soap = new_soap();
    size_t count, operations = 0;
    (void)state;

    /* each operation once, though several roles may call it */
    for (size_t r = 0; r < MAY_CALL; r++)
        for (size_t k = 0; k < OPS_EACH && may_call[r].operations[k] != NULL; k++) {
            const char *operation = may_call[r].operations[k];
            int seen = 0;
            for (size_t e = 0; e < r && !seen; e++)
                for (size_t j = 0; j < OPS_EACH && may_call[e].operations[j] != NULL; j++)
                    seen |= strcmp(may_call[e].operations[j], operation) == 0;
            if (seen)
                continue;
            check_operation(soap, operation);
            operations++;
        }
    assert_non_null(cl_policy_operations(&count));
    assert_int_equal(count, operations);
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
