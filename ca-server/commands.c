/* commands.c: ca-server's operator commands: the table main dispatches on, and what the
 * commands_*.c files share (the operator's name, opening the store and the CA, arguments). */
#include "commands.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "lifecycle.h"

const char *ca_operator_name(void)
{
    static char name[64 + 1]; /* an audit actor is at most 64 bytes (pg_audit.h) */
    char uid[32];
    const struct passwd *pw = getpwuid(getuid());
    const char *login = pw != NULL ? pw->pw_name : uid, *sudo = getenv("SUDO_USER");
    int n;

    /* The real uid is who ran the command; SUDO_USER, which anyone can set, is only a claim
     * shown beside it. */
    snprintf(uid, sizeof(uid), "uid %u", (unsigned)getuid());
    n = snprintf(name, sizeof(name), "operator:%.32s", login);
    if (sudo != NULL && sudo[0] != '\0' && strcmp(sudo, login) != 0 && n > 0 &&
        (size_t)n + sizeof(" (sudo: x)") <= sizeof(name))
        snprintf(name + n, sizeof(name) - (size_t)n, " (sudo: %.*s)",
                 (int)(sizeof(name) - (size_t)n - sizeof(" (sudo: )")), sudo);
    for (char *c = name; *c != '\0'; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            *c = '?'; /* the audit log takes printable text only */
    return name;
}

int ca_open_store(const struct ca_config *config, struct ca_store **store)
{
    char err[512];
    if (ca_store_open(config->database.conninfo, store, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: %s\n", err);
        return 1;
    }
    return 0;
}

int ca_open_authority(const struct ca_config *config, const char *passphrase,
                      struct ca_authority **authority)
{
    char err[512];
    struct ca_key_place keys = ca_config_key_place(config);
    if (ca_authority_open(config->ca_dir, config->organisation, passphrase, &keys, authority, err,
                          sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: %s\n", err);
        return 1;
    }
    /* Every operator command that loads the CA says when the issuing CA is ending or ended. */
    if (ca_life_of(config, ca_authority_issuing_not_after(*authority), time(NULL), err,
                   sizeof(err)) != CA_LIFE_OK)
        fprintf(stderr, "ca-server: warning: %s\n", err);
    return 0;
}

int ca_positionals(int argc, char **argv, const char *const *values_of, char **out, int max)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0) {
            for (const char *const *v = values_of; v && *v; v++)
                if (strcmp(argv[i], *v) == 0)
                    i++;
            continue;
        }
        if (n < max)
            out[n] = argv[i];
        n++;
    }
    return n;
}

void ca_format_time(time_t t, char *buf, size_t len)
{
    struct tm tm;
    if (t == 0) {
        snprintf(buf, len, "-");
        return;
    }
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

const struct ca_command ca_commands[] = {
    {"init", "", "create the CA (root and issuing) in ca_dir and the database schema", 1,
     ca_command_init},
    {"migrate", "", "apply database migrations", 0, ca_command_migrate},
    {"serve", "", "serve the ca interface (FIG 21 batches, installation reports, check-ins)", 1,
     ca_command_serve},
    {"issue-service", "ROLE NAME [NUMBER] --out PREFIX [--days N]",
     "issue a service certificate: ca-server, comm-terminal, factory-terminal (NUMBER = line id), "
     "production (the plan feed's client)",
     1, ca_command_issue_service},
    {"model-add", "CODE [--key-type p256|rsa2048|rsa3072] [--not-managed]",
     "register a device model [FIG 19A] and create its secrets", 1, ca_command_model_add},
    {"model-list", "[--json]", "list device models", 0, ca_command_model_list},
    {"model-set", "CODE --managed|--not-managed",
     "change whether a device model is certificate-managed (audited)", 0, ca_command_model_set},
    {"model-export", "CODE --out FILE", "write a model's firmware bundle for device images", 1,
     ca_command_model_export},
    {"model-rotate", "CODE [--from YYYY-MM-DD[THH:MM:SSZ]]",
     "a new pre-write key for a model's packs from then on [seed 004]; older keys are kept", 1,
     ca_command_model_rotate},
    {"model-keys", "CODE [--json]", "list a model's pre-write keys and their periods", 0,
     ca_command_model_keys},
    {"batch",
     "--out FILE [--factory NAME] [--request-id ID] [--replacement] (--file LIST | NUMBER...)",
     "issue packs offline into a file, for delivery without a network", 1, ca_command_batch},
    {"list", "[--device D] [--model M] [--state S] [--limit N] [--json]",
     "list issued certificates", 0, ca_command_list},
    {"show", "DEVICE-NUMBER [--json]", "show a device number's certificates", 0, ca_command_show},
    {"revoke", "SERIAL --reason NAME [--comment TEXT]",
     "revoke a device or service certificate with an RFC 5280 reason (keyCompromise, "
     "affiliationChanged, superseded, cessationOfOperation, ...)",
     0, ca_command_revoke},
    {"crl", "[--out FILE]",
     "publish a CRL now: PEM to FILE (or stdout) and the CRL file; number, dates and entries "
     "on stderr",
     1, ca_command_crl},
    {"assign", "(DEVICE-NUMBER... | --from-file LIST) --factory NAME",
     "give device numbers to a factory (its comm-terminal certificate's name)", 0,
     ca_command_assign},
    {"owners", "[--factory NAME] [--limit N] [--json]",
     "list device numbers and the factory each belongs to", 0, ca_command_owners},
    {"audit", "[--limit N] [--json]", "list the audit log, newest first", 0, ca_command_audit},
    {"ca-status", "[--json]",
     "the CA certificates' validity; warns when the issuing CA ends within issuing_ca_warn_days", 0,
     ca_command_status},
    {"rollover", "[--days N]",
     "a new issuing CA under the root (default 3650 days); issuance switches to it, the old one "
     "is kept in ca_dir/retired/ (needs the root key)",
     1, ca_command_rollover},
    {"import-reports", "FILE --out RECEIPTS [--partial]",
     "check a factory's exported installation reports and write their signed receipts", 1,
     ca_command_import_reports},
    {"operator-add",
     "LOGIN [--role viewer|operator|admin] [--password-file FILE | --password-stdin]",
     "add a CA operator, an account of the console (password prompted without echo)", 0,
     ca_command_operator_add},
    {"operator-disable", "LOGIN", "disable a CA operator (no more console logins)", 0,
     ca_command_operator_state},
    {"operator-enable", "LOGIN", "enable a disabled CA operator again", 0,
     ca_command_operator_state},
    {NULL, NULL, NULL, 0, NULL},
};
