/* test_console_http.c: the console's form and multipart parsing, its escaping (HTML, CSV,
 * JSON), its sessions and lockout, answers sent in parts (common/console_http.c,
 * console_session.c, console_stream.c), without a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* Whether cs_time writes what strftime of localtime_r writes for every second of [from, to) a
 * step apart, in the zone tz (NULL: the process's): 1 or 0. */
static int times_as_strftime(const char *tz, time_t from, time_t to, time_t step)
{
    struct cs_buf b = {0};
    int same = 1;
    if (tz != NULL) {
        setenv("TZ", tz, 1);
        tzset();
    }
    for (time_t t = from; t < to && same; t += step) {
        struct tm tm;
        char want[32];
        localtime_r(&t, &tm);
        strftime(want, sizeof(want), "%Y-%m-%d %H:%M:%S", &tm);
        b.len = 0;
        cs_time(&b, t);
        same = strcmp(b.data, want) == 0;
        if (!same)
            fprintf(stderr, "TZ=%s, %lld: %s, want %s\n", tz != NULL ? tz : "(as set)",
                    (long long)t, b.data, want);
    }
    cs_buf_free(&b);
    return same;
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
    cs_json(&b, "3012-1\x01z");
    cs_json(&b, "");
    assert_string_equal(b.data, "\"3012-1\\u0001z\"\"\"");
    assert_true(times_as_strftime(NULL, 1, 4000000000, 12345679));
    b.len = 0;
    cs_url(&b, "3012-0 a&b");
    assert_string_equal(b.data, "3012-0%20a%26b");
    cs_buf_free(&b);
}

/* cs_time keeps each hour's offset: local times across changes of offset, on the hour and
 * within it, and in a half-hour zone, in a child (the zone is the process's). */
