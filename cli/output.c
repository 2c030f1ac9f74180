/*
 * output.c -- printing a flor_table on stdout: an aligned table for a
 * person at a terminal, CSV (RFC 4180 quoting) or JSON for programs.
 * NULL is an empty field (CSV), an empty cell (table) or null (JSON);
 * integers print as integers and reals in the shortest form that reads
 * back as the same double.
 */
#include "cli.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Output goes through this buffer to stdout in large writes: a table of a
 * million rows is tens of millions of small pieces. */
static struct {
    char b[1 << 16];
    size_t n;
} out;

static void out_flush(void)
{
    fwrite(out.b, 1, out.n, stdout);
    out.n = 0;
}

static void out_write(const char *s, size_t n)
{
    if (n > sizeof out.b - out.n) {
        out_flush();
        if (n > sizeof out.b) {
            fwrite(s, 1, n, stdout);
            return;
        }
    }
    memcpy(out.b + out.n, s, n);
    out.n += n;
}

static void out_puts(const char *s) { out_write(s, strlen(s)); }

static void out_putc(char c)
{
    if (out.n == sizeof out.b)
        out_flush();
    out.b[out.n++] = c;
}

/* The decimal digits of V at the end of BUF[32]; returns their start. */
static char *format_u64(uint64_t v, char *buf)
{
    char *p = buf + 31;
    *p = '\0';
    do
        *--p = (char)('0' + v % 10);
    while (v /= 10);
    return p;
}

static const char *format_int(int64_t v, char *buf)
{
    char *p = format_u64(v < 0 ? 0 - (uint64_t)v : (uint64_t)v, buf);
    if (v < 0)
        *--p = '-';
    return p;
}

/* The fast path of cli_format_real, for a value of at most 15 significant
 * digits printed without an exponent (1e-4 <= |v| < 1e15): the least D
 * such that v = M / 10^D (M an integer below 1e15, the division giving v
 * back exactly) spells the same text %.15g would, without printf and
 * strtod.  Returns false when the value needs the slow path. */
static bool format_short(double v, char *buf)
{
    static const double pow10[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    double a = fabs(v);
    if (!(a >= 1e-4 && a < 1e15))
        return false;
    for (size_t d = 0; d < 16; d++) {
        double m = nearbyint(a * pow10[d]);
        if (m >= 1e15)
            return false;
        if (m / pow10[d] != a)
            continue;
        uint64_t n = (uint64_t)m, scale = (uint64_t)pow10[d];
        char digits[32];
        const char *whole = format_u64(n / scale, digits);
        size_t len = 0;
        if (v < 0)
            buf[len++] = '-';
        memcpy(buf + len, whole, strlen(whole));
        len += strlen(whole);
        buf[len++] = '.';
        if (d == 0)
            buf[len++] = '0';
        for (size_t i = d; i-- > 0;) {
            buf[len + i] = (char)('0' + n % 10);
            n /= 10;
        }
        buf[len + d] = '\0';
        return true;
    }
    return false;
}

const char *cli_format_real(double v, char *buf)
{
    if (isnan(v))
        return "nan";
    if (isinf(v))
        return v < 0 ? "-inf" : "inf";
    if (format_short(v, buf))
        return buf;
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (buf[strspn(buf, "-0123456789")] == '\0')
        strcat(buf, ".0"); /* a real stays a real when read back */
    return buf;
}

/* The text of a cell, or NULL for a NULL cell.  BUF holds 32 bytes. */
static const char *cell_text(const flor_table *t, size_t r, size_t c, char *buf)
{
    switch (flor_table_type(t, r, c)) {
    case FLOR_INTEGER:
        return format_int(flor_table_int(t, r, c), buf);
    case FLOR_REAL:
        return cli_format_real(flor_table_real(t, r, c), buf);
    case FLOR_TEXT:
        return flor_table_text(t, r, c);
    default:
        return NULL;
    }
}

static int is_number(const flor_table *t, size_t r, size_t c)
{
    flor_type ty = flor_table_type(t, r, c);
    return ty == FLOR_INTEGER || ty == FLOR_REAL;
}

/* ---- CSV ------------------------------------------------------------------ */

static void csv_field(const char *s)
{
    if (*s && !s[strcspn(s, ",\"\r\n")]) {
        out_puts(s);
        return;
    }
    out_putc('"'); /* also "" for the empty text, which differs from NULL */
    for (; *s; s++) {
        if (*s == '"')
            out_putc('"');
        out_putc(*s);
    }
    out_putc('"');
}

static void print_csv(const flor_table *t)
{
    size_t ncols = flor_table_ncols(t), nrows = flor_table_nrows(t);
    char buf[32];
    for (size_t c = 0; c < ncols; c++) {
        if (c)
            out_putc(',');
        csv_field(flor_table_colname(t, c));
    }
    if (ncols)
        out_putc('\n');
    for (size_t r = 0; r < nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            if (c)
                out_putc(',');
            const char *s = cell_text(t, r, c, buf);
            if (s)
                csv_field(s);
        }
        out_putc('\n');
    }
}

/* ---- JSON ----------------------------------------------------------------- */

static void json_string(const char *s)
{
    out_putc('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            out_puts("\\\"");
            break;
        case '\\':
            out_puts("\\\\");
            break;
        case '\n':
            out_puts("\\n");
            break;
        case '\r':
            out_puts("\\r");
            break;
        case '\t':
            out_puts("\\t");
            break;
        default:
            if (*p < 0x20) {
                char esc[8];
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                out_puts(esc);
            } else {
                out_putc((char)*p);
            }
        }
    }
    out_putc('"');
}

