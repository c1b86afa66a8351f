/* test_ct_store.c: the comm-terminal's PostgreSQL store against a real private cluster, one group
 * of tests per part of the store (test_<part>.c); the cluster is started once for all of them
 * and each test works in a database of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "ct_store_fixture.h"
#include "pg_fixture.h"

int main(void)
{
    static const pg_fixture_group groups[] = {
        ct_store_schema_tests,      ct_store_plan_tests,      ct_store_fetch_tests,
        ct_store_packs_tests,       ct_store_claims_tests,    ct_store_reports_tests,
        ct_store_console_tests,     ct_store_operators_tests, ct_store_audit_tests,
        ct_store_retirements_tests, ct_store_crl_tests,       ct_store_records_tests,
        ct_store_rejections_tests,  ct_store_views_tests,
    };
    return pg_fixture_run_groups(groups, sizeof(groups) / sizeof(groups[0]));
}
