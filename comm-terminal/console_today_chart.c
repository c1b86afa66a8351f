/* console_today_chart.c: Today's chart of plan against use through the day, drawn by the server
 * as SVG (no script): per model the devices written so far, added up hour by hour, against the
 * day's plan as a horizontal line; all models together in one chart when there are many. */
#include <stdio.h>
#include <string.h>

#include "console.h"

#define PANEL_W 300
#define PANEL_H 150
#define PANELS_PER_ROW 2
#define PLOT_X 40 /* left edge of the plot inside a panel; hour 24 at PLOT_X + PLOT_W */
#define PLOT_W 245
#define PLOT_TOP 32
#define PLOT_H 90

static int x_of(double hours)
{
    return PLOT_X + (int)(hours * PLOT_W / 24.0 + 0.5);
}

static int y_of(long value, long top)
{
    return PLOT_TOP + PLOT_H - (int)(value * PLOT_H / top);
}

/* One model's panel (or all models') at (ox, oy): axes, the plan line, the written curve up to
 * now_h hours into the day (24: the whole day). */
static void panel(struct cs_buf *b, const struct cs_plan_series *s, int ox, int oy, double now_h)
{
    const long *cum = s->written_by;
    long total = cum[23], top;
    int last = now_h >= 24 ? 23 : (int)now_h;

    top = s->plan > total ? s->plan : total;
    top = top > 0 ? top + top / 10 + 1 : 1; /* head room above the plan line */
    cs_printf(b, "<g class=\"plan-use\" transform=\"translate(%d,%d)\"><title>", ox, oy);
    cs_html(b, s->model);
    cs_printf(b,
              ": %ld written of %ld planned</title><text x=\"0\" y=\"14\" font-size=\"13\" "
              "font-weight=\"bold\">",
              total, s->plan);
    cs_html(b, s->model);
    cs_printf(b,
              "</text><text x=\"%d\" y=\"14\" font-size=\"11\">%ld of %ld planned</text>"
              "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>"
              "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>"
              "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">%ld</text>"
              "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">0</text>",
              PLOT_X + 60, total, s->plan, PLOT_X, PLOT_TOP + PLOT_H, PLOT_X + PLOT_W,
              PLOT_TOP + PLOT_H, PLOT_X, PLOT_TOP, PLOT_X, PLOT_TOP + PLOT_H, PLOT_X - 4,
              PLOT_TOP + 8, top, PLOT_X - 4, PLOT_TOP + PLOT_H);
    for (int h = 0; h <= 24; h += 6)
        cs_printf(b,
                  "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%02d"
                  "</text>",
                  x_of(h), PLOT_TOP + PLOT_H + 13, h);
    if (s->plan > 0)
        cs_printf(b,
                  "<line class=\"plan\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#57a\" "
                  "stroke-width=\"2\" stroke-dasharray=\"6 4\"><title>plan %ld</title></line>",
                  PLOT_X, y_of(s->plan, top), PLOT_X + PLOT_W, y_of(s->plan, top), s->plan);
    /* the written curve: 0 at midnight, then each hour's end (now for the hour under way) */
    cs_printf(b,
              "<polyline class=\"written\" fill=\"none\" stroke=\"#2a6\" stroke-width=\"2\" "
              "points=\"%d,%d",
              x_of(0), y_of(0, top));
    for (int h = 0; h <= last; h++)
        cs_printf(b, " %d,%d", x_of(h < last || now_h >= 24 ? h + 1 : now_h), y_of(cum[h], top));
    cs_puts(b, "\"><title>");
    for (int h = 0; h <= last; h++)
        cs_printf(b, "%s%02d:00 %ld", h > 0 ? ", " : "written by the hour's end: ", h + 1, cum[h]);
    cs_puts(b, "</title></polyline></g>");
}

void cs_plan_chart(struct cs_buf *b, const struct cs_plan_series *series, size_t n, double now_h)
{
    size_t rows = (n + PANELS_PER_ROW - 1) / PANELS_PER_ROW;

    if (n == 0) {
        cs_puts(b, "<p id=\"plan-use\">Nothing planned or written today.</p>");
        return;
    }
    cs_printf(b,
              "<svg id=\"plan-use\" width=\"%d\" height=\"%zu\" role=\"img\" "
              "aria-label=\"plan against use through the day\">",
              PANEL_W * (n < PANELS_PER_ROW ? (int)n : PANELS_PER_ROW), rows * PANEL_H);
    for (size_t i = 0; i < n; i++)
        panel(b, &series[i], (int)(i % PANELS_PER_ROW) * PANEL_W,
              (int)(i / PANELS_PER_ROW) * PANEL_H, now_h);
    cs_puts(b, "</svg><p>Green: devices written so far today, added up hour by hour (by the "
               "comm-terminal's clock); dashed blue: the day's plan.</p>");
}
