/*
 * hindsight.c -- hindsight statements: the logging statements added to
 * the working tree since the latest recorded code version
 * (flor_project_statements), and carrying them into an older version's
 * code (flor_project_carry).
 *
 * Finding them.  The base is the vid of the newest run that has one.
 * libgit2 compares the base's tree with the working files (no context
 * lines); every added line of a C-family or Python file that starts a
 * logging call opens a statement, and the added lines right after it
 * belong to it until its brackets balance; an added `if` alone on the
 * line before it is its guard and belongs to it too (with the block it
 * opens, up to the line that closes it).  Each statement remembers the
 * base line it comes after (its anchor).  The other added lines of C and
 * Python files form blocks (consecutive lines of one hunk).
 *
 * What goes with a statement.  (1) The block it sits in (enclose): the
 * run of consecutive added lines of a hunk that only adds, holding the
 * statement, goes whole with it when the run, taken whole, is closed and
 * encloses the statement (flor__source_encloses): in C its brackets
 * balance, it never closes one it did not open, and the statement is
 * inside a bracket the run opens before it (or right after an `if (...)`
 * line of the run); in Python its brackets balance, no line is indented
 * less than its first, its last line opens no block, and the statement is
 * indented deeper than its first line.  So an `if` block added around the
 * statement with the locals it computes goes with it, as do added lines
 * before that block in the same run.  A statement on a bare added line
 * (not enclosed) goes alone, as does one whose hunk also removes lines.
 * Statements of names not asked for are dropped, also from inside such a
 * run.  (2) Helpers (select_helpers): another block that only adds, in a
 * file holding a wanted statement, goes with the statements when it is
 * #include / import lines or defines, at the left margin, a name that
 * they (or another block that goes) use.  The others are dropped.
 *
 * Back-fill.  When names are asked for and none was added to the working
 * tree, the source is the version of the newest run that recorded one of
 * them, and the base the version of the newest run before it that
 * recorded none: the statements and blocks are what the source adds to
 * that base (find_source).
 *
 * Carrying them.  For each file, starting from the old version's text
 * (ours), each statement in turn is merged by git's three-way file merge
 * with base = the file in the base version and theirs = that base file
 * with only this statement inserted at its anchor.  Whatever else changed
 * between the versions (the user's other edits, in either direction) is
 * not carried: theirs differs from base by the statement alone.  A
 * statement whose merge conflicts is reported and left out; the next one
 * merges into the text without it.  The statements and blocks of one hunk
 * (one anchor) merge together, in their order.  Where a carried statement landed is
 * the first line at which the merged text differs from the text before
 * the merge.
 */
#include "git/git.h"
#include "project/project.h"
#include "replay/source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct stmt {
    char *path;     /* relative to the root */
    flor__lang lang;
    int line;       /* first line, in the working file */
    int nlines;
    int anchor;     /* the base line it comes after */
    int open;       /* brackets still open after its last line */
    size_t call;    /* where the logging call starts in TEXT */
    flor__buf text; /* its lines, each with its newline */
    char *name;     /* the logged name, when a literal */
    int helper;     /* not a statement: a block of other added lines */
    int replaces;   /* its hunk also removes lines of the base */
    int keep;       /* a helper the statements need */
    int unwanted;   /* a statement logging a name not asked for */
} stmt;

typedef struct stmts {
    stmt *v;
    size_t n, cap;
    const char *const *names;
    size_t nnames;
    int64_t base_run;
    char *base_vid;
    int64_t src_run; /* back-fill: the run whose version holds the statements */
    char *src_vid;   /* back-fill: that version; NULL: the working tree */
} stmts;

static void stmt_release(stmt *s)
{
    free(s->path);
    free(s->name);
    flor__buf_release(&s->text);
}

static void stmts_release(stmts *a)
{
    for (size_t i = 0; i < a->n; i++)
        stmt_release(&a->v[i]);
    free(a->v);
    free(a->base_vid);
    free(a->src_vid);
    memset(a, 0, sizeof *a);
}

static int wanted(const stmts *a, const char *name)
{
    if (a->nnames == 0)
        return 1;
    for (size_t i = 0; name && i < a->nnames; i++)
        if (strcmp(a->names[i], name) == 0)
            return 1;
    return 0;
}

