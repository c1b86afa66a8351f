/* xml_pattern.c: xsd:pattern checks with POSIX extended regular expressions. The contract's
 * patterns use only the common subset of XSD and POSIX syntax ([..], {m,n}, literals); each is
 * compiled once, anchored at both ends, and kept for the life of the process. */
#include "xml_pattern.h"

#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "stdsoap2.h"

#define MAX_PATTERNS 32

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    const char *pattern; /* the generated code's string constant: its address is stable */
    regex_t regex;
} compiled[MAX_PATTERNS];
static size_t compiled_count;

static const regex_t *regex_for(const char *pattern)
{
    const regex_t *found = NULL;
    char anchored[512];

    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < compiled_count && found == NULL; i++)
        if (compiled[i].pattern == pattern || strcmp(compiled[i].pattern, pattern) == 0)
            found = &compiled[i].regex;
    if (found == NULL && compiled_count < MAX_PATTERNS &&
        snprintf(anchored, sizeof(anchored), "^(%s)$", pattern) < (int)sizeof(anchored) &&
        regcomp(&compiled[compiled_count].regex, anchored, REG_EXTENDED | REG_NOSUB) == 0) {
        compiled[compiled_count].pattern = pattern;
        found = &compiled[compiled_count++].regex;
    }
    pthread_mutex_unlock(&lock);
    return found;
}

int cl_xml_pattern_check(struct soap *soap, const char *pattern, const char *value)
{
    const regex_t *regex = regex_for(pattern);
    (void)soap;
    if (regex == NULL) {
        /* A contract pattern that does not compile is a programming error: refuse, loudly. */
        cl_log_error("cannot compile the contract pattern %.64s", pattern);
        return SOAP_TYPE;
    }
    return regexec(regex, value, 0, NULL, 0) == 0 ? SOAP_OK : SOAP_TYPE;
}