static void local_times(void **state)
{
    static const char *const zones[] = {"CET-1CEST,M3.5.0,M10.5.0/3", "NST3:30NDT,M3.2.0,M11.1.0",
                                        "<+0530>-5:30", "AAA-1BBB,M3.5.0/2:30,M10.5.0/3:17:11",
                                        "UTC0"};
    const time_t year = 1924992000; /* 2031-01-01 00:00:00 UTC */
    int status = -1;
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int same = 1;
        for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]) && same; i++)
            same = times_as_strftime(zones[i], year - 86400, year + 366 * 86400, 433) &&
                   times_as_strftime(zones[i], year + 66 * 86400, year + 70 * 86400, 7) &&
                   times_as_strftime(zones[i], year + 86 * 86400, year + 92 * 86400, 7) &&
                   times_as_strftime(zones[i], year + 296 * 86400, year + 310 * 86400, 7) &&
                   times_as_strftime(zones[i], -5000000, 5000000, 3541);
        _exit(same ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void sessions(void **state)
{
    struct cs_sessions *s;
    struct cs_session opened, found;
    (void)state;
    assert_int_equal(cs_sessions_new(60, &s), 0);
    assert_int_equal(cs_session_open(s, "alice", "admin", "", &opened), 0);
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
    assert_int_equal(cs_session_open(s, "bob", "viewer", "", &opened), 0);
    cs_session_close_operator(s, "bob");
    assert_int_equal(cs_session_find(s, opened.id, &found), -1);
    cs_sessions_free(s);
    /* expired */
    assert_int_equal(cs_sessions_new(-1, &s), 0);
    assert_int_equal(cs_session_open(s, "alice", "admin", "", &opened), 0);
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

/* What a browser received of an answer in parts; sends fail once fail_after bytes went. */
struct wire {
    struct cs_buf got;
    size_t fail_after;
};

static int wire_send(void *conn, const char *data, size_t len)
{
    struct wire *w = conn;
    if (w->fail_after > 0 && w->got.len + len > w->fail_after)
        return -1;
    cs_add(&w->got, data, len);
    return 0;
}

/* Decodes the chunked body after the head of w's answer into body: 1 if it ended with the
 * last chunk, 0 if it was cut off, -1 if malformed. */
static int unchunk(const struct wire *w, struct cs_buf *body)
{
    const char *p = strstr(w->got.data, "\r\n\r\n"), *end = w->got.data + w->got.len;
    if (p == NULL || strstr(w->got.data, "Transfer-Encoding: chunked\r\n") == NULL)
        return -1;
    for (p += 4; p < end;) {
        char *after = NULL;
        unsigned long size = strtoul(p, &after, 16);
        if (after == p || after + 2 > end || memcmp(after, "\r\n", 2) != 0)
            return -1;
        p = after + 2;
        if (size == 0)
            return p + 2 == end && memcmp(p, "\r\n", 2) == 0 ? 1 : -1;
        if ((size_t)(end - p) < size + 2 || memcmp(p + size, "\r\n", 2) != 0)
            return -1;
        cs_add(body, p, size);
        p += size + 2;
    }
    return 0;
}

/* Parts of an answer larger than several parts, whole; broken off; the browser gone. */
static void parts(void **state)
{
    struct cs_buf want = {0}, body = {0};
    (void)state;
    for (int i = 0; want.len < 3 * CS_PART_BYTES + 100; i++)
        cs_printf(&want, "row %d,\"x\"\r\n", i);
    for (int run = 0; run < 3; run++) {
        struct wire w = {.fail_after = run == 2 ? CS_PART_BYTES : 0};
        struct cs_response resp = {.status = 200,
                                   .content_type = "text/csv",
                                   .send = wire_send,
                                   .conn = &w,
                                   .keep_alive = 1};
        int flushed = 0;
        assert_int_equal(cs_parts_start(&resp), 0);
        assert_int_equal(resp.parts, CS_PARTS_SENDING);
        for (size_t at = 0; at < want.len && flushed == 0; at += 1000) {
            cs_add(&resp.body, want.data + at, want.len - at < 1000 ? want.len - at : 1000);
            flushed = cs_parts_flush(&resp);
            assert_true(resp.body.len <= CS_PART_BYTES + 1024); /* one part held at most */
        }
        if (run == 2) { /* the browser is gone: the handler is told to stop */
            assert_int_equal(flushed, -1);
            assert_int_equal(resp.parts, CS_PARTS_BROKEN);
            assert_int_equal(cs_parts_end(&resp, 1), -1);
            cs_buf_free(&resp.body);
            cs_buf_free(&w.got);
            continue;
        }
        assert_int_equal(flushed, 0);
        assert_int_equal(cs_parts_end(&resp, run == 0), run == 0 ? 0 : -1);
        assert_int_equal(resp.parts, run == 0 ? CS_PARTS_ENDED : CS_PARTS_BROKEN);
        assert_non_null(strstr(w.got.data, "Connection: keep-alive\r\n"));
        assert_null(strstr(w.got.data, "Content-Length"));
        body.len = 0;
        assert_int_equal(unchunk(&w, &body), run == 0 ? 1 : 0);
        if (run == 0) {
            assert_int_equal(body.len, want.len);
            assert_memory_equal(body.data, want.data, want.len);
        } else { /* what went is a prefix, without the last chunk */
            assert_true(body.len >= 2 * CS_PART_BYTES && body.len < want.len);
            assert_memory_equal(body.data, want.data, body.len);
        }
        cs_buf_free(&resp.body);
        cs_buf_free(&w.got);
    }
    /* No server behind: the parts stay in the body, sent whole. */
    struct cs_response whole = {.status = 200, .content_type = "text/csv"};
    assert_int_equal(cs_parts_start(&whole), 0);
    cs_add(&whole.body, want.data, want.len);
    assert_int_equal(cs_parts_flush(&whole), 0);
    assert_int_equal(cs_parts_end(&whole, 1), 0);
    assert_int_equal(whole.parts, CS_WHOLE);
    assert_int_equal(whole.body.len, want.len);
    cs_buf_free(&whole.body);
    cs_buf_free(&want);
    cs_buf_free(&body);
}

/* The consoles' day= values: calendar dates only (cs_day_ok, the gate's check). */
static void days(void **state)
{
    static const char *const good[] = {"2026-02-28", "2024-02-29", "2000-02-29",
                                       "2026-12-31", "0001-01-01", "9999-12-31"};
    static const char *const bad[] = {"2026-02-30",  "2023-02-29", "1900-02-29", "2026-04-31",
                                      "2026-13-01",  "2026-00-10", "2026-01-00", "0000-01-01",
                                      "2-02-01-01",  "abc",        "",           "2026-1-01",
                                      "2026-01-011", "2026/01/01", "+026-01-01", "2026-01- 1"};
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(cs_day_ok(good[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("bad day %s\n", bad[i]);
        assert_false(cs_day_ok(bad[i]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(form_values),
        cmocka_unit_test(form_refusals),
        cmocka_unit_test(multipart_parts),
        cmocka_unit_test(escaping),
        cmocka_unit_test(sessions),
        cmocka_unit_test(lockout),
        cmocka_unit_test(parts),
        cmocka_unit_test(local_times),
        cmocka_unit_test(days),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
