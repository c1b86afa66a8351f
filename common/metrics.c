/* metrics.c: the registry of metrics.h and its rendering as Prometheus text (version 0.0.4). */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLLECTORS 8
#define OTHER_VALUE "other"

struct series {
    char values[CL_METRIC_MAX_LABELS][CL_METRIC_MAX_VALUE + 1];
    double value;                               /* counter, gauge */
    uint64_t counts[CL_METRIC_MAX_BUCKETS + 1]; /* histogram: per bucket (not cumulative), +Inf */
    double sum;                                 /* histogram */
    uint64_t count;                             /* histogram */
};

struct family {
    struct cl_metric_def def;
    size_t nlabels;
    struct series *series;
    size_t nseries;
};

struct collector {
    void (*fn)(void *arg);
    void *arg;
};

struct cl_metrics {
    pthread_mutex_t lock;
    size_t max_series;
    struct family *families;
    size_t nfamilies;
    struct collector collectors[MAX_COLLECTORS];
    size_t ncollectors;
};

struct cl_metrics *cl_metrics_new(size_t max_series)
{
    struct cl_metrics *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->max_series = max_series > 0 ? max_series : 1;
    return m;
}

void cl_metrics_free(struct cl_metrics *metrics)
{
    if (metrics == NULL)
        return;
    for (size_t i = 0; i < metrics->nfamilies; i++)
        free(metrics->families[i].series);
    free(metrics->families);
    pthread_mutex_destroy(&metrics->lock);
    free(metrics);
}

/* Prometheus's metric and label name syntax; label names starting with "__" and "le" (the
 * histogram's own) are reserved. */
static int valid_name(const char *name, int label)
{
    if (name == NULL || name[0] == '\0' || (name[0] >= '0' && name[0] <= '9'))
        return 0;
    if (label && (strncmp(name, "__", 2) == 0 || strcmp(name, "le") == 0))
        return 0;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || (c == ':' && !label)))
            return 0;
    }
    return 1;
}

static int valid_def(const struct cl_metric_def *def, size_t *nlabels)
{
    size_t n = 0;
    if (!valid_name(def->name, 0) || def->help == NULL || def->type < CL_METRIC_COUNTER ||
        def->type > CL_METRIC_HISTOGRAM)
        return 0;
    while (n < CL_METRIC_MAX_LABELS && def->labels[n] != NULL)
        if (!valid_name(def->labels[n++], 1))
            return 0;
    for (size_t i = n; i < CL_METRIC_MAX_LABELS; i++)
        if (def->labels[i] != NULL)
            return 0; /* a gap in the label names */
    if (def->type == CL_METRIC_HISTOGRAM) {
        if (def->nbuckets == 0 || def->nbuckets > CL_METRIC_MAX_BUCKETS)
            return 0;
        for (size_t i = 0; i < def->nbuckets; i++)
            if (!isfinite(def->buckets[i]) || (i > 0 && def->buckets[i] <= def->buckets[i - 1]))
                return 0;
    }
    *nlabels = n;
    return 1;
}

int cl_metrics_define(struct cl_metrics *metrics, const struct cl_metric_def *def)
{
    struct family *grown;
    size_t nlabels;
    int handle = -1;

    if (metrics == NULL || def == NULL || !valid_def(def, &nlabels))
        return -1;
    pthread_mutex_lock(&metrics->lock);
    grown = realloc(metrics->families, (metrics->nfamilies + 1) * sizeof(*grown));
    if (grown != NULL) {
        metrics->families = grown;
        grown[metrics->nfamilies] = (struct family){.def = *def, .nlabels = nlabels};
        handle = (int)metrics->nfamilies++;
    }
    pthread_mutex_unlock(&metrics->lock);
    return handle;
}

static int same_values(const struct series *s, size_t n, const char *const *values)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = values[i] ? values[i] : "";
        size_t len = strnlen(v, CL_METRIC_MAX_VALUE);
        if (strlen(s->values[i]) != len || memcmp(s->values[i], v, len) != 0)
            return 0;
    }
    return 1;
}

