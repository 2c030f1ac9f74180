/*
 * source.c -- program text as hindsight logging reads it: which lines
 * start a logging statement, the name it logs, where it ends, and which
 * flor loops enclose a line.  For C-family files and Python files.
 *
 * This is a scanner, not a parser.  It knows comments, string and
 * character literals and brackets, which is enough for the statements and
 * loops flor's own API writes:
 *
 *   C       flor_log("name", ...)  (and flor_log_int64/_long/_double/_text)
 *           FLOR_LOOP(var, "name", n) { ... } or a single statement
 *           flor_loop_begin("name", n) ... flor_loop_end(&l), or the end
 *           of the enclosing block
 *   Python  flor.log("name", ...)
 *           for ... in flor.loop("name", ...):  and  with flor.iteration(
 *           "name", ...):  with the indented block after them
 *
 * A loop whose name is not a string literal cannot be matched with the
 * recorded loops, and is not reported.
 */
#include "replay/source.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

flor__lang flor__source_lang(const char *path)
{
    static const char *const c_ext[] = {".c", ".h", ".cc", ".cpp", ".cxx", ".hh",
                                        ".hpp", ".hxx", ".cu", ".cuh", ".inl"};
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/'))
        return FLOR__LANG_NONE;
    if (strcmp(dot, ".py") == 0)
        return FLOR__LANG_PYTHON;
    for (size_t i = 0; i < sizeof c_ext / sizeof c_ext[0]; i++)
        if (strcmp(dot, c_ext[i]) == 0)
            return FLOR__LANG_C;
    return FLOR__LANG_NONE;
}

static int ident_char(int c) { return isalnum(c) || c == '_'; }

/* Whether WORD starts at S[I] as a whole identifier (or dotted name). */
static int word_at(const char *s, size_t len, size_t i, const char *word)
{
    size_t n = strlen(word);
    return i + n <= len && memcmp(s + i, word, n) == 0 &&
           (i == 0 || (!ident_char((unsigned char)s[i - 1]) && s[i - 1] != '.'));
}

/* Skips the literal opening at S[I] (a quote); returns the index after it. */
static size_t skip_literal(const char *s, size_t len, size_t i)
{
    char q = s[i++];
    while (i < len && s[i] != q && s[i] != '\n')
        i += s[i] == '\\' && i + 1 < len ? 2 : 1;
    return i < len && s[i] == q ? i + 1 : i;
}

/* The index after the comment opening at S[I], or I when none opens there.
 * In C a block comment may span lines; a line comment ends at the newline. */
static size_t skip_comment(flor__lang lang, const char *s, size_t len, size_t i)
{
    if (lang == FLOR__LANG_PYTHON ? s[i] == '#' : (s[i] == '/' && i + 1 < len && s[i + 1] == '/')) {
        while (i < len && s[i] != '\n')
            i++;
        return i;
    }
    if (lang == FLOR__LANG_C && s[i] == '/' && i + 1 < len && s[i + 1] == '*') {
        const char *end = NULL;
        for (size_t k = i + 2; k + 1 < len && !end; k++)
            if (s[k] == '*' && s[k + 1] == '/')
                end = s + k + 2;
        return end ? (size_t)(end - s) : len;
    }
    return i;
}

