/* test_nv_slots.c: device images, the two certificate slots and the NVRAM banks: repeated writes,
 * the largest record, stale handles, a power cut after every step and a write error at every step,
 * counters, a torn bank, a damaged slot. Each test works in a fresh mkdtemp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "nv_fixture.h"
#include "nv_image.h"

static void test_write_repeatedly(void **state)
{
    struct fixture *f = *state;
    struct nv_device d, again;
    struct nv_certificate c, back;
    char err[256] = "";

    make_board(f);
    open_ok(f, &d);
    for (int i = 0; i < 6; i++) {
        cert_std(&c, (char)('A' + i));
        write_ok(&d, &c);
        assert_int_equal(d.has_certificate, 1);
        assert_int_equal(d.current.sequence, (uint64_t)i + 1);
        assert_int_equal(d.current_slot, i % 2);
        assert_cert_equal(&d.current, &c);
        assert_int_equal(nv_read_back(&d, &back, err, sizeof(err)), CL_OK);
        assert_cert_equal(&back, &c);
        assert_int_equal(back.sequence, (uint64_t)i + 1);
        nv_certificate_free(&back);
        assert_int_equal(d.nvram.counters.certificate_writes, (uint32_t)i + 1);
        assert_int_equal(d.nvram.counters.last_write_at, c.written_at);

        open_ok(f, &again);
        assert_int_equal(again.current_slot, i % 2);
        assert_int_equal(again.current.sequence, (uint64_t)i + 1);
        assert_cert_equal(&again.current, &c);
        assert_int_equal(again.nvram.counters.certificate_writes, (uint32_t)i + 1);
        assert_int_equal(again.nvram.sequence, (uint64_t)i + 2);
        nv_close(&again);
        nv_certificate_free(&c);
    }
    assert_int_equal(d.current_slot, 1);
    assert_inspect(f, "certificate slot 1", 1, "sequence 6, current");
    assert_inspect(f, "certificate slot 0", 1, "sequence 5, older copy");
    nv_close(&d);
}

/* The largest record fits, and a written_at of 0 becomes the current time. */
static void test_write_largest_record(void **state)
{
    struct fixture *f = *state;
    struct nv_device d, again;
    struct nv_certificate c, back;
    char err[256] = "";
    time_t before = time(NULL);

    make_board(f);
    open_ok(f, &d);
    cert_make(&c, 'M', NV_PEM_MAX, NV_SEALED_MAX);
    free(c.chain_pem);
    c.chain_pem = text_of(NV_PEM_MAX, 'N');
    c.written_at = 0;
    memset(c.serial_hex, 'F', NV_SERIAL_HEX_MAX);
    for (int i = 0; i < 2; i++) {
        write_ok(&d, &c);
        assert_int_equal(nv_read_back(&d, &back, err, sizeof(err)), CL_OK);
        assert_string_equal(back.certificate_pem, c.certificate_pem);
        assert_string_equal(back.chain_pem, c.chain_pem);
        assert_string_equal(back.serial_hex, c.serial_hex);
        assert_memory_equal(back.sealed_key, c.sealed_key, NV_SEALED_MAX);
        assert_true(back.written_at >= (int64_t)before && back.written_at <= time(NULL));
        nv_certificate_free(&back);
    }
    open_ok(f, &again);
    assert_int_equal(again.current.sequence, 2);
    assert_string_equal(again.current.chain_pem, c.chain_pem);
    nv_close(&again);
    nv_close(&d);
    nv_certificate_free(&c);
}

/* Writing through a handle that no longer matches the images is refused. */
static void test_stale_handle_conflict(void **state)
{
    struct fixture *f = *state;
    struct nv_device d1, d2, d3;
    struct nv_certificate a, b;
    char err[256] = "";

    make_board(f);
    open_ok(f, &d1);
    open_ok(f, &d2);
    cert_std(&a, 'A');
    cert_std(&b, 'B');
    write_ok(&d1, &a);
    assert_int_equal(nv_write_certificate(&d2, &b, NULL, err, sizeof(err)), CL_ERR_CONFLICT);
    assert_non_null(strstr(err, "changed"));
    assert_int_equal(nv_count_failure(&d2, err, sizeof(err)), CL_ERR_CONFLICT);
    open_ok(f, &d3);
    assert_cert_equal(&d3.current, &a);
    assert_int_equal(d3.nvram.counters.failed_writes, 0);
    nv_close(&d3);
    nv_close(&d1);
    nv_close(&d2);
    nv_certificate_free(&a);
    nv_certificate_free(&b);
}

