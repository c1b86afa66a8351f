/* p11_token.c: PKCS#11 modules (loaded once per process), tokens found by label, the user
 * login and the pool of sessions threads share (see p11.h for the concurrency rules). */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "error.h"
#include "log.h"
#include "p11_internal.h"

#define PIN_MAX 256

/* A loaded module: one per real path, shared by every token opened from it. */
struct cl_p11_module {
    struct cl_p11_module *next;
    char path[PATH_MAX];
    void *dl;
    CK_FUNCTION_LIST_PTR f;
    int users;
    int finalize; /* we initialised it, so we finalise it */
};

static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cl_p11_module *modules;

struct rv_name {
    CK_RV rv;
    const char *name;
};

#define RV(x)                                                                                      \
    {                                                                                              \
        x, #x                                                                                      \
    }
static const struct rv_name rv_names[] = {
    RV(CKR_OK),
    RV(CKR_HOST_MEMORY),
    RV(CKR_SLOT_ID_INVALID),
    RV(CKR_GENERAL_ERROR),
    RV(CKR_FUNCTION_FAILED),
    RV(CKR_ARGUMENTS_BAD),
    RV(CKR_ATTRIBUTE_SENSITIVE),
    RV(CKR_ATTRIBUTE_TYPE_INVALID),
    RV(CKR_ATTRIBUTE_VALUE_INVALID),
    RV(CKR_DEVICE_ERROR),
    RV(CKR_DEVICE_MEMORY),
    RV(CKR_DEVICE_REMOVED),
    RV(CKR_KEY_HANDLE_INVALID),
    RV(CKR_KEY_TYPE_INCONSISTENT),
    RV(CKR_KEY_UNEXTRACTABLE),
    RV(CKR_KEY_NOT_WRAPPABLE),
    RV(CKR_MECHANISM_INVALID),
    RV(CKR_MECHANISM_PARAM_INVALID),
    RV(CKR_OBJECT_HANDLE_INVALID),
    RV(CKR_OPERATION_ACTIVE),
    RV(CKR_PIN_INCORRECT),
    RV(CKR_PIN_LOCKED),
    RV(CKR_PIN_EXPIRED),
    RV(CKR_SESSION_COUNT),
    RV(CKR_SESSION_HANDLE_INVALID),
    RV(CKR_SESSION_READ_ONLY),
    RV(CKR_TEMPLATE_INCOMPLETE),
    RV(CKR_TEMPLATE_INCONSISTENT),
    RV(CKR_TOKEN_NOT_PRESENT),
    RV(CKR_TOKEN_NOT_RECOGNIZED),
    RV(CKR_USER_ALREADY_LOGGED_IN),
    RV(CKR_USER_NOT_LOGGED_IN),
    RV(CKR_USER_PIN_NOT_INITIALIZED),
    RV(CKR_USER_TYPE_INVALID),
    RV(CKR_WRAPPING_KEY_HANDLE_INVALID),
    RV(CKR_WRAPPING_KEY_TYPE_INCONSISTENT),
    RV(CKR_BUFFER_TOO_SMALL),
    RV(CKR_CRYPTOKI_NOT_INITIALIZED),
    RV(CKR_CRYPTOKI_ALREADY_INITIALIZED),
    RV(CKR_DATA_LEN_RANGE),
    RV(CKR_WRAPPED_KEY_INVALID),
};

const char *cl_p11i_rv_name(CK_RV rv)
{
    static __thread char other[32];
    size_t i;

    for (i = 0; i < sizeof(rv_names) / sizeof(rv_names[0]); i++)
        if (rv_names[i].rv == rv)
            return rv_names[i].name;
    snprintf(other, sizeof(other), "CKR_0x%lx", (unsigned long)rv);
    return other;
}

