/*
 * base/base.h -- the bottom layer: errors, warnings, strings, growable buffers.  Uses nothing of flor's.
 * (base/bytes.h: little-endian fields and chunk hashes; base/xxh.h: xxhash, dispatched.)
 * Internal to libflor: names start with flor__ (docs/architecture.md).
 */
#ifndef FLOR_BASE_BASE_H
#define FLOR_BASE_BASE_H

#include "flor.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>

#define FLOR__PRINTF(a, b) __attribute__((format(printf, a, b)))

/* ---- error.c: per-thread messages, warnings ---------------------------- */

/* Sets this thread's message and returns CODE, so callers can write
 * `return flor__err(FLOR_EINVAL, "...", ...);`. */
int flor__err(int code, const char *fmt, ...) FLOR__PRINTF(2, 3);
/* Prefixes the current message: "CONTEXT: previous message". */
int flor__err_wrap(int code, const char *fmt, ...) FLOR__PRINTF(2, 3);
void flor__err_clear(void);
/* One line on stderr, "flor: warning: ...", unless FLOR_QUIET is set. */
void flor__warn(const char *fmt, ...) FLOR__PRINTF(1, 2);
/* One line on stderr, "flor: error: ...", even under FLOR_QUIET: for
 * what a run loses (records that could not be written, a run that cannot
 * be recorded).  FLOR_QUIET silences chatter, never data loss. */
void flor__loss(const char *fmt, ...) FLOR__PRINTF(1, 2);
/* True when FLOR_QUIET asks flor to print nothing on its own. */
int flor__quiet(void);

/* ---- util.c: strings and small helpers ---------------------------------- */

char *flor__strdup(const char *s);                       /* NULL on ENOMEM */
char *flor__printf(const char *fmt, ...) FLOR__PRINTF(1, 2); /* malloc'd */
double flor__now(void);                                  /* unix seconds */
/* Removes ARGV[I .. I+N), keeping the order and the NULL terminator. */
void flor__argv_remove(int *argc, char **argv, int i, int n);
uint64_t flor__hash_str(const char *s);                  /* FNV-1a */
double flor__mono(void);                                 /* monotonic seconds */
/* The fields of /proc/PID/stat after the command name (field 3, the state,
 * on), read into BUF (N bytes); NULL when PID has no entry. */
const char *flor__proc_stat(long pid, char *buf, size_t n);
/* Field FIELD (>= 3, as proc(5) numbers them) of FIELDS, as a number; 0
 * when there is none. */
unsigned long long flor__proc_stat_field(const char *fields, int field);
/* Appends S to the JSON string literal being built in BUF (with quotes). */
typedef struct flor__buf {
    char *p;
    size_t len, cap;
} flor__buf;
int flor__buf_add(flor__buf *b, const void *data, size_t n);
int flor__buf_puts(flor__buf *b, const char *s);
int flor__buf_printf(flor__buf *b, const char *fmt, ...) FLOR__PRINTF(2, 3);
int flor__buf_json_string(flor__buf *b, const char *s);
void flor__buf_release(flor__buf *b);

#endif