/* The offset in LINE at which a logging call starts, or -1. */
long flor__source_log_at(flor__lang lang, const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && isspace((unsigned char)line[i]))
        i++;
    if (lang == FLOR__LANG_C && i < len && (line[i] == '*' || line[i] == '#'))
        return -1; /* inside a block comment, or a preprocessor line */
    while (i < len) {
        size_t c = skip_comment(lang, line, len, i);
        if (c != i) {
            i = c;
            continue;
        }
        if (line[i] == '"' || line[i] == '\'') {
            i = skip_literal(line, len, i);
            continue;
        }
        if (lang == FLOR__LANG_C && word_at(line, len, i, "flor_log")) {
            size_t k = i + 8;
            static const char *const typed[] = {"_int64", "_long", "_double", "_text"};
            for (size_t t = 0; t < 4; t++)
                if (k + strlen(typed[t]) <= len &&
                    memcmp(line + k, typed[t], strlen(typed[t])) == 0)
                    k += strlen(typed[t]);
            while (k < len && (line[k] == ' ' || line[k] == '\t'))
                k++;
            if (k < len && line[k] == '(')
                return (long)i;
        }
        if (lang == FLOR__LANG_PYTHON && word_at(line, len, i, "flor.log")) {
            size_t k = i + 8;
            while (k < len && (line[k] == ' ' || line[k] == '\t'))
                k++;
            if (k < len && line[k] == '(')
                return (long)i;
        }
        i++;
    }
    return -1;
}

/* Brackets opened minus closed in TEXT (LEN bytes), outside comments and
 * literals.  *LOW gets the lowest depth reached; *AT_DEPTH the depth at
 * offset AT, or -1 when AT is not reached outside a comment or literal. */
static int bracket_depth(flor__lang lang, const char *text, size_t len, size_t at, int *low,
                         int *at_depth)
{
    int depth = 0;
    *low = 0;
    *at_depth = -1;
    for (size_t i = 0; i < len;) {
        if (i == at)
            *at_depth = depth;
        size_t c = skip_comment(lang, text, len, i);
        if (c != i) {
            i = c;
        } else if (text[i] == '"' || text[i] == '\'') {
            i = skip_literal(text, len, i);
        } else {
            depth += text[i] == '(' || text[i] == '[' || text[i] == '{';
            depth -= text[i] == ')' || text[i] == ']' || text[i] == '}';
            if (depth < *low)
                *low = depth;
            i++;
        }
    }
    return depth;
}

int flor__source_parens(flor__lang lang, const char *text, size_t len)
{
    int low, at_depth;
    return bracket_depth(lang, text, len, len, &low, &at_depth);
}

int flor__source_is_guard(flor__lang lang, const char *text, size_t len)
{
    size_t i = 0, e = len;
    while (i < len && (text[i] == ' ' || text[i] == '\t'))
        i++;
    while (e > i && isspace((unsigned char)text[e - 1]))
        e--;
    if (!word_at(text, e, i, "if") || (i + 2 < e && ident_char((unsigned char)text[i + 2])))
        return 0;
    if (lang == FLOR__LANG_PYTHON)
        return text[e - 1] == ':';
    int depth = flor__source_parens(lang, text, e);
    return text[e - 1] == ')' ? depth == 0 : text[e - 1] == '{' && depth == 1;
}

/* The string literal at S[I] (after blanks), malloc'd without quotes and
 * with simple escapes undone; NULL when there is none. */
static char *literal_at(const char *s, size_t len, size_t i)
{
    while (i < len && isspace((unsigned char)s[i]))
        i++;
    if (i >= len || (s[i] != '"' && s[i] != '\''))
        return NULL;
    size_t end = skip_literal(s, len, i);
    if (end - i < 2 || s[end - 1] != s[i])
        return NULL;
    char *out = malloc(end - i);
    if (!out)
        return NULL;
    size_t n = 0;
    for (size_t k = i + 1; k < end - 1; k++) {
        if (s[k] == '\\' && k + 1 < end - 1)
            k++;
        out[n++] = s[k];
    }
    out[n] = 0;
    return out;
}

char *flor__source_log_name(const char *call)
{
    const char *open = strchr(call, '(');
    return open ? literal_at(call, strlen(call), (size_t)(open - call) + 1) : NULL;
}

/* ---- loops ------------------------------------------------------------------ */

typedef struct loop_span {
    char *name;
    int first, last; /* lines, 1-based, inclusive */
} loop_span;

typedef struct spans {
    loop_span *v;
    size_t n, cap;
    int rc;
} spans;

