/* test_ca_store.c: ca-server's PostgreSQL store against a real private cluster, one group of
 * tests per aggregate of the store (test_<aggregate>.c); the cluster is started once for all of
 * them and each test works in a database of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "ca_store_fixture.h"
#include "pg_fixture.h"

int main(void)
{
    static const pg_fixture_group groups[] = {
        ca_store_connection_tests,    ca_store_models_tests,      ca_store_batches_tests,
        ca_store_batch_races_tests,   ca_store_completion_tests,  ca_store_installations_tests,
        ca_store_certificates_tests,  ca_store_audit_tests,       ca_store_service_tests,
        ca_store_owners_tests,        ca_store_revocations_tests, ca_store_retention_tests,
        ca_store_prewrite_keys_tests, ca_store_issuance_tests,    ca_store_lock_order_tests,
    };
    return pg_fixture_run_groups(groups, sizeof(groups) / sizeof(groups[0]));
}
