/*
 * buf.h -- a growable text buffer for the commands that build a whole
 * document before sending it (flor serve's JSON, flor plot's SVG), and
 * the JSON pieces they write into it.  Always NUL-terminated; a failed
 * allocation sets `failed` and later appends do nothing, so a caller
 * checks once at the end.
 */
#ifndef FLOR_CLI_BUF_H
#define FLOR_CLI_BUF_H

#include <flor.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cli_buf {
    char *s;
    size_t n, cap;
    bool failed;
} cli_buf;

void cli_buf_write(cli_buf *b, const char *s, size_t n);
void cli_buf_puts(cli_buf *b, const char *s);
void cli_buf_putc(cli_buf *b, char c);
void cli_buf_printf(cli_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_buf_int(cli_buf *b, int64_t v);
/* Takes the text out of B (NULL when an allocation failed) and empties B. */
char *cli_buf_take(cli_buf *b, size_t *len);
void cli_buf_release(cli_buf *b);

/* S as a JSON string, quoted and escaped. */
void cli_json_string(cli_buf *b, const char *s);
/* A real as JSON: its shortest exact text, or the strings "nan", "inf",
 * "-inf" (JSON has no such numbers; null would read as "not logged"). */
void cli_json_real(cli_buf *b, double v);
/* Cell (R, C) of T: a number, a string or null. */
void cli_json_cell(cli_buf *b, const flor_table *t, size_t r, size_t c);
/* T as {"columns": [...], "rows": [[...], ...]}. */
void cli_json_table(cli_buf *b, const flor_table *t);

#endif