static void add_span(spans *sp, char *name, int first, int last)
{
    if (!name)
        return;
    if (sp->n == sp->cap) {
        size_t cap = sp->cap ? 2 * sp->cap : 8;
        loop_span *v = realloc(sp->v, cap * sizeof *v);
        if (!v) {
            free(name);
            sp->rc = flor__err(FLOR_ENOMEM, "out of memory");
            return;
        }
        sp->v = v;
        sp->cap = cap;
    }
    sp->v[sp->n++] = (loop_span){name, first, last};
}

/* C: the tokens that matter, with comments and literals out of the way. */
typedef struct tok {
    char kind; /* one of (){};, 's' a string literal, 'L' FLOR_LOOP,
                  'B' flor_loop_begin, 'E' flor_loop_end */
    int line;
    size_t at; /* offset in the text */
} tok;

static int tokenize_c(const char *s, size_t len, tok **out, size_t *nout)
{
    size_t n = 0, cap = 256;
    tok *t = malloc(cap * sizeof *t);
    int line = 1;
    for (size_t i = 0; t && i < len;) {
        char kind = 0;
        size_t at = i, next = i + 1;
        size_t c = skip_comment(FLOR__LANG_C, s, len, i);
        if (c != i) {
            for (size_t k = i; k < c; k++)
                line += s[k] == '\n';
            i = c;
            continue;
        }
        if (s[i] == '\n') {
            line++;
        } else if (s[i] == '"' || s[i] == '\'') {
            next = skip_literal(s, len, i);
            kind = s[i] == '"' ? 's' : 0;
        } else if (strchr("(){};,", s[i])) {
            kind = s[i];
        } else if (word_at(s, len, i, "FLOR_LOOP") && !ident_char((unsigned char)s[i + 9])) {
            kind = 'L';
            next = i + 9;
        } else if (word_at(s, len, i, "flor_loop_begin") &&
                   !ident_char((unsigned char)s[i + 15])) {
            kind = 'B';
            next = i + 15;
        } else if (word_at(s, len, i, "flor_loop_end") && !ident_char((unsigned char)s[i + 13])) {
            kind = 'E';
            next = i + 13;
        } else if (ident_char((unsigned char)s[i])) {
            while (next < len && ident_char((unsigned char)s[next]))
                next++;
        }
        if (kind) {
            if (n == cap) {
                tok *g = realloc(t, 2 * cap * sizeof *t);
                if (!g) {
                    free(t);
                    t = NULL;
                    break;
                }
                t = g;
                cap *= 2;
            }
            t[n++] = (tok){kind, line, at};
        }
        i = next;
    }
    *out = t;
    *nout = n;
    return t ? 0 : flor__err(FLOR_ENOMEM, "out of memory");
}

/* The token that closes the bracket opened at T[I], or N. */
static size_t closing(const tok *t, size_t n, size_t i)
{
    char open = t[i].kind, close = open == '(' ? ')' : '}';
    int depth = 0;
    for (size_t k = i; k < n; k++) {
        depth += t[k].kind == open;
        depth -= t[k].kind == close;
        if (depth == 0)
            return k;
    }
    return n;
}

/* FLOR_LOOP(var, "name", n) BODY at T[I]. */
static void c_macro_loop(spans *sp, const char *s, size_t len, const tok *t, size_t n, size_t i)
{
    if (i + 1 >= n || t[i + 1].kind != '(')
        return;
    size_t close = closing(t, n, i + 1), name = n;
    int depth = 0;
    for (size_t k = i + 1; k < close && name == n; k++) {
        depth += t[k].kind == '(' || t[k].kind == '{';
        depth -= t[k].kind == ')' || t[k].kind == '}';
        if (depth == 1 && t[k].kind == ',' && k + 1 < close && t[k + 1].kind == 's')
            name = k + 1;
    }
    if (name == n || close + 1 >= n)
        return;
    int last = t[close].line;
    if (t[close + 1].kind == '{') {
        size_t end = closing(t, n, close + 1);
        last = end < n ? t[end].line : t[n - 1].line;
    } else {
        depth = 0;
        for (size_t k = close + 1; k < n; k++) {
            depth += t[k].kind == '(' || t[k].kind == '{';
            depth -= t[k].kind == ')' || t[k].kind == '}';
            if ((depth == 0 && t[k].kind == ';') || depth < 0) {
                last = t[k].line;
                break;
            }
        }
    }
    add_span(sp, literal_at(s, len, t[name].at), t[i].line, last);
}