/* Drops the last statement, which still has brackets open: the lines that
 * would close them were not added. */
static void drop_unfinished(stmts *a)
{
    stmt *s = &a->v[a->n - 1];
    flor__warn("%s:%d: the logging statement there continues on lines that were not added: "
               "it is left out",
               s->path, s->line);
    stmt_release(s);
    a->n--;
}

/* Appends one line of a statement, with its newline. */
static int add_line(stmt *s, const char *text, size_t len)
{
    s->open += flor__source_parens(s->lang, text, len);
    int rc = flor__buf_add(&s->text, text, len);
    if (!rc && (len == 0 || text[len - 1] != '\n'))
        rc = flor__buf_puts(&s->text, "\n");
    return rc;
}

/* The last statement is whole: its name, and whether it is wanted. */
static int complete(stmts *a)
{
    stmt *s = &a->v[a->n - 1];
    s->name = flor__source_log_name(s->text.p + s->call);
    s->unwanted = !wanted(a, s->name); /* dropped by enclose, after it saw the runs */
    return 0;
}

/* A new entry at the end of A, zeroed. */
static stmt *new_entry(stmts *a, const char *path, flor__lang lang, int line, int anchor)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 8;
        stmt *v = realloc(a->v, cap * sizeof *v);
        if (!v)
            return NULL;
        a->v = v;
        a->cap = cap;
    }
    stmt *s = &a->v[a->n++];
    memset(s, 0, sizeof *s);
    s->path = flor__strdup(path);
    s->lang = lang;
    s->line = line;
    s->nlines = 1;
    s->anchor = anchor;
    if (!s->path) {
        a->n--;
        return NULL;
    }
    return s;
}

static int on_line(void *ctx, const char *path, int line, int anchor, int replaces,
                   const char *text, size_t len)
{
    stmts *a = ctx;
    flor__lang lang = flor__source_lang(path);
    if (lang == FLOR__LANG_NONE)
        return 0;
    stmt *last = a->n ? &a->v[a->n - 1] : NULL;
    int next = last && strcmp(last->path, path) == 0 && line == last->line + last->nlines;
    if (last && !last->helper && last->open > 0 && next) {
        last->nlines++;
        int rc = add_line(last, text, len);
        return rc ? rc : last->open <= 0 ? complete(a) : 0;
    }
    if (last && !last->helper && last->open > 0)
        drop_unfinished(a);
    long at = flor__source_log_at(lang, text, len);
    if (at < 0) { /* a line of a block of other added lines */
        if (last && last->helper && next && last->anchor == anchor) {
            last->nlines++;
            return add_line(last, text, len);
        }
        stmt *h = new_entry(a, path, lang, line, anchor);
        if (!h)
            return flor__err(FLOR_ENOMEM, "out of memory");
        h->helper = 1;
        h->replaces = replaces;
        return add_line(h, text, len);
    }
    if (last && last->helper && next && last->anchor == anchor && last->nlines == 1 &&
        flor__source_is_guard(lang, last->text.p, last->text.len)) {
        /* an `if` added on the line before, alone: the statement's guard */
        last->helper = 0;
        last->replaces |= replaces;
        last->nlines++;
        last->call = last->text.len + (size_t)at;
        int rc = add_line(last, text, len);
        return rc ? rc : last->open <= 0 ? complete(a) : 0;
    }
    stmt *s = new_entry(a, path, lang, line, anchor);
    if (!s)
        return flor__err(FLOR_ENOMEM, "out of memory");
    s->replaces = replaces;
    int rc = add_line(s, text, len);
    s->call = (size_t)at;
    return rc ? rc : s->open <= 0 ? complete(a) : 0;
}

/* The base: the vid of the newest run that has one. */
static int find_base(flor_project *p, stmts *a)
{
    int rc = flor__runs_newest_versioned(p->db, &a->base_run);
    if (rc)
        return rc;
    if (!a->base_run)
        return flor__err(FLOR_ENOTFOUND,
                         "no run of project '%s' has a code version to compare the working "
                         "tree with",
                         p->place.projid);
    return flor__run_commit(p, a->base_run, &a->base_vid);
}