/* A write case: a board whose images hold A (and, with old_spare, an older A0 in the spare slot),
 * open in d, and the certificates B and C to write next. */
struct write_case {
    struct nv_certificate a0, a, b, c;
    struct nv_device d;
    uint64_t a_seq; /* A's sequence */
    int a_slot;     /* A's slot */
};

static void case_start(struct fixture *f, struct write_case *w, int old_spare)
{
    w->a_seq = old_spare ? 2 : 1;
    w->a_slot = old_spare ? 1 : 0;
    make_board(f);
    open_ok(f, &w->d);
    cert_std(&w->a0, '0');
    cert_std(&w->a, 'A');
    cert_std(&w->b, 'B');
    cert_std(&w->c, 'C');
    if (old_spare)
        write_ok(&w->d, &w->a0);
    write_ok(&w->d, &w->a);
}

static void case_end(struct write_case *w)
{
    nv_certificate_free(&w->a0);
    nv_certificate_free(&w->a);
    nv_certificate_free(&w->b);
    nv_certificate_free(&w->c);
}

/* Runs one_case after every write step, without and with an older copy in the spare slot. */
static void every_step(struct fixture *f, void (*one_case)(struct fixture *, int, int))
{
    for (int old_spare = 0; old_spare <= 1; old_spare++)
        for (int step = 1; step <= NV_WRITE_STEPS; step++)
            one_case(f, step, old_spare);
}

/* A power cut after step while writing B leaves exactly A (steps before the slot header) or B
 * (from the slot header on), whole; the counters include B only from the NVRAM bank step on;
 * and a following normal write works. */
static void power_cut_case(struct fixture *f, int step, int old_spare)
{
    struct nv_write_hooks hooks = {0, step};
    struct write_case w;
    struct nv_certificate back;
    struct nv_device r;
    const struct nv_certificate *expect;
    char err[256] = "", slot_name[32];
    int b_slot, committed, counted, rc;

    case_start(f, &w, old_spare);
    b_slot = 1 - w.a_slot;
    rc = nv_write_certificate(&w.d, &w.b, &hooks, err, sizeof(err));
    assert_int_equal(rc, NV_POWER_CUT);
    committed = step >= NV_STEP_SLOT_HEADER;
    counted = step >= NV_STEP_NVRAM_BANK;
    /* The old handle is stale once anything became current. */
    if (committed)
        assert_int_equal(nv_write_certificate(&w.d, &w.c, NULL, err, sizeof(err)), CL_ERR_CONFLICT);
    nv_close(&w.d);

    open_ok(f, &r);
    expect = committed ? &w.b : &w.a;
    assert_int_equal(r.has_certificate, 1);
    assert_int_equal(r.current_slot, committed ? b_slot : w.a_slot);
    assert_int_equal(r.current.sequence, committed ? w.a_seq + 1 : w.a_seq);
    assert_cert_equal(&r.current, expect);
    assert_int_equal(r.nvram.counters.certificate_writes, w.a_seq + (counted ? 1 : 0));
    assert_int_equal(r.nvram.sequence, w.a_seq + 1 + (counted ? 1 : 0));
    snprintf(slot_name, sizeof(slot_name), "certificate slot %d", b_slot);
    if (committed)
        assert_inspect(f, slot_name, 1, "current");
    else if (old_spare)
        assert_inspect(f, slot_name, 0, NULL); /* interrupted write over A0 */
    else
        assert_inspect(f, slot_name, -1, "empty");

    write_ok(&r, &w.c);
    assert_int_equal(r.current.sequence, (committed ? w.a_seq + 1 : w.a_seq) + 1);
    assert_int_equal(nv_read_back(&r, &back, err, sizeof(err)), CL_OK);
    assert_cert_equal(&back, &w.c);
    nv_certificate_free(&back);
    nv_close(&r);
    open_ok(f, &r);
    assert_cert_equal(&r.current, &w.c);
    assert_int_equal(r.nvram.counters.certificate_writes, w.a_seq + (counted ? 1 : 0) + 1);
    nv_close(&r);
    case_end(&w);
}