int cl_p11i_rv_code(CK_RV rv)
{
    switch (rv) {
    case CKR_OK:
        return CL_OK;
    case CKR_HOST_MEMORY:
    case CKR_DEVICE_MEMORY:
        return CL_ERR_NOMEM;
    case CKR_PIN_INCORRECT:
    case CKR_PIN_LOCKED:
    case CKR_PIN_EXPIRED:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_KEY_UNEXTRACTABLE:
    case CKR_KEY_NOT_WRAPPABLE:
    case CKR_ATTRIBUTE_SENSITIVE:
        return CL_ERR_PERMISSION;
    case CKR_BUFFER_TOO_SMALL:
        return CL_ERR_TOO_LARGE;
    case CKR_ARGUMENTS_BAD:
    case CKR_ATTRIBUTE_VALUE_INVALID:
    case CKR_ATTRIBUTE_TYPE_INVALID:
    case CKR_TEMPLATE_INCONSISTENT:
    case CKR_TEMPLATE_INCOMPLETE:
    case CKR_MECHANISM_INVALID:
    case CKR_KEY_TYPE_INCONSISTENT:
    case CKR_WRAPPED_KEY_INVALID:
        return CL_ERR_INVALID_ARGUMENT;
    default:
        return CL_ERR_CRYPTO;
    }
}

/* ---- modules ---- */

