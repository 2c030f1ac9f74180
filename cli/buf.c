/*
 * buf.c -- the growable text buffer of buf.h and the JSON written into it.
 */
#include "buf.h"
#include "cli.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(cli_buf *b, size_t more)
{
    if (b->failed)
        return false;
    if (b->n + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + more + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->failed = true;
        return false;
    }
    b->s = s;
    b->cap = cap;
    return true;
}

void cli_buf_write(cli_buf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

void cli_buf_puts(cli_buf *b, const char *s) { cli_buf_write(b, s, strlen(s)); }

void cli_buf_putc(cli_buf *b, char c)
{
    if (!reserve(b, 1))
        return;
    b->s[b->n++] = c;
    b->s[b->n] = '\0';
}

void cli_buf_printf(cli_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

void cli_buf_int(cli_buf *b, int64_t v)
{
    char d[24];
    char *p = d + sizeof d;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    cli_buf_write(b, p, (size_t)(d + sizeof d - p));
}

char *cli_buf_take(cli_buf *b, size_t *len)
{
    char *s = b->failed ? NULL : b->s;
    if (!s && !b->failed)
        s = calloc(1, 1);
    if (b->failed)
        free(b->s);
    if (len)
        *len = s ? b->n : 0;
    *b = (cli_buf){0};
    return s;
}

void cli_buf_release(cli_buf *b)
{
    free(b->s);
    *b = (cli_buf){0};
}

void cli_json_string(cli_buf *b, const char *s)
{
    cli_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        size_t plain = strcspn((const char *)p, "\"\\\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b"
                                                "\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16"
                                                "\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f");
        if (plain) {
            cli_buf_write(b, (const char *)p, plain);
            p += plain - 1;
            continue;
        }
        if (*p == '"' || *p == '\\') {
            cli_buf_putc(b, '\\');
            cli_buf_putc(b, (char)*p);
        } else {
            cli_buf_printf(b, "\\u%04x", *p);
        }
    }
    cli_buf_putc(b, '"');
}

void cli_json_real(cli_buf *b, double v)
{
    char text[32];
    const char *s = cli_format_real(v, text);
    if (!isfinite(v))
        cli_json_string(b, s);
    else
        cli_buf_puts(b, s);
}

void cli_json_cell(cli_buf *b, const flor_table *t, size_t r, size_t c)
{
    switch (flor_table_type(t, r, c)) {
    case FLOR_INTEGER:
        cli_buf_int(b, flor_table_int(t, r, c));
        break;
    case FLOR_REAL:
        cli_json_real(b, flor_table_real(t, r, c));
        break;
    case FLOR_TEXT:
        cli_json_string(b, flor_table_text(t, r, c));
        break;
    default:
        cli_buf_puts(b, "null");
    }
}

void cli_json_table(cli_buf *b, const flor_table *t)
{
    size_t ncols = flor_table_ncols(t), nrows = flor_table_nrows(t);
    cli_buf_puts(b, "{\"columns\":[");
    for (size_t c = 0; c < ncols; c++) {
        if (c)
            cli_buf_putc(b, ',');
        cli_json_string(b, flor_table_colname(t, c));
    }
    cli_buf_puts(b, "],\"rows\":[");
    for (size_t r = 0; r < nrows; r++) {
        cli_buf_puts(b, r ? ",[" : "[");
        for (size_t c = 0; c < ncols; c++) {
            if (c)
                cli_buf_putc(b, ',');
            cli_json_cell(b, t, r, c);
        }
        cli_buf_putc(b, ']');
    }
    cli_buf_puts(b, "]}");
}