static void json_value(const flor_table *t, size_t r, size_t c)
{
    char buf[32];
    switch (flor_table_type(t, r, c)) {
    case FLOR_INTEGER:
        out_puts(format_int(flor_table_int(t, r, c), buf));
        break;
    case FLOR_REAL: {
        double v = flor_table_real(t, r, c);
        if (isfinite(v))
            out_puts(cli_format_real(v, buf));
        else /* JSON has no NaN nor inf: a string keeps them, where null would not */
            json_string(cli_format_real(v, buf));
        break;
    }
    case FLOR_TEXT:
        json_string(flor_table_text(t, r, c));
        break;
    default:
        out_puts("null");
    }
}

static void print_json(const flor_table *t)
{
    size_t ncols = flor_table_ncols(t), nrows = flor_table_nrows(t);
    out_putc('[');
    for (size_t r = 0; r < nrows; r++) {
        out_puts(r ? ",\n  {" : "\n  {");
        for (size_t c = 0; c < ncols; c++) {
            if (c)
                out_puts(", ");
            json_string(flor_table_colname(t, c));
            out_puts(": ");
            json_value(t, r, c);
        }
        out_putc('}');
    }
    out_puts(nrows ? "\n]\n" : "]\n");
}

/* ---- the aligned table ------------------------------------------------------- */

/* A control character shows as an escape: \n, \t, \r, or \xHH. */
static int escape_of(unsigned char ch, char esc[5])
{
    if (ch >= 0x20 && ch != 0x7f)
        return 0;
    if (ch == '\n' || ch == '\t' || ch == '\r')
        return snprintf(esc, 5, "\\%c", ch == '\n' ? 'n' : ch == '\t' ? 't' : 'r');
    return snprintf(esc, 5, "\\x%02x", ch);
}

/* Columns S takes on a terminal: one per UTF-8 character, escapes spelled out. */
static size_t text_width(const char *s)
{
    size_t w = 0;
    char esc[5];
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int n = escape_of(*p, esc);
        if (n)
            w += (size_t)n;
        else if ((*p & 0xC0) != 0x80)
            w++;
    }
    return w;
}

static void put_text(const char *s)
{
    char esc[5];
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (escape_of(*p, esc))
            out_puts(esc);
        else
            out_putc((char)*p);
    }
}

static void pad(size_t n)
{
    while (n--)
        out_putc(' ');
}

/* Prints S in WIDTH columns, after a separator unless FIRST.  Blanks are
 * held back in *PENDING until something visible follows, so that no line
 * ends in spaces. */
static void put_aligned(const char *s, size_t width, int right, int first, size_t *pending)
{
    size_t w = text_width(s), lead = (first ? 0 : 2) + (right ? width - w : 0);
    if (!*s) {
        *pending += lead + (right ? 0 : width);
        return;
    }
    pad(*pending + lead);
    put_text(s);
    *pending = right ? 0 : width - w;
}

/* A column is numeric when it holds numbers and nothing else but NULLs. */
static int column_numeric(const flor_table *t, size_t c)
{
    int any = 0;
    for (size_t r = 0; r < flor_table_nrows(t); r++) {
        if (flor_table_type(t, r, c) == FLOR_TEXT)
            return 0;
        any |= is_number(t, r, c);
    }
    return any;
}

/* The width of each column, and whether it holds numbers only. */
static void measure(const flor_table *t, size_t *width, int *numeric)
{
    char buf[32];
    for (size_t c = 0; c < flor_table_ncols(t); c++) {
        width[c] = text_width(flor_table_colname(t, c));
        numeric[c] = column_numeric(t, c);
        for (size_t r = 0; r < flor_table_nrows(t); r++) {
            const char *s = cell_text(t, r, c, buf);
            size_t w = s ? text_width(s) : 0;
            if (w > width[c])
                width[c] = w;
        }
    }
}

static int print_aligned(const flor_table *t)
{
    size_t ncols = flor_table_ncols(t), pending = 0;
    size_t *width = calloc(ncols ? ncols : 1, sizeof *width);
    int *numeric = calloc(ncols ? ncols : 1, sizeof *numeric);
    if (!width || !numeric) {
        free(width);
        free(numeric);
        return cli_error("out of memory");
    }
    measure(t, width, numeric);
    for (size_t c = 0; c < ncols; c++)
        put_aligned(flor_table_colname(t, c), width[c], numeric[c], c == 0, &pending);
    for (size_t c = 0; c < ncols; c++) {
        out_puts(c ? "  " : "\n");
        for (size_t i = 0; i < width[c]; i++)
            out_putc('-');
    }
    if (ncols)
        out_putc('\n');
    char buf[32];
    for (size_t r = 0; r < flor_table_nrows(t); r++, pending = 0) {
        for (size_t c = 0; c < ncols; c++) {
            const char *s = cell_text(t, r, c, buf);
            put_aligned(s ? s : "", width[c], is_number(t, r, c), c == 0, &pending);
        }
        out_putc('\n');
    }
    free(width);
    free(numeric);
    return CLI_OK;
}

int cli_print_table(const flor_table *t, const cli_opts *opts)
{
    cli_format f = opts->format;
    if (f == CLI_AUTO)
        f = isatty(STDOUT_FILENO) ? CLI_TABLE : CLI_CSV;
    int rc = CLI_OK;
    if (f == CLI_JSON)
        print_json(t);
    else if (f == CLI_TABLE)
        rc = print_aligned(t);
    else
        print_csv(t);
    out_flush();
    return rc;
}