static int module_load(const char *path, struct cl_p11_module **out, char *err, size_t errlen)
{
    char real[PATH_MAX];
    struct cl_p11_module *m;
    CK_C_GetFunctionList get_list;
    CK_C_INITIALIZE_ARGS args;
    CK_RV rv;
    int rc = CL_OK;

    if (realpath(path, real) == NULL) {
        cl_err_set(err, errlen, "the PKCS#11 module %s does not exist", path);
        return CL_ERR_NOT_FOUND;
    }
    pthread_mutex_lock(&modules_lock);
    for (m = modules; m != NULL; m = m->next)
        if (strcmp(m->path, real) == 0)
            break;
    if (m != NULL) {
        m->users++;
        *out = m;
        goto out;
    }
    if ((m = calloc(1, sizeof(*m))) == NULL) {
        rc = CL_ERR_NOMEM;
        goto out;
    }
    strcpy(m->path, real);
    if ((m->dl = dlopen(real, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        cl_err_set(err, errlen, "cannot load the PKCS#11 module %s: %s", real, dlerror());
        rc = CL_ERR_CONFIG;
        goto fail;
    }
    *(void **)&get_list = dlsym(m->dl, "C_GetFunctionList");
    if (get_list == NULL || (rv = get_list(&m->f)) != CKR_OK || m->f == NULL) {
        cl_err_set(err, errlen, "%s is not a PKCS#11 module (no C_GetFunctionList)", real);
        rc = CL_ERR_CONFIG;
        goto fail;
    }
    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK; /* threads call it; it locks with the OS's primitives */
    rv = m->f->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        cl_err_set(err, errlen, "C_Initialize of %s failed: %s", real, cl_p11i_rv_name(rv));
        rc = cl_p11i_rv_code(rv);
        goto fail;
    }
    m->finalize = rv == CKR_OK;
    m->users = 1;
    m->next = modules;
    modules = m;
    *out = m;
    goto out;
fail:
    if (m->dl != NULL)
        dlclose(m->dl);
    free(m);
out:
    pthread_mutex_unlock(&modules_lock);
    return rc;
}

static void module_release(struct cl_p11_module *m)
{
    struct cl_p11_module **pp;

    if (m == NULL)
        return;
    pthread_mutex_lock(&modules_lock);
    if (--m->users == 0) {
        for (pp = &modules; *pp != NULL; pp = &(*pp)->next)
            if (*pp == m) {
                *pp = m->next;
                break;
            }
        if (m->finalize)
            m->f->C_Finalize(NULL);
        dlclose(m->dl);
        free(m);
    }
    pthread_mutex_unlock(&modules_lock);
}

/* ---- tokens ---- */

/* A blank-padded PKCS#11 text field equals text. */
static int padded_equals(const unsigned char *field, size_t size, const char *text)
{
    size_t n = strlen(text), i;

    if (n > size || memcmp(field, text, n) != 0)
        return 0;
    for (i = n; i < size; i++)
        if (field[i] != ' ')
            return 0;
    return 1;
}

static int find_slot(struct cl_p11_token *t, const struct cl_p11_uri *uri, CK_FLAGS *flags,
                     char *err, size_t errlen)
{
    CK_SLOT_ID *slots = NULL;
    CK_ULONG n = 0, i;
    CK_TOKEN_INFO info;
    CK_RV rv;
    int found = 0;

    if ((rv = t->f->C_GetSlotList(CK_TRUE, NULL, &n)) != CKR_OK ||
        (n > 0 && (slots = calloc(n, sizeof(*slots))) == NULL) ||
        (n > 0 && (rv = t->f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK)) {
        free(slots);
        cl_err_set(err, errlen, "C_GetSlotList failed: %s", cl_p11i_rv_name(rv));
        return rv == CKR_OK ? CL_ERR_NOMEM : cl_p11i_rv_code(rv);
    }
    for (i = 0; i < n; i++) {
        if (t->f->C_GetTokenInfo(slots[i], &info) != CKR_OK ||
            !padded_equals(info.label, sizeof(info.label), uri->token) ||
            (uri->serial[0] != '\0' &&
             !padded_equals(info.serialNumber, sizeof(info.serialNumber), uri->serial)))
            continue;
        if (found++ == 0) {
            t->slot = slots[i];
            *flags = info.flags;
        }
    }
    free(slots);
    if (found == 1)
        return CL_OK;
    cl_err_set(err, errlen,
               found == 0 ? "no PKCS#11 token labelled \"%s\"%s%s"
                          : "more than one PKCS#11 token labelled \"%s\"%s%s: name its serial",
               uri->token, uri->serial[0] != '\0' ? " with serial " : "", uri->serial);
    return found == 0 ? CL_ERR_NOT_FOUND : CL_ERR_CONFLICT;
}

static int login(struct cl_p11_token *t, const struct cl_p11_uri *uri, CK_FLAGS flags, char *err,
                 size_t errlen)
{
    char pin[PIN_MAX];
    size_t pin_len = 0;
    CK_RV rv;
    int rc;

    if (uri->pin_source[0] == '\0') {
        if (!(flags & CKF_LOGIN_REQUIRED))
            return CL_OK;
        cl_err_set(err, errlen,
                   "the token \"%s\" needs a PIN: name a file holding it with pin-source=file:",
                   uri->token);
        return CL_ERR_CONFIG;
    }
    if ((rc = cl_p11_pin_read(uri->pin_source, pin, sizeof(pin), &pin_len, err, errlen)) != CL_OK)
        return rc;
    rv = t->f->C_Login(t->sessions[0], CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)pin_len);
    mbedtls_platform_zeroize(pin, sizeof(pin));
    if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN)
        return CL_OK;
    cl_err_set(err, errlen, "C_Login to the token \"%s\" failed: %s", uri->token,
               cl_p11i_rv_name(rv));
    return cl_p11i_rv_code(rv);
}

/* The wait before attempt *attempt + 1: 50 ms, doubled each time, jittered. */
static long retry_pause_ms(int attempt)
{
    unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL) ^ (unsigned)attempt;

    return (25L << attempt) + (long)(rand_r(&seed) % 50);
}

static void retry_pause(long ms)
{
    struct timespec pause;

    pause.tv_sec = ms / 1000;
    pause.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&pause, NULL);
}

int cl_p11_retry_quietly(int *attempt, int rc)
{
    /* a wrong PIN is never tried again (a real token counts it); nor a bad configuration */
    if ((rc != CL_ERR_NOT_FOUND && rc != CL_ERR_CRYPTO) || ++*attempt >= CL_P11_OPEN_ATTEMPTS)
        return 0;
    retry_pause(retry_pause_ms(*attempt));
    return 1;
}