/* flor_loop_begin("name", n) at T[I]: until the first flor_loop_end at the
 * same block depth, else the end of the enclosing block. */
static void c_call_loop(spans *sp, const char *s, size_t len, const tok *t, size_t n, size_t i)
{
    if (i + 2 >= n || t[i + 1].kind != '(' || t[i + 2].kind != 's')
        return;
    int depth = 0, last = t[n - 1].line;
    for (size_t k = i + 1; k < n; k++) {
        depth += t[k].kind == '{';
        depth -= t[k].kind == '}';
        if ((depth == 0 && t[k].kind == 'E') || depth < 0) {
            last = t[k].line;
            break;
        }
    }
    add_span(sp, literal_at(s, len, t[i + 2].at), t[i].line, last);
}

static int c_loops(spans *sp, const char *s, size_t len)
{
    tok *t;
    size_t n;
    int rc = tokenize_c(s, len, &t, &n);
    for (size_t i = 0; !rc && i < n && !sp->rc; i++) {
        if (t[i].kind == 'L')
            c_macro_loop(sp, s, len, t, n, i);
        else if (t[i].kind == 'B')
            c_call_loop(sp, s, len, t, n, i);
    }
    free(t);
    return rc ? rc : sp->rc;
}

/* Python: the line's indentation, or -1 for a blank or comment line. */
static int indent_of(const char *line, size_t len)
{
    int w = 0;
    size_t i = 0;
    for (; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
        w = line[i] == '\t' ? (w / 8 + 1) * 8 : w + 1;
    return i == len || line[i] == '#' || line[i] == '\r' ? -1 : w;
}

/* The loop name a Python line opens, malloc'd, or NULL. */
static char *py_loop_header(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && isspace((unsigned char)line[i]))
        i++;
    const char *call = NULL;
    if (word_at(line, len, i, "for") || word_at(line, len, i, "async"))
        call = "flor.loop";
    else if (word_at(line, len, i, "with"))
        call = "flor.iteration";
    if (!call)
        return NULL;
    size_t clen = strlen(call);
    for (size_t k = i; k + clen < len; k++) {
        if (line[k] == '#')
            return NULL;
        if (line[k] == '"' || line[k] == '\'') {
            k = skip_literal(line, len, k) - 1;
            continue;
        }
        if (word_at(line, len, k, call)) {
            size_t p = k + clen;
            while (p < len && (line[p] == ' ' || line[p] == '\t'))
                p++;
            return p < len && line[p] == '(' ? literal_at(line, len, p + 1) : NULL;
        }
    }
    return NULL;
}

