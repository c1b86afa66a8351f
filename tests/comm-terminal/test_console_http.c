/* test_console_http.c: the console's form and multipart parsing, its escaping (HTML, CSV,
 * JSON), its sessions and lockout (common/console_http.c, console_session.c), without a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "console_core.h"

static void form_values(void **state)
{
    static const char body[] = "csrf=ab12&operator=alice&password=a+b%2Bc%26d&empty=&flag";
    char out[32];
    (void)state;
    assert_int_equal(cs_form_value(body, strlen(body), "operator", out, sizeof(out)), 1);
    assert_string_equal(out, "alice");
    assert_int_equal(cs_form_value(body, strlen(body), "password", out, sizeof(out)), 1);
    assert_string_equal(out, "a b+c&d");
    assert_int_equal(cs_form_value(body, strlen(body), "empty", out, sizeof(out)), 1);
    assert_string_equal(out, "");
    assert_int_equal(cs_form_value(body, strlen(body), "flag", out, sizeof(out)), 1);
    assert_int_equal(cs_form_value(body, strlen(body), "absent", out, sizeof(out)), 0);
    assert_int_equal(cs_form_value(body, strlen(body), "pass", out, sizeof(out)), 0);
    /* only the bytes given count */
    assert_int_equal(cs_form_value(body, 9, "operator", out, sizeof(out)), 0);
}

static void form_refusals(void **state)
{
    char out[8];
    (void)state;
    assert_int_equal(cs_form_value("a=12345678", 10, "a", out, sizeof(out)), -1); /* too long */
    assert_int_equal(cs_form_value("a=%00", 5, "a", out, sizeof(out)), -1);       /* NUL */
    assert_int_equal(cs_form_value("a=%1b", 5, "a", out, sizeof(out)), -1);       /* ESC */
    assert_int_equal(cs_form_value("a=%4", 4, "a", out, sizeof(out)), -1);        /* cut */
    assert_int_equal(cs_form_value("a=%zz", 5, "a", out, sizeof(out)), -1);
    assert_int_equal(cs_form_value("a=x%0Ay", 7, "a", out, sizeof(out)), 1); /* LF kept */
    assert_string_equal(out, "x\ny");
}

static const char multipart[] = "--XyZ\r\n"
                                "Content-Disposition: form-data; name=\"csrf\"\r\n\r\n"
                                "tok\r\n"
                                "--XyZ\r\n"
                                "Content-Disposition: form-data; name=\"plan\"; "
                                "filename=\"p.csv\"\r\nContent-Type: text/csv\r\n\r\n"
                                "a,b\r\n1,2\r\n"
                                "--XyZ--\r\n";

static void multipart_parts(void **state)
{
    const char *data;
    size_t len;
    (void)state;
    assert_int_equal(cs_multipart_part(multipart, strlen(multipart),
                                       "multipart/form-data; boundary=XyZ", "csrf", &data, &len),
                     1);
    assert_int_equal(len, 3);
    assert_memory_equal(data, "tok", 3);
    assert_int_equal(cs_multipart_part(multipart, strlen(multipart),
                                       "multipart/form-data; boundary=\"XyZ\"", "plan", &data,
                                       &len),
                     1);
    assert_int_equal(len, 8); /* the CRLF before a delimiter belongs to it (RFC 2046) */
    assert_memory_equal(data, "a,b\r\n1,2", 8);
    assert_int_equal(cs_multipart_part(multipart, strlen(multipart),
                                       "multipart/form-data; boundary=XyZ", "other", &data, &len),
                     0);
    /* no boundary, another type, a body cut short */
    assert_int_equal(
        cs_multipart_part(multipart, strlen(multipart), "multipart/form-data", "csrf", &data, &len),
        -1);
    assert_int_equal(cs_multipart_part(multipart, strlen(multipart), "text/plain; boundary=XyZ",
                                       "csrf", &data, &len),
                     -1);
    assert_int_equal(
        cs_multipart_part(multipart, 30, "multipart/form-data; boundary=XyZ", "plan", &data, &len),
        -1);
}

static void escaping(void **state)
{
    struct cs_buf b = {0};
    (void)state;
    cs_html(&b, "<a href=\"x\">'&'</a>");
    assert_string_equal(b.data, "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    b.len = 0;
    cs_csv(&b, "plain");
    cs_puts(&b, "|");
    cs_csv(&b, "a,\"b\"");
    assert_string_equal(b.data, "plain|\"a,\"\"b\"\"\"");
    b.len = 0;
    cs_json(&b, "q\"\\\n");
    assert_string_equal(b.data, "\"q\\\"\\\\\\u000a\"");
    b.len = 0;
    cs_url(&b, "3012-0 a&b");
    assert_string_equal(b.data, "3012-0%20a%26b");
    cs_buf_free(&b);
}

static void sessions(void **state)
{
    struct cs_sessions *s;
    struct cs_session opened, found;
    (void)state;
    assert_int_equal(cs_sessions_new(60, &s), 0);
    assert_int_equal(cs_session_open(s, "alice", "admin", &opened), 0);
    assert_int_equal(strlen(opened.id), CS_TOKEN_HEX);
    assert_string_not_equal(opened.id, opened.csrf);
    assert_int_equal(cs_session_find(s, opened.id, &found), 0);
    assert_string_equal(found.operator_id, "alice");
    assert_string_equal(found.csrf, opened.csrf);
    char wrong[CS_TOKEN_HEX + 1];
    memcpy(wrong, opened.id, sizeof(wrong));
    wrong[0] = wrong[0] == '0' ? '1' : '0';
    assert_int_equal(cs_session_find(s, wrong, &found), -1);
    assert_int_equal(cs_session_find(s, "short", &found), -1);
    cs_session_close(s, opened.id);
    assert_int_equal(cs_session_find(s, opened.id, &found), -1);
    /* ended for an operator disabled */
    assert_int_equal(cs_session_open(s, "bob", "viewer", &opened), 0);
    cs_session_close_operator(s, "bob");
    assert_int_equal(cs_session_find(s, opened.id, &found), -1);
    cs_sessions_free(s);
    /* expired */
    assert_int_equal(cs_sessions_new(-1, &s), 0);
    assert_int_equal(cs_session_open(s, "alice", "admin", &opened), 0);
    assert_int_equal(cs_session_find(s, opened.id, &found), -1);
    cs_sessions_free(s);
}

static void lockout(void **state)
{
    struct cs_sessions *s;
    (void)state;
    assert_int_equal(cs_sessions_new(60, &s), 0);
    for (int i = 0; i < CS_LOCKOUT_FAILURES - 1; i++)
        cs_login_failed(s, "bob");
    assert_int_equal(cs_locked(s, "bob"), 0);
    cs_login_succeeded(s, "bob"); /* a success clears the count */
    for (int i = 0; i < CS_LOCKOUT_FAILURES - 1; i++)
        cs_login_failed(s, "bob");
    assert_int_equal(cs_locked(s, "bob"), 0);
    cs_login_failed(s, "bob");
    assert_int_equal(cs_locked(s, "bob"), 1);
    assert_int_equal(cs_locked(s, "alice"), 0);
    cs_sessions_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(form_values),     cmocka_unit_test(form_refusals),
        cmocka_unit_test(multipart_parts), cmocka_unit_test(escaping),
        cmocka_unit_test(sessions),        cmocka_unit_test(lockout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
