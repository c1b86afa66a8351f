/* console_routes.c: the comm-terminal console's pages: which view or action answers each path,
 * and the navigation bar (common/console_gate.c logs in and checks sessions and CSRF tokens). */
#include "console.h"

static void audit_html(struct cs_ctx *ctx)
{
    cs_page_audit(ctx, 0);
}
static void audit_csv(struct cs_ctx *ctx)
{
    cs_page_audit(ctx, 1);
}
static void audit_json(struct cs_ctx *ctx)
{
    cs_page_audit(ctx, 2);
}

const struct cs_route ct_console_routes[] = {
    {"/", 0, cs_page_today},
    {"/devices", 0, cs_page_devices},
    {"/device", 0, cs_page_device},
    {"/audit", 0, audit_html},
    {"/audit.csv", 0, audit_csv},
    {"/audit.json", 0, audit_json},
    {"/log", 0, cs_page_log},
    {"/lines", 0, cs_page_lines},
    {"/actions", 0, cs_page_actions},
    {"/operators", 0, cs_page_operators},
    {"/plan", 1, cs_action_plan},
    {"/enter", 1, cs_action_enter},
    {"/fetch", 1, cs_action_fetch},
    {"/operators", 1, cs_action_operator},
    {"/lines.part", 0, cs_page_lines_part},
    {"/fetch", 0, cs_page_fetch},
    {"/model-delete", 0, cs_page_model_delete},
    {"/model-delete", 1, cs_action_model_delete},
};

const size_t ct_console_route_count = sizeof(ct_console_routes) / sizeof(ct_console_routes[0]);

/* Served to anyone, with no session or database connection (even while the console is busy). */
const struct cs_route ct_console_static_routes[] = {
    {"/console.js", 0, cs_console_script},
};
const size_t ct_console_static_route_count =
    sizeof(ct_console_static_routes) / sizeof(ct_console_static_routes[0]);

const struct cs_nav ct_console_nav[] = {
    {"/", "Today", NULL},
    {"/devices", "Devices", NULL},
    {"/audit", "Audit", NULL},
    {"/log", "Audit log", NULL},
    {"/lines", "Lines", NULL},
    {"/actions", "Actions", NULL},
    {"/operators", "Operators", "admin"},
};
const size_t ct_console_nav_count = sizeof(ct_console_nav) / sizeof(ct_console_nav[0]);

/* The query values the pages read: beyond these the console answers 400 naming the field. */
const struct cs_query_bound ct_console_query_bounds[] = {
    {"day", 10, 1},    {"q", 64, 0},
    {"state", 15, 0},  {"number", CT_DEVICE_NUMBER_MAX, 0},
    {"actor", 64, 0},  {"action", 64, 0},
    {"code", 15, 0},   {"refresh", 3, 0},
    {"already", 3, 0}, {"line", CT_LINE_ID_MAX, 0},
    {"before", 20, 0},
};
const size_t ct_console_query_bound_count =
    sizeof(ct_console_query_bounds) / sizeof(ct_console_query_bounds[0]);