static int py_loops(spans *sp, const char *s, size_t len)
{
    size_t nlines = 1;
    for (size_t i = 0; i < len; i++)
        nlines += s[i] == '\n';
    const char **start = malloc(nlines * sizeof *start);
    size_t *llen = malloc(nlines * sizeof *llen);
    if (!start || !llen) {
        free(start);
        free(llen);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    size_t k = 0;
    for (const char *p = s, *end = s + len; p <= end && k < nlines; k++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        start[k] = p;
        llen[k] = nl ? (size_t)(nl - p) : (size_t)(end - p);
        p = nl ? nl + 1 : end + 1;
    }
    for (size_t i = 0; i < k && !sp->rc; i++) {
        char *name = py_loop_header(start[i], llen[i]);
        if (!name)
            continue;
        int own = indent_of(start[i], llen[i]);
        size_t last = i;
        for (size_t j = i + 1; j < k; j++) {
            int w = indent_of(start[j], llen[j]);
            if (w >= 0 && w <= own)
                break;
            if (w >= 0)
                last = j;
        }
        add_span(sp, name, (int)i + 1, (int)last + 1);
    }
    free(start);
    free(llen);
    return sp->rc;
}

int flor__source_loops(flor__lang lang, const char *text, size_t len, int line, char **out)
{
    *out = NULL;
    spans sp = {0};
    int rc = lang == FLOR__LANG_C        ? c_loops(&sp, text, len)
             : lang == FLOR__LANG_PYTHON ? py_loops(&sp, text, len)
                                         : 0;
    flor__buf b = {0};
    /* Spans come in the order they open, so enclosing ones come first. */
    for (size_t i = 0; !rc && i < sp.n; i++)
        if (sp.v[i].first < line && line <= sp.v[i].last)
            rc = flor__buf_printf(&b, "%s%s", b.len ? "/" : "", sp.v[i].name);
    for (size_t i = 0; i < sp.n; i++)
        free(sp.v[i].name);
    free(sp.v);
    if (rc)
        flor__buf_release(&b);
    else
        *out = b.p;
    return rc;
}

/* ---- what a hindsight statement needs ----------------------------------------- */

/* Calls FN on each line of TEXT (LEN bytes) until it returns nonzero. */
static int each_line(const char *text, size_t len, int (*fn)(void *, const char *, size_t),
                     void *ctx)
{
    for (const char *s = text, *end = text + len; s < end;) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
        int r = fn(ctx, s, n);
        if (r)
            return r;
        s = nl ? nl + 1 : end;
    }
    return 0;
}

typedef struct imports_scan {
    flor__lang lang;
    int seen;
} imports_scan;

static int import_line(void *ctx, const char *s, size_t n)
{
    imports_scan *sc = ctx;
    if (strspn(s, " \t\r") >= n)
        return 0; /* a blank line */
    size_t i = sc->lang == FLOR__LANG_C ? strspn(s, " \t") : 0;
    int ok = sc->lang == FLOR__LANG_C
                 ? s[i] == '#' && strncmp(s + i + 1 + strspn(s + i + 1, " \t"), "include", 7) == 0
                 : n > 5 && (strncmp(s, "import ", 7) == 0 || strncmp(s, "from ", 5) == 0);
    sc->seen += ok;
    return ok ? 0 : 1;
}

int flor__source_is_imports(flor__lang lang, const char *text, size_t len)
{
    imports_scan sc = {lang, 0};
    return lang != FLOR__LANG_NONE && each_line(text, len, import_line, &sc) == 0 && sc.seen > 0;
}

/* Whether NAME (N bytes) occurs in TEXT as a whole identifier. */
static int uses(const char *text, size_t len, const char *name, size_t n)
{
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(text + i, name, n) == 0 && (i == 0 || !ident_char((unsigned char)text[i - 1])) &&
            (i + n == len || !ident_char((unsigned char)text[i + n])))
            return 1;
    return 0;
}

typedef struct defines_scan {
    flor__lang lang;
    const char *user;
    size_t ulen;
} defines_scan;