/* Back-fill: the newest run with a code version that recorded one of
 * NAMES is the source; the base is the newest run before it, of another
 * version, that recorded none of them. */
static int find_source(flor_project *p, stmts *a)
{
    int64_t base = 0;
    int rc = flor__runs_backfill_pair(p->db, a->names, a->nnames, &a->src_run, &base);
    if (rc || !base)
        return rc;
    char *vid = NULL;
    rc = flor__run_commit(p, base, &vid);
    if (!rc) {
        free(a->base_vid);
        a->base_vid = vid;
        a->base_run = base;
        free(a->src_vid);
        a->src_vid = NULL;
        rc = flor__run_commit(p, a->src_run, &a->src_vid);
    }
    return rc;
}

static int statement_count(const stmts *a)
{
    int n = 0;
    for (size_t i = 0; i < a->n; i++)
        n += !a->v[i].helper && !a->v[i].unwanted;
    return n;
}

static void drop_entries(stmts *a)
{
    for (size_t i = 0; i < a->n; i++)
        stmt_release(&a->v[i]);
    a->n = 0;
}

/* Whether entry K continues entry K - 1: the next lines of one hunk that
 * only adds. */
static int continues(const stmts *a, size_t k)
{
    const stmt *p = &a->v[k - 1], *s = &a->v[k];
    return strcmp(p->path, s->path) == 0 && s->line == p->line + p->nlines &&
           s->anchor == p->anchor && !p->replaces && !s->replaces;
}

/* The runs of consecutive added lines around the statements: a run (the
 * entries of one hunk that only adds, line after line) that, taken whole,
 * encloses a wanted statement (flor__source_encloses) goes with it, each
 * of its other blocks kept.  Then the statements logging names not asked
 * for are dropped, also from inside a run that goes: each is whole, its
 * brackets balanced, so what is left stays so. */
static int enclose(stmts *a)
{
    flor__buf run = {0};
    int rc = 0;
    for (size_t i = 0, j; !rc && i < a->n; i = j) {
        for (j = i + 1; j < a->n && continues(a, j);)
            j++;
        if (j - i < 2)
            continue;
        run.len = 0;
        for (size_t k = i; !rc && k < j; k++)
            rc = flor__buf_add(&run, a->v[k].text.p, a->v[k].text.len);
        int encloses = 0;
        for (size_t k = i, at = 0; !rc && k < j && !encloses; at += a->v[k++].text.len) {
            const stmt *s = &a->v[k];
            size_t line = s->call; /* the line of the call, after a guard the entry holds */
            while (line > 0 && s->text.p[line - 1] != '\n')
                line--;
            encloses = !s->helper && !s->unwanted &&
                       flor__source_encloses(s->lang, run.p, run.len, at + line);
        }
        for (size_t k = i; encloses && k < j; k++)
            a->v[k].keep = a->v[k].helper;
    }
    flor__buf_release(&run);
    size_t n = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].unwanted)
            stmt_release(&a->v[i]);
        else
            a->v[n++] = a->v[i];
    }
    a->n = n;
    return rc;
}

/* Which blocks of other added lines go with the statements: in a file
 * holding a statement, a block that only adds lines (no edit of the base)
 * and is #include / import lines, or defines at the left margin a name
 * that a statement or another such block uses.  The others go. */
static void select_helpers(stmts *a)
{
    for (size_t i = 0; i < a->n; i++) {
        stmt *h = &a->v[i];
        int file = 0;
        for (size_t k = 0; k < a->n && !file; k++)
            file = !a->v[k].helper && strcmp(a->v[k].path, h->path) == 0;
        if (h->helper && file && !h->replaces && !h->keep)
            h->keep = flor__source_is_imports(h->lang, h->text.p, h->text.len) ? 1 : -1;
    }
    for (int changed = 1; changed;) { /* -1: a candidate, until something uses it */
        changed = 0;
        for (size_t i = 0; i < a->n; i++) {
            stmt *h = &a->v[i];
            for (size_t k = 0; h->keep < 0 && k < a->n; k++) {
                const stmt *u = &a->v[k];
                if (k != i && (!u->helper || u->keep > 0) && strcmp(u->path, h->path) == 0 &&
                    flor__source_defines_used(h->lang, h->text.p, h->text.len, u->text.p,
                                              u->text.len))
                    h->keep = changed = 1;
            }
        }
    }
    size_t n = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].helper && a->v[i].keep <= 0)
            stmt_release(&a->v[i]);
        else
            a->v[n++] = a->v[i];
    }
    a->n = n;
}