static void test_power_cut_after_every_step(void **state)
{
    every_step(*state, power_cut_case);
}

/* A write error at step leaves A current (on disk and in the handle); the failure is counted;
 * the same handle then writes B. */
static void fail_case(struct fixture *f, int step, int old_spare)
{
    struct nv_write_hooks hooks = {step, 0};
    struct write_case w;
    struct nv_certificate back;
    struct nv_device r;
    char err[256] = "", want[32];

    case_start(f, &w, old_spare);
    assert_int_equal(nv_write_certificate(&w.d, &w.b, &hooks, err, sizeof(err)), CL_ERR_IO);
    snprintf(want, sizeof(want), "step %d", step);
    if (strstr(err, want) == NULL || strstr(err, "stays current") == NULL)
        fail_msg("err \"%s\"", err);
    assert_int_equal(w.d.current_slot, w.a_slot);
    assert_cert_equal(&w.d.current, &w.a);
    assert_int_equal(nv_read_back(&w.d, &back, err, sizeof(err)), CL_OK);
    assert_cert_equal(&back, &w.a);
    nv_certificate_free(&back);
    assert_int_equal(nv_count_failure(&w.d, err, sizeof(err)), CL_OK);
    assert_int_equal(w.d.nvram.counters.failed_writes, 1);

    open_ok(f, &r);
    assert_int_equal(r.current_slot, w.a_slot);
    assert_int_equal(r.current.sequence, w.a_seq);
    assert_cert_equal(&r.current, &w.a);
    assert_int_equal(r.nvram.counters.certificate_writes, w.a_seq);
    assert_int_equal(r.nvram.counters.failed_writes, 1);
    nv_close(&r);

    write_ok(&w.d, &w.b);
    assert_int_equal(w.d.current.sequence, w.a_seq + 1);
    open_ok(f, &r);
    assert_cert_equal(&r.current, &w.b);
    assert_int_equal(r.current_slot, 1 - w.a_slot);
    assert_int_equal(r.nvram.counters.certificate_writes, w.a_seq + 1);
    assert_int_equal(r.nvram.counters.failed_writes, 1);
    nv_close(&r);
    nv_close(&w.d);
    case_end(&w);
}

static void test_fail_at_every_step(void **state)
{
    every_step(*state, fail_case);
}

/* --- Counters ------------------------------------------------------------------------------ */

static void test_counters(void **state)
{
    struct fixture *f = *state;
    struct nv_device d, r;
    struct nv_certificate c;
    char err[256] = "";
    time_t before;

    make_board(f);
    open_ok(f, &d);
    for (int i = 0; i < 3; i++) {
        cert_std(&c, (char)('A' + i));
        write_ok(&d, &c);
        nv_certificate_free(&c);
    }
    before = time(NULL);
    assert_int_equal(nv_count_failure(&d, err, sizeof(err)), CL_OK);
    assert_int_equal(nv_count_failure(&d, err, sizeof(err)), CL_OK);
    open_ok(f, &r);
    assert_int_equal(r.nvram.counters.certificate_writes, 3);
    assert_int_equal(r.nvram.counters.failed_writes, 2);
    assert_int_equal(r.nvram.sequence, 6);
    assert_true(r.nvram.counters.last_write_at >= (int64_t)before);
    assert_true(r.nvram.counters.last_write_at <= (int64_t)time(NULL));
    /* The other fields travel with every bank. */
    assert_string_equal(r.nvram.device_number, DEVICE_NUMBER);
    assert_int_equal(r.nvram.initial_apl_value, 0xA0B0C0D0);
    assert_string_equal(r.nvram.common_certificate_pem, g_common.certificate_pem);
    nv_close(&r);
    nv_close(&d);
}