/* The series of values in f, made if new; beyond max_series, the one series whose values are
 * all "other". NULL if out of memory. Called locked. */
static struct series *series_of(struct cl_metrics *metrics, struct family *f,
                                const char *const *values)
{
    static const char *const others[CL_METRIC_MAX_LABELS] = {OTHER_VALUE, OTHER_VALUE, OTHER_VALUE};
    struct series *grown;

    if (f->nlabels > 0 && values == NULL)
        return NULL;
    for (size_t i = 0; i < f->nseries; i++)
        if (same_values(&f->series[i], f->nlabels, values))
            return &f->series[i];
    if (f->nseries >= metrics->max_series) {
        values = others;
        for (size_t i = 0; i < f->nseries; i++)
            if (same_values(&f->series[i], f->nlabels, values))
                return &f->series[i];
    }
    grown = realloc(f->series, (f->nseries + 1) * sizeof(*grown));
    if (grown == NULL)
        return NULL;
    f->series = grown;
    grown = &f->series[f->nseries++];
    memset(grown, 0, sizeof(*grown));
    for (size_t i = 0; i < f->nlabels; i++)
        snprintf(grown->values[i], sizeof(grown->values[i]), "%.*s", CL_METRIC_MAX_VALUE,
                 values[i] ? values[i] : "");
    return grown;
}

enum update { ADD, SET, OBSERVE };

static void update(struct cl_metrics *metrics, int family, const char *const *values, double value,
                   enum update how)
{
    struct family *f;
    struct series *s;

    if (metrics == NULL || family < 0 || isnan(value))
        return;
    pthread_mutex_lock(&metrics->lock);
    if ((size_t)family >= metrics->nfamilies)
        goto out;
    f = &metrics->families[family];
    if ((how == OBSERVE) != (f->def.type == CL_METRIC_HISTOGRAM) ||
        (how == SET && f->def.type != CL_METRIC_GAUGE) ||
        (f->def.type == CL_METRIC_COUNTER && value < 0) ||
        (s = series_of(metrics, f, values)) == NULL)
        goto out;
    if (how == ADD)
        s->value += value;
    else if (how == SET)
        s->value = value;
    else {
        size_t b = 0;
        while (b < f->def.nbuckets && value > f->def.buckets[b])
            b++;
        s->counts[b]++;
        s->sum += value;
        s->count++;
    }
out:
    pthread_mutex_unlock(&metrics->lock);
}

void cl_metrics_add(struct cl_metrics *metrics, int family, const char *const *values, double delta)
{
    update(metrics, family, values, delta, ADD);
}

void cl_metrics_set(struct cl_metrics *metrics, int family, const char *const *values, double value)
{
    update(metrics, family, values, value, SET);
}

void cl_metrics_observe(struct cl_metrics *metrics, int family, const char *const *values,
                        double value)
{
    update(metrics, family, values, value, OBSERVE);
}

int cl_metrics_on_collect(struct cl_metrics *metrics, void (*fn)(void *arg), void *arg)
{
    int rc = -1;
    pthread_mutex_lock(&metrics->lock);
    if (metrics->ncollectors < MAX_COLLECTORS) {
        metrics->collectors[metrics->ncollectors++] = (struct collector){fn, arg};
        rc = 0;
    }
    pthread_mutex_unlock(&metrics->lock);
    return rc;
}

/* ---- rendering ---- */

struct text {
    char *p;
    size_t len, cap;
    int failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len)
            break;
        char *grown = realloc(t->p, t->cap * 2 + (size_t)n);
        if (grown == NULL) {
            t->failed = 1;
            return;
        }
        t->p = grown;
        t->cap = t->cap * 2 + (size_t)n;
    }
    t->len += (size_t)n;
}