/* Every hindsight statement logging one of NAMES (all when N is 0), with
 * the blocks it needs: added to the working tree since the newest run's
 * version; when none of NAMES was and N > 0, back-fill (find_source). */
static int collect(flor_project *p, const char *const *names, size_t n, stmts *a)
{
    memset(a, 0, sizeof *a);
    a->names = names;
    a->nnames = n;
    int rc = find_base(p, a);
    if (!rc)
        rc = flor__git_added_lines(p->place.root, a->base_vid, NULL, on_line, a);
    if (!rc && a->n && !a->v[a->n - 1].helper && a->v[a->n - 1].open > 0)
        drop_unfinished(a);
    if (!rc)
        rc = enclose(a);
    if (!rc && n > 0 && statement_count(a) == 0) {
        drop_entries(a);
        rc = find_source(p, a);
        if (!rc && a->src_vid)
            rc = flor__git_added_lines(p->place.root, a->base_vid, a->src_vid, on_line, a);
        if (!rc && a->n && !a->v[a->n - 1].helper && a->v[a->n - 1].open > 0)
            drop_unfinished(a);
        if (!rc)
            rc = enclose(a);
    }
    if (!rc)
        select_helpers(a);
    return rc;
}

static int read_file(const char *root, const char *rel, flor__buf *out)
{
    char *path = flor__printf("%s/%s", root, rel);
    if (!path)
        return flor__err(FLOR_ENOMEM, "out of memory");
    FILE *f = fopen(path, "rb");
    int rc = f ? 0 : flor__err(FLOR_EIO, "%s: %s", path, strerror(errno));
    char chunk[65536];
    size_t got;
    out->len = 0;
    while (!rc && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = flor__buf_add(out, chunk, got);
    if (!rc && ferror(f))
        rc = flor__err(FLOR_EIO, "%s: %s", path, strerror(errno));
    if (!rc && !out->p)
        rc = flor__buf_puts(out, "");
    if (f)
        fclose(f);
    free(path);
    return rc;
}

/* The statement's text on one line, for a person: lines joined by a
 * space, each without its indentation. */
static char *one_line(const flor__buf *text)
{
    flor__buf b = {0};
    int rc = 0;
    for (const char *s = text->p, *end = text->p + text->len; !rc && s < end;) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        if (e > s)
            rc = flor__buf_printf(&b, "%s%.*s", b.len ? " " : "", (int)(e - s), s);
        s = nl ? nl + 1 : end;
    }
    if (rc) {
        flor__buf_release(&b);
        return NULL;
    }
    return b.p ? b.p : flor__strdup("");
}

static int set_int(flor_table *t, size_t row, size_t col, int64_t v)
{
    flor__cell *c = flor__table_cell(t, row, col);
    c->type = FLOR_INTEGER;
    c->v.i = v;
    return 0;
}