/* A bank write torn by a power cut (its body damaged) leaves the previous bank current. */
static void test_torn_nvram_bank(void **state)
{
    struct fixture *f = *state;
    struct nv_device d, r;
    struct nv_certificate a, b;

    make_board(f);
    open_ok(f, &d);
    cert_std(&a, 'A');
    cert_std(&b, 'B');
    write_ok(&d, &a); /* bank 1, sequence 2, one write */
    nv_close(&d);
    flip_byte(f->nvram, BANK_OFF(1) + HDR + 50);
    open_ok(f, &r);
    assert_int_equal(r.nvram.sequence, 1);
    assert_int_equal(r.nvram.counters.certificate_writes, 0);
    assert_cert_equal(&r.current, &a);
    assert_inspect(f, "nvram bank 1", 0, "checksum");
    assert_inspect(f, "nvram bank 0", 1, "current");
    write_ok(&r, &b); /* into bank 1 again */
    nv_close(&r);
    open_ok(f, &r);
    assert_int_equal(r.nvram.sequence, 2);
    assert_int_equal(r.nvram.counters.certificate_writes, 1);
    nv_close(&r);
    nv_certificate_free(&a);
    nv_certificate_free(&b);
}

static void test_damaged_current_slot_older_wins(void **state)
{
    struct fixture *f = *state;
    struct nv_certificate a, b, c;
    struct nv_device d;
    size_t where[2] = {SLOT_OFF(1) + HDR + SLOT_DATA + 10, SLOT_OFF(1) + 9};
    const char *why[2] = {"body checksum", "header checksum"};

    for (int i = 0; i < 2; i++) {
        two_certificates(f, &a, &b);
        flip_byte(f->flash, where[i]);
        open_ok(f, &d);
        assert_int_equal(d.current_slot, 0);
        assert_int_equal(d.current.sequence, 1);
        assert_cert_equal(&d.current, &a);
        assert_inspect(f, "certificate slot 1", 0, why[i]);
        assert_inspect(f, "certificate slot 0", 1, "current");
        /* The next write goes over the damaged slot. */
        cert_std(&c, 'C');
        write_ok(&d, &c);
        assert_int_equal(d.current_slot, 1);
        assert_int_equal(d.current.sequence, 2);
        nv_close(&d);
        open_ok(f, &d);
        assert_cert_equal(&d.current, &c);
        nv_close(&d);
        nv_certificate_free(&a);
        nv_certificate_free(&b);
        nv_certificate_free(&c);
    }
}

static void test_both_slots_damaged(void **state)
{
    struct fixture *f = *state;
    struct nv_certificate a, b;

    two_certificates(f, &a, &b);
    flip_byte(f->flash, SLOT_OFF(0) + HDR + SLOT_DATA + 1);
    flip_byte(f->flash, SLOT_OFF(1) + HDR + SLOT_DATA + 1);
    open_fails(f, CL_ERR_PARSE, "certificate area: no valid slot");
    assert_inspect(f, "certificate slot 0", 0, "checksum");
    assert_inspect(f, "certificate slot 1", 0, "checksum");
    nv_certificate_free(&a);
    nv_certificate_free(&b);
}

int nv_slots_tests(void)
{
    const struct CMUnitTest tests[] = {
        NV_TEST(test_write_repeatedly),      NV_TEST(test_write_largest_record),
        NV_TEST(test_stale_handle_conflict), NV_TEST(test_power_cut_after_every_step),
        NV_TEST(test_fail_at_every_step),    NV_TEST(test_counters),
        NV_TEST(test_torn_nvram_bank),       NV_TEST(test_damaged_current_slot_older_wins),
        NV_TEST(test_both_slots_damaged),
    };
    return cmocka_run_group_tests_name("nv slots", tests, NULL, NULL);
}