int cl_p11_retry(int *attempt, int rc, const char *token_label, const char *err)
{
    long ms;

    if ((rc != CL_ERR_NOT_FOUND && rc != CL_ERR_CRYPTO) || *attempt + 1 >= CL_P11_OPEN_ATTEMPTS)
        return 0;
    ++*attempt;
    ms = retry_pause_ms(*attempt);
    cl_log_warn("token \"%s\": %s; trying again in %ld ms (%d of %d): another process may be "
                "writing the token",
                token_label != NULL ? token_label : "", err != NULL ? err : cl_err_str(rc), ms,
                *attempt + 1, CL_P11_OPEN_ATTEMPTS);
    retry_pause(ms);
    return 1;
}

static int token_open_once(const struct cl_p11_uri *uri, int sessions, struct cl_p11_token **out,
                           char *err, size_t errlen)
{
    struct cl_p11_token *t;
    CK_FLAGS flags = 0;
    CK_RV rv;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (uri == NULL || out == NULL || sessions < 1 || sessions > CL_P11_SESSIONS_MAX) {
        cl_err_set(err, errlen, "a token needs a URI and 1 to %d sessions", CL_P11_SESSIONS_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((t = calloc(1, sizeof(*t))) == NULL)
        return CL_ERR_NOMEM;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->freed, NULL);
    if ((rc = module_load(uri->module_path, &t->module, err, errlen)) != CL_OK)
        goto fail;
    t->f = t->module->f;
    if ((rc = find_slot(t, uri, &flags, err, errlen)) != CL_OK)
        goto fail;
    while (t->count < sessions) {
        rv = t->f->C_OpenSession(t->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
                                 &t->sessions[t->count]);
        if (rv != CKR_OK) {
            cl_err_set(err, errlen, "C_OpenSession on the token \"%s\" failed: %s", uri->token,
                       cl_p11i_rv_name(rv));
            rc = cl_p11i_rv_code(rv);
            goto fail;
        }
        t->free_list[t->count] = t->sessions[t->count];
        t->count++;
    }
    t->free_count = t->count;
    if ((rc = login(t, uri, flags, err, errlen)) != CL_OK)
        goto fail;
    *out = t;
    return CL_OK;
fail:
    cl_p11_token_close(t); /* the module too, when no other token holds it */
    return rc;
}

int cl_p11_token_open(const struct cl_p11_uri *uri, int sessions, struct cl_p11_token **out,
                      char *err, size_t errlen)
{
    int rc, attempt = 0;

    do
        rc = token_open_once(uri, sessions, out, err, errlen);
    while (rc != CL_OK && uri != NULL && cl_p11_retry(&attempt, rc, uri->token, err));
    return rc;
}

void cl_p11_token_close(struct cl_p11_token *t)
{
    int i;

    if (t == NULL)
        return;
    for (i = 0; i < t->count; i++)
        t->f->C_CloseSession(t->sessions[i]);
    module_release(t->module);
    pthread_cond_destroy(&t->freed);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

int cl_p11_token_sessions(const struct cl_p11_token *t)
{
    return t != NULL ? t->count : 0;
}

CK_SESSION_HANDLE cl_p11i_borrow(struct cl_p11_token *t)
{
    CK_SESSION_HANDLE s;

    pthread_mutex_lock(&t->lock);
    while (t->free_count == 0)
        pthread_cond_wait(&t->freed, &t->lock);
    s = t->free_list[--t->free_count];
    pthread_mutex_unlock(&t->lock);
    return s;
}

void cl_p11i_give_back(struct cl_p11_token *t, CK_SESSION_HANDLE s)
{
    pthread_mutex_lock(&t->lock);
    t->free_list[t->free_count++] = s;
    pthread_cond_signal(&t->freed);
    pthread_mutex_unlock(&t->lock);
}