/* The name an unindented line declares, as [*AT, *AT + *N), or 0. */
static int declared(flor__lang lang, const char *s, size_t n, size_t *at, size_t *len)
{
    if (n == 0 || !(ident_char((unsigned char)s[0])))
        return 0;
    size_t i = 0;
    if (lang == FLOR__LANG_PYTHON) {
        if (word_at(s, n, 0, "async "))
            i = 6;
        /* def NAME or class NAME only: an added top-level NAME = ... is the
         * program's own code, which an older version may set otherwise */
        if (!word_at(s, n, i, "def ") && !word_at(s, n, i, "class "))
            return 0;
        i += s[i] == 'd' ? 4 : 6;
        while (i < n && s[i] == ' ')
            i++;
        size_t b = i;
        while (i < n && ident_char((unsigned char)s[i]))
            i++;
        *at = b;
        *len = i - b;
        return i > b;
    }
    /* C: the identifier just before the first ( = ; [ { on the line */
    size_t last = 0, lastlen = 0;
    for (; i < n; i++) {
        size_t c = skip_comment(FLOR__LANG_C, s, n, i);
        if (c != i) {
            i = c - 1;
            continue;
        }
        if (s[i] == '"' || s[i] == '\'')
            return 0;
        if (strchr("(=;[{", s[i]))
            break;
        if (ident_char((unsigned char)s[i]) && (i == 0 || !ident_char((unsigned char)s[i - 1]))) {
            last = i;
            lastlen = 0;
            while (i + lastlen < n && ident_char((unsigned char)s[i + lastlen]))
                lastlen++;
        }
    }
    if (i == n || !lastlen || isdigit((unsigned char)s[last]))
        return 0;
    *at = last;
    *len = lastlen;
    return 1;
}

static int define_line(void *ctx, const char *s, size_t n)
{
    defines_scan *sc = ctx;
    size_t at, len;
    return declared(sc->lang, s, n, &at, &len) && uses(sc->user, sc->ulen, s + at, len);
}

int flor__source_defines_used(flor__lang lang, const char *block, size_t len, const char *user,
                              size_t ulen)
{
    defines_scan sc = {lang, user, ulen};
    return lang != FLOR__LANG_NONE && each_line(block, len, define_line, &sc) != 0;
}

/* ---- a block added around a statement ------------------------------------------- */

/* The indentation of the line at S (N bytes), or -1 when it is blank or
 * only a comment. */
static int py_indent(const char *s, size_t n)
{
    size_t i = strspn(s, " \t");
    return i >= n || s[i] == '\r' || s[i] == '#' ? -1 : (int)i;
}

/* Whether the line at S (N bytes) ends with ':' outside a comment: it opens
 * a block. */
static int py_opens_block(const char *s, size_t n)
{
    size_t e = n;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\'') {
            i = skip_literal(s, n, i) - 1;
        } else if (s[i] == '#') {
            e = i;
            break;
        }
    }
    while (e > 0 && isspace((unsigned char)s[e - 1]))
        e--;
    return e > 0 && s[e - 1] == ':';
}

static int c_encloses(const char *run, size_t len, size_t at)
{
    int low, depth_at, depth = bracket_depth(FLOR__LANG_C, run, len, at, &low, &depth_at);
    if (low < 0)
        return 0; /* closes a bracket the run did not open */
    if (depth != 0 || depth_at < 0)
        return 0;
    if (depth_at > 0)
        return 1;
    /* not in a bracket: right after an `if (...)` line of the run */
    size_t b = at > 0 ? at - 1 : 0;
    while (b > 0 && run[b - 1] != '\n')
        b--;
    return at > 0 && flor__source_is_guard(FLOR__LANG_C, run + b, at - b);
}

static int py_encloses(const char *run, size_t len, size_t at)
{
    if (flor__source_parens(FLOR__LANG_PYTHON, run, len) != 0)
        return 0;
    int first = -1, last_opens = 0, stmt = -1;
    for (const char *s = run, *end = run + len; s < end;) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
        int in = py_indent(s, n);
        if (in >= 0) {
            if (first < 0)
                first = in;
            if (in < first)
                return 0; /* a line outside the block the run began in */
            if ((size_t)(s - run) == at)
                stmt = in;
            last_opens = py_opens_block(s, n);
        }
        s = nl ? nl + 1 : end;
    }
    return !last_opens && stmt > first;
}

int flor__source_encloses(flor__lang lang, const char *run, size_t len, size_t at)
{
    if (at >= len)
        return 0;
    return lang == FLOR__LANG_C        ? c_encloses(run, len, at)
           : lang == FLOR__LANG_PYTHON ? py_encloses(run, len, at)
                                       : 0;
}
