/* service_part.c: service parts [seed 001 FIG 17, S1704/S1705]: one device's pack handed out
 * for `device-agent install` on a service bench (export-pack: claimed and delivered as to a line
 * named "service", written with mode 0600 atomically), and what the bench's install printed
 * brought back (record-write), so that the installation report and receipt follow as for a
 * line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomic_file.h"
#include "cli.h"
#include "ct_commands.h"
#include "error.h"

#define SERVICE_LINE "service" /* the line id the service bench's claims carry */
#define RESULT_MAX 4096

int ct_command_export_pack(struct ct_runtime *rt, int argc, char **argv)
{
    const char *number = ct_positional(argc, argv), *out = cl_arg_value(argc, argv, "--out");
    char err[512], detail[512], serial[CT_SERIAL_HEX_MAX + 1], *pack = NULL;
    int rc;

    if (number == NULL || out == NULL) {
        fprintf(stderr, "usage: comm-terminal export-pack DEVICE-NUMBER --out FILE\n");
        return 2;
    }
    struct ct_store *store = cl_pool_acquire(rt->pool);
    rc = ct_store_claim(store, number, SERVICE_LINE, (int)rt->config->claim_seconds, &pack, serial,
                        err, sizeof(err));
    if (rc == CL_OK && (rc = cl_atomic_write(out, pack, strlen(pack), 0600)) != CL_OK)
        snprintf(err, sizeof(err), "cannot write %s: %s", out, cl_err_str(rc));
    /* Delivered once the file holds it: the device is being written from now on. */
    if (rc == CL_OK)
        rc = ct_store_delivered(store, number, SERVICE_LINE, err, sizeof(err));
    snprintf(detail, sizeof(detail), "%.32s (serial %s) to %.300s%s", number, serial, out,
             rc == CL_OK ? "" : ": refused");
    ct_store_audit(store, ct_operator, "export-pack", detail);
    cl_pool_release(rt->pool, store);
    free(pack);
    if (rc != CL_OK) {
        fprintf(stderr, "comm-terminal: no pack exported for %.32s: %s\n", number, err);
        return 1;
    }
    printf("pack of %s (serial %s) written to %s: install it with `device-agent install %s`, "
           "then bring its output back with `comm-terminal record-write %s --result FILE`\n",
           number, serial, out, out, number);
    return 0;
}

/* The result line of `device-agent install` in text: "OK SERIAL proof VALUE" or "NG REASON"
 * (the last such line). Returns a pointer into text, or NULL. */
static char *result_line(char *text)
{
    char *found = NULL;
    for (char *line = strtok(text, "\r\n"); line != NULL; line = strtok(NULL, "\r\n"))
        if (strncmp(line, "OK ", 3) == 0 || strncmp(line, "NG ", 3) == 0)
            found = line;
    return found;
}

int ct_command_record_write(struct ct_runtime *rt, int argc, char **argv)
{
    const char *number = ct_positional(argc, argv), *path = cl_arg_value(argc, argv, "--result");
    char err[512], detail[512], serial[64], proof[80], *text = NULL, *line;
    size_t len = 0;
    int rc, ok;

    if (number == NULL || path == NULL) {
        fprintf(stderr, "usage: comm-terminal record-write DEVICE-NUMBER --result FILE\n");
        return 2;
    }
    if ((rc = cl_read_file_capped(path, RESULT_MAX, &text, &len)) != CL_OK) {
        fprintf(stderr, "comm-terminal: cannot read %s: %s\n", path, cl_err_str(rc));
        return 1;
    }
    if (strlen(text) != len || (line = result_line(text)) == NULL) {
        fprintf(stderr,
                "comm-terminal: %s holds no result of device-agent install (a line \"OK SERIAL "
                "proof VALUE\" or \"NG REASON\")\n",
                path);
        free(text);
        return 1;
    }
    ok = strncmp(line, "OK ", 3) == 0;
    if (ok && (sscanf(line, "OK %63s proof %79s", serial, proof) != 2 ||
               strlen(line) != 3 + strlen(serial) + 7 + strlen(proof))) {
        fprintf(stderr, "comm-terminal: %s: \"%.80s\" is not \"OK SERIAL proof VALUE\"\n", path,
                line);
        free(text);
        return 1;
    }
    struct ct_store *store = cl_pool_acquire(rt->pool);
    rc = ok ? ct_store_written(store, number, SERVICE_LINE, serial, proof, time(NULL), err,
                               sizeof(err))
            : ct_store_failed(store, number, SERVICE_LINE, line + 3, err, sizeof(err));
    snprintf(detail, sizeof(detail), "%.32s: %.300s%s", number, ok ? serial : line,
             rc == CL_OK ? "" : " (refused)");
    ct_store_audit(store, ct_operator, ok ? "record-write" : "record-write-ng", detail);
    cl_pool_release(rt->pool, store);
    if (rc != CL_OK) {
        fprintf(stderr, "comm-terminal: write of %.32s not recorded: %s\n", number, err);
        free(text);
        return 1;
    }
    if (ok)
        printf("%s written (serial %s): its installation report is queued for ca-server\n", number,
               serial);
    else
        printf("%s failed on the service bench (%s): `comm-terminal enter %s --replacement` "
               "fetches a replacement\n",
               number, line + 3, number);
    free(text);
    return 0;
}