/* HELP text escapes backslash and newline; label values also the double quote. */
static void put_escaped(struct text *t, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            put(t, "\\\\");
        else if (*s == '\n')
            put(t, "\\n");
        else if (*s == '"' && quote)
            put(t, "\\\"");
        else
            put(t, "%c", *s);
    }
}

/* A sample value: integers as such, others in the fewest digits that read back the same. */
static void put_number(struct text *t, double v)
{
    char buf[40];
    if (isinf(v)) {
        put(t, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        put(t, "%.0f", v);
        return;
    }
    snprintf(buf, sizeof(buf), "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, sizeof(buf), "%.17g", v);
    put(t, "%s", buf);
}

/* name{a="x",b="y"[,le="..."]} value */
static void put_sample(struct text *t, const struct family *f, const char *suffix,
                       const struct series *s, const double *le, double value)
{
    size_t n = s != NULL ? f->nlabels : 0;

    put(t, "%s%s", f->def.name, suffix);
    if (n > 0 || le != NULL) {
        put(t, "{");
        for (size_t i = 0; i < n; i++) {
            put(t, "%s%s=\"", i ? "," : "", f->def.labels[i]);
            put_escaped(t, s->values[i], 1);
            put(t, "\"");
        }
        if (le != NULL) {
            put(t, "%sle=\"", n ? "," : "");
            put_number(t, *le);
            put(t, "\"");
        }
        put(t, "}");
    }
    put(t, " ");
    put_number(t, value);
    put(t, "\n");
}

static void put_histogram(struct text *t, const struct family *f, const struct series *s)
{
    static const double inf = INFINITY;
    uint64_t cumulative = 0;
    for (size_t b = 0; b < f->def.nbuckets; b++) {
        cumulative += s->counts[b];
        put_sample(t, f, "_bucket", s, &f->def.buckets[b], (double)cumulative);
    }
    put_sample(t, f, "_bucket", s, &inf, (double)s->count);
    put_sample(t, f, "_sum", s, NULL, s->sum);
    put_sample(t, f, "_count", s, NULL, (double)s->count);
}

static void put_family(struct text *t, const struct family *f)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    static const struct series zero; /* an unlabelled family before its first update */

    put(t, "# HELP %s ", f->def.name);
    put_escaped(t, f->def.help, 0);
    put(t, "\n# TYPE %s %s\n", f->def.name, types[f->def.type]);
    if (f->nlabels == 0 && f->nseries == 0) {
        if (f->def.type == CL_METRIC_HISTOGRAM)
            put_histogram(t, f, &zero);
        else
            put_sample(t, f, "", NULL, NULL, 0);
    }
    for (size_t i = 0; i < f->nseries; i++) {
        if (f->def.type == CL_METRIC_HISTOGRAM)
            put_histogram(t, f, &f->series[i]);
        else
            put_sample(t, f, "", &f->series[i], NULL, f->series[i].value);
    }
}

char *cl_metrics_render(struct cl_metrics *metrics, unsigned scope, size_t *len)
{
    struct collector collectors[MAX_COLLECTORS];
    size_t ncollectors;
    struct text t = {.p = malloc(4096), .cap = 4096};

    if (t.p == NULL)
        return NULL;
    t.p[0] = '\0';
    pthread_mutex_lock(&metrics->lock);
    ncollectors = metrics->ncollectors;
    memcpy(collectors, metrics->collectors, sizeof(collectors));
    pthread_mutex_unlock(&metrics->lock);
    for (size_t i = 0; i < ncollectors; i++)
        collectors[i].fn(collectors[i].arg);

    pthread_mutex_lock(&metrics->lock);
    for (size_t i = 0; i < metrics->nfamilies; i++)
        if (metrics->families[i].def.scope & scope)
            put_family(&t, &metrics->families[i]);
    pthread_mutex_unlock(&metrics->lock);
    if (t.failed) {
        free(t.p);
        return NULL;
    }
    if (len != NULL)
        *len = t.len;
    return t.p;
}