int flor_project_statements(flor_project *p, const char *const *names, size_t n,
                            flor_table **out)
{
    static const char *const cols[] = {"file", "line", "name", "loops", "statement", "version"};
    *out = NULL;
    flor__err_clear();
    stmts a;
    int rc = collect(p, names, n, &a);
    flor_table *t = rc ? NULL : flor__table_new(6, cols);
    if (!rc && !t)
        rc = flor__err(FLOR_ENOMEM, "out of memory");
    flor__buf file = {0};
    const char *file_path = NULL; /* the file in `file` (helpers are skipped, not read) */
    for (size_t i = 0; !rc && i < a.n; i++) {
        stmt *s = &a.v[i];
        if (s->helper)
            continue;
        char *loops = NULL, *text = one_line(&s->text);
        unsigned mode;
        if (!file_path || strcmp(s->path, file_path) != 0) {
            rc = a.src_vid ? flor__git_file(p->place.root, a.src_vid, s->path, &file, &mode)
                           : read_file(p->place.root, s->path, &file);
            file_path = s->path;
        }
        if (!rc)
            rc = flor__source_loops(s->lang, file.p, file.len, s->line, &loops);
        size_t r = rc ? 0 : flor__table_add_row(t);
        if (!rc && (r == (size_t)-1 || !text))
            rc = flor__err(FLOR_ENOMEM, "out of memory");
        if (!rc)
            rc = flor__table_set_text(t, r, 0, s->path);
        if (!rc)
            rc = set_int(t, r, 1, s->line);
        if (!rc && s->name)
            rc = flor__table_set_text(t, r, 2, s->name);
        if (!rc && loops)
            rc = flor__table_set_text(t, r, 3, loops);
        if (!rc)
            rc = flor__table_set_text(t, r, 4, text);
        if (!rc && a.src_vid)
            rc = flor__table_set_text(t, r, 5, a.src_vid);
        free(loops);
        free(text);
    }
    flor__buf_release(&file);
    stmts_release(&a);
    if (rc) {
        flor_table_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* ---- carrying them into an older version ----------------------------------------- */

/* BASE with the lines of the entries S[0 .. N) (of one hunk) inserted
 * after line S->anchor, into OUT. */
static int insert_at(const flor__buf *base, const stmt *s, size_t n, flor__buf *out)
{
    size_t at = 0;
    for (int line = 0; line < s->anchor && at < base->len; line++) {
        const char *nl = memchr(base->p + at, '\n', base->len - at);
        at = nl ? (size_t)(nl - base->p) + 1 : base->len;
    }
    out->len = 0;
    int rc = flor__buf_add(out, base->p ? base->p : "", at);
    if (!rc && at > 0 && base->p[at - 1] != '\n')
        rc = flor__buf_puts(out, "\n");
    for (size_t i = 0; !rc && i < n; i++)
        rc = flor__buf_add(out, s[i].text.p, s[i].text.len);
    if (!rc)
        rc = flor__buf_add(out, base->p ? base->p + at : "", base->len - at);
    return rc;
}

/* The 1-based line at which A and B first differ. */
static int first_difference(const flor__buf *a, const flor__buf *b)
{
    size_t n = a->len < b->len ? a->len : b->len, i = 0;
    int line = 1;
    for (; i < n && a->p[i] == b->p[i]; i++)
        line += a->p[i] == '\n';
    return line;
}

static int write_file(const char *dir, const char *rel, const flor__buf *text)
{
    char *path = flor__printf("%s/%s", dir, rel);
    if (!path)
        return flor__err(FLOR_ENOMEM, "out of memory");
    FILE *f = fopen(path, "wb");
    int rc = 0;
    if (!f || fwrite(text->p ? text->p : "", 1, text->len, f) != text->len)
        rc = flor__err(FLOR_EIO, "%s: %s", path, strerror(errno));
    if (f && fclose(f) != 0 && !rc)
        rc = flor__err(FLOR_EIO, "%s: %s", path, strerror(errno));
    free(path);
    return rc;
}

typedef struct carry {
    flor_project *p;
    const stmts *a;
    const char *vid; /* the run's */
    const char *dir;
    flor_table *t;
} carry;

static int add_row(carry *c, const stmt *s, const char *status, int at, const char *loops,
                   const char *reason)
{
    size_t r = flor__table_add_row(c->t);
    if (r == (size_t)-1)
        return flor__err(FLOR_ENOMEM, "out of memory");
    int rc = flor__table_set_text(c->t, r, 0, s->path);
    set_int(c->t, r, 1, s->line);
    if (!rc && s->name)
        rc = flor__table_set_text(c->t, r, 2, s->name);
    if (!rc)
        rc = flor__table_set_text(c->t, r, 3, status);
    if (at > 0)
        set_int(c->t, r, 4, at);
    if (!rc && loops)
        rc = flor__table_set_text(c->t, r, 5, loops);
    if (!rc && reason)
        rc = flor__table_set_text(c->t, r, 6, reason);
    if (!rc)
        rc = flor__table_set_text(c->t, r, 7, s->helper ? "helper" : "statement");
    return rc;
}

/* The statements A->v[FROM .. TO), all of one file, into that file. */
static int carry_file(carry *c, size_t from, size_t to)
{
    const stmt *first = &c->a->v[from];
    flor__buf base = {0}, cur = {0}, theirs = {0}, merged = {0};
    unsigned mode;
    char *reason = NULL;
    int rc = flor__git_file(c->p->place.root, c->a->base_vid, first->path, &base, &mode);
    if (rc == FLOR_ENOTFOUND)
        reason = flor__printf("%s is new since the latest recorded version (%.12s)", first->path,
                              c->a->base_vid);
    else if (!rc && (rc = flor__git_file(c->p->place.root, c->vid, first->path, &cur, &mode)) ==
                        FLOR_ENOTFOUND)
        reason = flor__printf("%s is not in this version", first->path);
    if (reason) {
        flor__err_clear();
        rc = 0;
        for (size_t i = from; !rc && i < to; i++)
            rc = add_row(c, &c->a->v[i], "conflict", 0, NULL, reason);
        free(reason);
        goto out;
    }
    int changed = 0;
    for (size_t i = from, j; !rc && i < to; i = j) {
        for (j = i + 1; j < to && c->a->v[j].anchor == c->a->v[i].anchor;)
            j++; /* the entries of one hunk merge together */
        int clean = 0;
        rc = insert_at(&base, &c->a->v[i], j - i, &theirs);
        if (!rc)
            rc = flor__git_merge3(first->path, &base, &cur, &theirs, &merged, &clean);
        if (rc)
            break;
        if (!clean) {
            for (size_t k = i; !rc && k < j; k++)
                rc = add_row(c, &c->a->v[k], "conflict", 0, NULL,
                             "the code around it differs in this version");
            continue;
        }
        int at = first_difference(&cur, &merged);
        for (size_t k = i; !rc && k < j; k++) {
            const stmt *s = &c->a->v[k];
            char *loops = NULL;
            if (!s->helper)
                rc = flor__source_loops(s->lang, merged.p, merged.len, at, &loops);
            if (!rc)
                rc = add_row(c, s, "carried", at, loops, NULL);
            free(loops);
            at += s->nlines;
        }
        flor__buf swap = cur;
        cur = merged;
        merged = swap;
        changed = 1;
    }
    if (!rc && changed)
        rc = write_file(c->dir, first->path, &cur);
out:
    flor__buf_release(&base);
    flor__buf_release(&cur);
    flor__buf_release(&theirs);
    flor__buf_release(&merged);
    return rc;
}

int flor_project_carry(flor_project *p, int64_t run, const char *dir, const char *const *names,
                       size_t n, flor_table **out)
{
    static const char *const cols[] = {"file", "line", "name", "status", "at", "loops", "reason",
                                       "kind"};
    *out = NULL;
    flor__err_clear();
    if (!dir || !*dir)
        return flor__err(FLOR_EINVAL, "carry: no directory given");
    stmts a;
    char *vid = NULL;
    int rc = collect(p, names, n, &a);
    if (!rc && statement_count(&a) == 0)
        rc = flor__err(FLOR_ENOTFOUND,
                       "no logging statement%s was added to the working tree since the latest "
                       "recorded version (%.12s, run %lld)",
                       n ? " of the names given" : "", a.base_vid, (long long)a.base_run);
    if (!rc)
        rc = flor__run_commit(p, run, &vid);
    if (!rc)
        rc = flor__checkout_dir(dir);
    if (!rc)
        rc = flor__git_checkout(p->place.root, vid, dir);
    if (!rc)
        rc = flor__git_link_data(p->place.root, dir, p->place.datadir);
    carry c = {p, &a, vid, dir, rc ? NULL : flor__table_new(8, cols)};
    if (!rc && !c.t)
        rc = flor__err(FLOR_ENOMEM, "out of memory");
    for (size_t i = 0, j; !rc && i < a.n; i = j) {
        for (j = i + 1; j < a.n && strcmp(a.v[j].path, a.v[i].path) == 0;)
            j++;
        rc = carry_file(&c, i, j);
    }
    free(vid);
    stmts_release(&a);
    if (rc) {
        flor_table_free(c.t);
        return rc;
    }
    *out = c.t;
    return 0;
}
