/* ct_enter.c: manual entry of a device number [input device 156]: the number is checked
 * against the production plan for its day, a number outside it is issued only on an override
 * with a reason (audited), and the operator confirms before the certificate is issued, so that a
 * mistyped number does not get a certificate (the patent's second effect). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ct_commands.h"
#include "error.h"
#include "input_check.h"

#define OVERRIDE_REASON_MAX 200

/* y or yes on stdin (a terminal); anything else is no. */
static int confirmed(const char *question)
{
    char answer[16];

    fprintf(stderr, "%s [y/N] ", question);
    fflush(stderr);
    if (fgets(answer, sizeof(answer), stdin) == NULL)
        return 0;
    answer[strcspn(answer, "\r\n")] = '\0';
    return strcmp(answer, "y") == 0 || strcmp(answer, "Y") == 0 || strcmp(answer, "yes") == 0;
}

/* The override's reason: printable text without control characters. */
static int reason_ok(const char *reason)
{
    size_t n = strlen(reason);
    if (n < 1 || n > OVERRIDE_REASON_MAX || !cl_utf8_ok(reason, 1, OVERRIDE_REASON_MAX, 0))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)reason[i] < 0x20 || reason[i] == 0x7f)
            return 0;
    return 1;
}

int ct_enter_check(struct ct_store *store, const char *number, const char *date, char planned[11],
                   int *in_plan)
{
    int rc = ct_store_planned_day(store, number, planned);
    *in_plan = rc == CL_OK && strcmp(planned, date) == 0;
    if (rc == CL_ERR_NOT_FOUND)
        planned[0] = '\0';
    return rc == CL_ERR_NOT_FOUND ? CL_OK : rc;
}

int ct_command_enter(struct ct_runtime *rt, int argc, char **argv)
{
    const char *number = ct_positional(argc, argv),
               *reason = cl_arg_value(argc, argv, "--override-reason"),
               *date = cl_arg_value(argc, argv, "--date");
    int replacement = cl_arg_flag(argc, argv, "--replacement"),
        yes = cl_arg_flag(argc, argv, "--yes");
    char today[11], planned[11] = "", question[512], detail[400], err[512];
    int rc;

    if (number == NULL) {
        fprintf(stderr, "usage: comm-terminal enter DEVICE-NUMBER [--replacement] [--date "
                        "YYYY-MM-DD] [--override-reason TEXT] [--yes]\n");
        return 2;
    }
    if (reason != NULL && !reason_ok(reason)) {
        fprintf(stderr, "comm-terminal: --override-reason is 1 to %d printable characters\n",
                OVERRIDE_REASON_MAX);
        return 2;
    }
    if (date == NULL) {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(today, sizeof(today), "%Y-%m-%d", &tm);
        date = today;
    }
    struct ct_store *store = cl_pool_acquire(rt->pool);
    int in_plan = 0;
    rc = ct_enter_check(store, number, date, planned, &in_plan);
    if (rc != CL_OK) {
        cl_pool_release(rt->pool, store);
        fprintf(stderr, "comm-terminal: cannot check %.32s against the plan: %s\n", number,
                rc == CL_ERR_INVALID_ARGUMENT ? "not a device number (CODE-SERIAL)"
                                              : cl_err_str(rc));
        return rc == CL_ERR_INVALID_ARGUMENT ? 2 : 1;
    }
    if (!in_plan && reason == NULL) {
        cl_pool_release(rt->pool, store);
        if (planned[0] != '\0')
            fprintf(stderr,
                    "comm-terminal: %s is planned for %s, not for %s: check the number; to issue "
                    "it anyway give --override-reason TEXT (audited)\n",
                    number, planned, date);
        else
            fprintf(stderr,
                    "comm-terminal: %s is not in the production plan: check the number; to issue "
                    "it anyway give --override-reason TEXT (audited)\n",
                    number);
        return 1;
    }
    if (in_plan)
        snprintf(question, sizeof(question), "issue a %scertificate for %s (planned for %s)?",
                 replacement ? "replacement " : "", number, planned);
    else
        snprintf(question, sizeof(question),
                 "issue a %scertificate for %s, which is %s%s, on your override (\"%s\")?",
                 replacement ? "replacement " : "", number,
                 planned[0] ? "planned for " : "not in the plan", planned, reason);
    if (!yes && !isatty(STDIN_FILENO)) {
        cl_pool_release(rt->pool, store);
        fprintf(stderr, "comm-terminal: enter asks before issuing: run it on a terminal, or give "
                        "--yes in a script\n");
        return 1;
    }
    if (!yes && !confirmed(question)) {
        cl_pool_release(rt->pool, store);
        fprintf(stderr, "comm-terminal: nothing issued for %s\n", number);
        return 1;
    }
    if (!in_plan) {
        snprintf(detail, sizeof(detail), "%s %s (%s%s): %s", number,
                 replacement ? "replacement" : "entered",
                 planned[0] ? "planned for " : "not planned", planned, reason);
        if (ct_store_audit(store, ct_operator, "enter_override", detail) != CL_OK) {
            cl_pool_release(rt->pool, store);
            fprintf(stderr, "comm-terminal: the override could not be recorded; nothing issued\n");
            return 1;
        }
    }
    rc = ct_fetch_one(rt, store, number, replacement, CT_CA_WAIT, err, sizeof(err));
    cl_pool_release(rt->pool, store);
    if (rc != CL_OK) {
        fprintf(stderr, "comm-terminal: no certificate for %.32s: %s\n", number, err);
        return 1;
    }
    printf("certificate for %s fetched and stored\n", number);
    return 0;
}
