/*
 * util.c -- small helpers: owned strings, growable buffers, clocks.
 */
#include "base/base.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int flor_version_number(void) { return FLOR_VERSION_NUMBER; }

char *flor__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

char *flor__printf(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (p)
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void flor__argv_remove(int *argc, char **argv, int i, int n)
{
    memmove(argv + i, argv + i + n, (size_t)(*argc - i - n + 1) * sizeof *argv);
    *argc -= n;
}

uint64_t flor__hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

double flor__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double flor__mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int flor__buf_add(flor__buf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return flor__err(FLOR_ENOMEM, "out of memory");
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

int flor__buf_puts(flor__buf *b, const char *s) { return flor__buf_add(b, s, strlen(s)); }

int flor__buf_printf(flor__buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return flor__err(FLOR_EINVAL, "bad format");
    if ((size_t)n < sizeof small)
        return flor__buf_add(b, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return flor__err(FLOR_ENOMEM, "out of memory");
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = flor__buf_add(b, big, (size_t)n);
    free(big);
    return rc;
}

int flor__buf_json_string(flor__buf *b, const char *s)
{
    int rc = flor__buf_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; !rc && *p; p++) {
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            rc = flor__buf_add(b, esc, 2);
        } else if (*p < 0x20) {
            rc = flor__buf_printf(b, "\\u%04x", *p);
        } else {
            rc = flor__buf_add(b, p, 1);
        }
    }
    return rc ? rc : flor__buf_add(b, "\"", 1);
}

void flor__buf_release(flor__buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

const char *flor__proc_stat(long pid, char *buf, size_t n)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t len = fread(buf, 1, n - 1, f);
    fclose(f);
    buf[len] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    return p && p[1] == ' ' ? p + 2 : NULL;
}

unsigned long long flor__proc_stat_field(const char *fields, int field)
{
    const char *p = fields;
    for (int f = 3; p && f < field; f++)
        if ((p = strchr(p, ' ')) != NULL)
            p++;
    return p ? strtoull(p, NULL, 10) : 0;
}
