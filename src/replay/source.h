/*
 * replay/source.h -- program text as hindsight logging reads it.
 * Internal to libflor: names start with flor__ (docs/architecture.md).
 */
#ifndef FLOR_REPLAY_SOURCE_H
#define FLOR_REPLAY_SOURCE_H

#include "flor.h"
#include "base/base.h"

/* ---- source.c: program text, as hindsight logging reads it --------------- */

typedef enum flor__lang { FLOR__LANG_NONE, FLOR__LANG_C, FLOR__LANG_PYTHON } flor__lang;
/* The language of a file, by its name's extension. */
flor__lang flor__source_lang(const char *path);
/* Where in LINE (LEN bytes) a logging call (flor_log... in C, flor.log in
 * Python) starts outside comments and literals, or -1. */
long flor__source_log_at(flor__lang lang, const char *line, size_t len);
/* Brackets opened minus brackets closed in TEXT, outside comments and
 * literals: a statement ends on the line that brings this back to 0. */
int flor__source_parens(flor__lang lang, const char *text, size_t len);
/* Whether TEXT (LEN bytes, one line) is a guard that the statement on the
 * next line belongs to: in C `if (...)` whose parentheses close on the
 * line, alone or opening a block (`if (...) {`); in Python `if ...:`. */
int flor__source_is_guard(flor__lang lang, const char *text, size_t len);
/* The name a logging call at CALL logs: its first argument when that is a
 * string literal, malloc'd; else NULL. */
char *flor__source_log_name(const char *call);
/* The flor loops whose body holds line LINE (1-based) of TEXT (LEN bytes,
 * NUL-terminated), outermost first, joined by '/' (malloc'd), or NULL in
 * *OUT when there is none. */
int flor__source_loops(flor__lang lang, const char *text, size_t len, int line, char **out);
/* Whether the lines of TEXT (LEN bytes) are all #include lines (C) or
 * import / from ... import lines at the left margin (Python), or blank,
 * and at least one is not blank. */
int flor__source_is_imports(flor__lang lang, const char *text, size_t len);
/* Whether a line of BLOCK (LEN bytes) that starts at the left margin
 * declares a name that USER (ULEN bytes) uses as a whole identifier.  C:
 * the identifier just before the line's first ( = ; [ or {, as in
 * "static double param_norm(const float *w, int n) {".  Python: def NAME,
 * async def NAME, class NAME (not NAME = ...: that is the program's own
 * code). */
int flor__source_defines_used(flor__lang lang, const char *block, size_t len, const char *user,
                              size_t ulen);
/* Whether RUN (LEN bytes: consecutive added lines), taken whole, is closed
 * and encloses the line that starts at offset AT.  C: its brackets
 * balance and it never closes one it did not open; the line is inside a
 * bracket the run opened before it, or right after an `if (...)` line of
 * the run (flor__source_is_guard).  Python: its brackets balance, no line
 * is indented less than its first line, its last line does not open a
 * block (ending with ':'), and the line is indented deeper than the
 * first.  Blank and comment-only lines do not count for indentation. */
int flor__source_encloses(flor__lang lang, const char *run, size_t len, size_t at);

#endif
