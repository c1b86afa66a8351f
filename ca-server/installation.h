/* installation.h: an installation report checked and answered with a signed receipt
 * [seed 004]: the one path behind the ca:InstallationReport and ca:ReportBatch operations
 * (service.c) and `import-reports` (commands_reports.c). */
#ifndef CERTLINE_CA_INSTALLATION_H
#define CERTLINE_CA_INSTALLATION_H

#include <stddef.h>
#include <time.h>

#include "runtime.h"

/* The most installation reports one ca:ReportBatch holds (wsdl/ca.h). */
#define CA_REPORT_BATCH_MAX 200

/* Checks the proof (ca_store_install: the certificate is installed, or already was) and signs
 * the receipt with the issuing CA key: *received_at is the installation time, *signature_b64 is
 * malloc'd. CL_ERR_CRYPTO (the proof does not match), CL_ERR_NOT_FOUND, CL_ERR_STATE (superseded
 * or revoked) or another cl_err code, with err saying why; *refusal is then the fault string the
 * ca interface answers ("Installation proof rejected", "Installation report refused",
 * "Receipt failed"). */
int ca_installation_receipt(struct ca_runtime *runtime, struct ca_store *store,
                            const char *device_number, const char *serial_hex, const char *proof,
                            time_t *received_at, char **signature_b64, const char **refusal,
                            char *err, size_t errlen);

/* The same for a batch of reports (ca:ReportBatch), their proofs recorded in one transaction
 * (ca_store_install_batch): afterwards each item's rc says its outcome; CL_OK items have their
 * receivedAt and signatures_b64[i] (malloc'd), the others refusals[i] (the fault string above)
 * and item->err. With batch_signature_b64 non-NULL the receipts are signed once instead, as a
 * batch (receipt.h: the manifest of the CL_OK items' receipts in their order):
 * *batch_signature_b64 (malloc'd; NULL when no item is CL_OK) and no signatures_b64[i]. A
 * database failure fails the whole batch (returned, err saying why), nothing recorded. */
int ca_installation_receipts(struct ca_runtime *runtime, struct ca_store *store,
                             struct ca_install_item *items, char **signatures_b64,
                             const char **refusals, size_t count, char **batch_signature_b64,
                             char *err, size_t errlen);

#endif
