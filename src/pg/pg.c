/*
 * pg.c -- a connection to a team's PostgreSQL: opening it by URL, running
 * statements, read-only transactions with a timeout, and the server's
 * answers as flor's error codes.  No message names a password: the URL is
 * shown as postgresql://USER@HOST:PORT/DB, and any text of libpq's that
 * could quote the URL has the password replaced by "***".
 */
#include "base/base.h"
#include "pg/pg.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

struct flor__pg {
    PGconn *conn;
    char *where;
    flor__buf copy; /* rows of a COPY not sent yet */
    int copy_err;   /* the first failure of this COPY's rows */
};

/* ---- secrets kept out of messages --------------------------------------- */

/* The password as it is written in URL: "postgresql://USER:PASSWORD@HOST"
 * or "... password=PASSWORD ..." (maybe quoted); NULL when none.  Found
 * by hand, as it is needed where libpq could not parse URL. */
static char *written_password(const char *url)
{
    const char *s = strstr(url, "://");
    if (s) {
        s += 3;
        size_t auth = strcspn(s, "/?#");
        const char *at = NULL;
        for (const char *p = s; p < s + auth; p++)
            if (*p == '@')
                at = p;
        if (!at)
            return NULL;
        const char *colon = memchr(s, ':', (size_t)(at - s));
        if (!colon || colon + 1 == at)
            return NULL;
        return strndup(colon + 1, (size_t)(at - colon - 1));
    }
    const char *p = strstr(url, "password");
    while (p && p != url && p[-1] != ' ' && p[-1] != '\t')
        p = strstr(p + 1, "password");
    if (!p)
        return NULL;
    p += strlen("password");
    while (*p == ' ')
        p++;
    if (*p++ != '=')
        return NULL;
    while (*p == ' ')
        p++;
    if (*p == '\'') {
        p++;
        return strndup(p, strcspn(p, "'"));
    }
    size_t n = strcspn(p, " \t");
    return n ? strndup(p, n) : NULL;
}

/* Replaces every occurrence of SECRET (when not NULL or empty) in the
 * malloc'd string S by "***"; returns the new string (S is freed). */
static char *scrub(char *s, const char *secret)
{
    if (!s || !secret || !*secret)
        return s;
    flor__buf b = {0};
    size_t n = strlen(secret);
    const char *p = s, *hit;
    while ((hit = strstr(p, secret))) {
        flor__buf_add(&b, p, (size_t)(hit - p));
        flor__buf_puts(&b, "***");
        p = hit + n;
    }
    flor__buf_puts(&b, p);
    free(s);
    return b.p ? b.p : flor__strdup("");
}

/* libpq's message on one line, without its trailing newline, scrubbed of
 * both spellings of the password. */
static char *one_line(const char *msg, const char *written, const char *parsed)
{
    char *s = flor__strdup(msg ? msg : "");
    if (!s)
        return NULL;
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = 0;
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    return scrub(scrub(s, written), parsed);
}

/* "postgresql://USER@HOST:PORT/DB" from a connection, failed or not. */
static char *where_of(PGconn *c)
{
    const char *user = c ? PQuser(c) : NULL, *host = c ? PQhost(c) : NULL;
    const char *port = c ? PQport(c) : NULL, *db = c ? PQdb(c) : NULL;
    return flor__printf("postgresql://%s%s%s:%s/%s", user && *user ? user : "",
                        user && *user ? "@" : "", host && *host ? host : "localhost",
                        port && *port ? port : "5432", db && *db ? db : "");
}

/* Notices (a table that already exists, a drop that cascades) are not
 * flor's to print: the library prints only through its warning path. */
static void quiet_notice(void *arg, const char *message)
{
    (void)arg, (void)message;
}

char *flor__pg_url_shown(const char *url, int *has_password)
{
    char *written = url ? written_password(url) : NULL;
    if (has_password)
        *has_password = written && *written;
    char *shown = scrub(flor__strdup(url ? url : ""), written);
    free(written);
    return shown;
}

/* ---- connecting ------------------------------------------------------------ */

int flor__pg_connect(flor__pg **out, const char *url, int timeout_s)
{
    *out = NULL;
    if (!url || !*url)
        return flor__err(FLOR_EINVAL, "postgresql: expected a URL (postgresql://USER@HOST:PORT/DB), got an empty one");
    char *written = written_password(url);
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    if (!opts) {
        char *why = one_line(perr ? perr : "out of memory", written, NULL);
        char *shown = scrub(flor__strdup(url), written);
        int rc = flor__err(FLOR_EINVAL,
                           "postgresql: '%s': expected a URL postgresql://USER@HOST:PORT/DB "
                           "or key=value settings: %s",
                           shown ? shown : "", why ? why : "");
        free(why), free(shown), free(written);
        PQfreemem(perr);
        return rc;
    }
    char *parsed = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val)
            parsed = flor__strdup(o->val);
    PQconninfoFree(opts);

    /* The URL's own connect_timeout wins over TIMEOUT_S: expanded from
     * dbname, it overrides the keywords before it. */
    char tmo[16];
    snprintf(tmo, sizeof tmo, "%d", timeout_s > 0 ? timeout_s : 10);
    const char *keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
    const char *vals[] = {tmo, "flor", url, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    int rc = 0;
    char *where = where_of(c);
    if (!c || !where) {
        rc = flor__err(FLOR_ENOMEM, "postgresql: out of memory connecting");
    } else if (PQstatus(c) != CONNECTION_OK) {
        char *why = one_line(PQerrorMessage(c), written, parsed);
        const char *w = why ? why : "";
        if (PQconnectionNeedsPassword(c))
            rc = flor__err(FLOR_EINVAL,
                           "%s: the server asks for a password and none was given "
                           "(in the URL, PGPASSWORD, ~/.pgpass or a service file): %s",
                           where, w);
        else if (strstr(w, "authentication failed"))
            rc = flor__err(FLOR_EINVAL, "%s: login refused (wrong user or password?): %s", where, w);
        else if (strstr(w, "does not exist"))
            rc = flor__err(FLOR_ENOTFOUND, "%s: %s", where, w);
        else
            rc = flor__err(FLOR_EIO, "%s: cannot connect: %s", where, w);
        free(why);
    }
    free(written), free(parsed);
    if (rc != 0) {
        PQfinish(c);
        free(where);
        return rc;
    }
    flor__pg *pg = calloc(1, sizeof *pg);
    if (!pg) {
        PQfinish(c);
        free(where);
        return flor__err(FLOR_ENOMEM, "postgresql: out of memory");
    }
    pg->conn = c, pg->where = where;
    PQsetNoticeProcessor(c, quiet_notice, NULL);
    *out = pg;
    return 0;
}

void flor__pg_close(flor__pg *pg)
{
    if (!pg)
        return;
    PQfinish(pg->conn);
    free(pg->where);
    flor__buf_release(&pg->copy);
    free(pg);
}

const char *flor__pg_where(const flor__pg *pg)
{
    return pg ? pg->where : "postgresql://";
}

/* ---- statements --------------------------------------------------------- */

/* The first words of SQL, for messages. */
static void sql_head(const char *sql, char *out, size_t n)
{
    size_t j = 0;
    int space = 0;
    for (const char *p = sql; *p && j + 4 < n; p++) {
        if (*p == ' ' || *p == '\n' || *p == '\t') {
            space = j > 0;
            continue;
        }
        if (space)
            out[j++] = ' ', space = 0;
        out[j++] = *p;
    }
    if (j + 4 >= n)
        memcpy(out + j, "...", 3), j += 3;
    out[j] = 0;
}

/* The failure of a statement as flor's code and message. */
static int result_err(flor__pg *pg, PGresult *r, const char *sql)
{
    char head[64];
    sql_head(sql, head, sizeof head);
    if (!r || PQstatus(pg->conn) != CONNECTION_OK) {
        char *why = one_line(PQerrorMessage(pg->conn), NULL, NULL);
        int rc = flor__err(FLOR_EIO, "%s: the connection was lost (%s): %s", pg->where, head,
                           why && *why ? why : "no answer");
        free(why);
        return rc;
    }
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    if (!state)
        state = "";
    if (!msg)
        msg = PQresultErrorMessage(r);
    int code = FLOR_EINVAL;
    if (strcmp(state, "57014") == 0 || strncmp(state, "08", 2) == 0 ||
        strncmp(state, "57P", 3) == 0 || strncmp(state, "53", 2) == 0 ||
        strncmp(state, "58", 2) == 0 || strncmp(state, "XX", 2) == 0 ||
        strncmp(state, "40", 2) == 0)
        code = FLOR_EIO;
    else if (strcmp(state, "3D000") == 0 || strcmp(state, "42P01") == 0)
        code = FLOR_ENOTFOUND;
    char *why = one_line(msg, NULL, NULL);
    int rc = flor__err(code, "%s: %s: %s (SQLSTATE %s)", pg->where, head, why ? why : "", state);
    free(why);
    return rc;
}

int flor__pg_exec(flor__pg *pg, const char *sql)
{
    PGresult *r = PQexec(pg->conn, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : result_err(pg, r, sql);
    PQclear(r);
    return rc;
}

int flor__pg_execp(flor__pg *pg, const char *sql, int nparams, const char *const *params,
                   int64_t *rows)
{
    PGresult *r = PQexecParams(pg->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int rc = 0;
    if (st == PGRES_TUPLES_OK) {
        if (rows)
            *rows = PQntuples(r);
    } else if (st == PGRES_COMMAND_OK) {
        if (rows)
            *rows = strtoll(PQcmdTuples(r), NULL, 10);
    } else {
        rc = result_err(pg, r, sql);
    }
    PQclear(r);
    return rc;
}

int flor__pg_scalar(flor__pg *pg, const char *sql, int nparams, const char *const *params,
                    char *buf, size_t n)
{
    PGresult *r = PQexecParams(pg->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = result_err(pg, r, sql);
    } else if (PQntuples(r) < 1 || PQnfields(r) < 1) {
        char head[64];
        sql_head(sql, head, sizeof head);
        rc = flor__err(FLOR_ENOTFOUND, "%s: %s: no row", pg->where, head);
    } else if (n) {
        snprintf(buf, n, "%s", PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    return rc;
}

/* ---- transactions ------------------------------------------------------- */

/* Runs BEGIN (a BEGIN statement) and sets the transaction's statement
 * timeout to TIMEOUT_MS when it is > 0. */
static int begin_with_timeout(flor__pg *pg, const char *begin, int timeout_ms)
{
    int rc = flor__pg_exec(pg, begin);
    if (rc != 0 || timeout_ms <= 0)
        return rc;
    char sql[64];
    snprintf(sql, sizeof sql, "SET LOCAL statement_timeout = %d", timeout_ms);
    rc = flor__pg_exec(pg, sql);
    if (rc != 0)
        PQclear(PQexec(pg->conn, "ROLLBACK"));
    return rc;
}

int flor__pg_begin_read(flor__pg *pg, int timeout_ms)
{
    return begin_with_timeout(pg, "BEGIN TRANSACTION READ ONLY", timeout_ms);
}

int flor__pg_begin_snapshot(flor__pg *pg, int timeout_ms)
{
    return begin_with_timeout(pg, "BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY",
                              timeout_ms);
}

int flor__pg_begin(flor__pg *pg)
{
    return flor__pg_exec(pg, "BEGIN");
}

int flor__pg_end(flor__pg *pg, int commit)
{
    if (commit) {
        PGresult *r = PQexec(pg->conn, "COMMIT");
        int rc = 0;
        if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = result_err(pg, r, "COMMIT");
        else if (strcmp(PQcmdStatus(r), "ROLLBACK") == 0)
            /* A transaction a statement failed in: the server rolls it
             * back and says so only by the command tag. */
            rc = flor__err(FLOR_EINVAL, "%s: COMMIT: the transaction had failed and was rolled back",
                           pg->where);
        PQclear(r);
        return rc;
    }
    /* A rollback's failure (a lost connection) changes nothing: the server
     * rolls back what a lost connection left open. */
    PQclear(PQexec(pg->conn, "ROLLBACK"));
    return 0;
}

/* ---- COPY ---------------------------------------------------------------- */

#define COPY_FLUSH (256 * 1024)

int flor__pg_copy_begin(flor__pg *pg, const char *sql)
{
    PGresult *r = PQexec(pg->conn, sql);
    int rc = r && PQresultStatus(r) == PGRES_COPY_IN ? 0 : result_err(pg, r, sql);
    PQclear(r);
    pg->copy.len = 0;
    pg->copy_err = 0;
    return rc;
}

static int copy_send(flor__pg *pg)
{
    if (pg->copy.len && PQputCopyData(pg->conn, pg->copy.p, (int)pg->copy.len) != 1) {
        char *why = one_line(PQerrorMessage(pg->conn), NULL, NULL);
        pg->copy_err = flor__err(FLOR_EIO, "%s: COPY: the rows could not be sent: %s", pg->where,
                                 why ? why : "");
        free(why);
    }
    pg->copy.len = 0;
    return pg->copy_err;
}

int flor__pg_copy_row(flor__pg *pg, int n, const char *const *vals)
{
    if (pg->copy_err)
        return pg->copy_err;
    flor__buf *b = &pg->copy;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (i)
            rc = flor__buf_add(b, "\t", 1);
        if (!vals[i]) {
            rc = rc ? rc : flor__buf_add(b, "\\N", 2);
            continue;
        }
        const char *p = vals[i], *run = p;
        for (; *p && rc == 0; p++) {
            const char *esc = *p == '\\' ? "\\\\" : *p == '\n' ? "\\n" : *p == '\r' ? "\\r"
                            : *p == '\t' ? "\\t" : NULL;
            if (!esc)
                continue;
            rc = flor__buf_add(b, run, (size_t)(p - run));
            rc = rc ? rc : flor__buf_add(b, esc, 2);
            run = p + 1;
        }
        rc = rc ? rc : flor__buf_add(b, run, (size_t)(p - run));
    }
    rc = rc ? rc : flor__buf_add(b, "\n", 1);
    if (rc != 0)
        return pg->copy_err = flor__err(FLOR_ENOMEM, "%s: COPY: out of memory", pg->where);
    return b->len >= COPY_FLUSH ? copy_send(pg) : 0;
}

int flor__pg_copy_end(flor__pg *pg)
{
    int rc = pg->copy_err ? pg->copy_err : copy_send(pg);
    if (PQputCopyEnd(pg->conn, rc ? "flor: the rows could not be read" : NULL) != 1 && rc == 0)
        rc = flor__err(FLOR_EIO, "%s: COPY: the end could not be sent", pg->where);
    PGresult *r;
    while ((r = PQgetResult(pg->conn))) {
        if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = result_err(pg, r, "COPY");
        PQclear(r);
    }
    if (rc == 0 && PQstatus(pg->conn) != CONNECTION_OK)
        rc = result_err(pg, NULL, "COPY");
    pg->copy_err = 0;
    return rc;
}

/* ---- COPY out ------------------------------------------------------------ */

/* Splits one row of COPY's text format (LINE, LEN bytes with its newline)
 * into fields in place, undoing the escapes; \N is NULL. */
static int split_row(char *line, int len, char ***fields, int *cap, int *n)
{
    *n = 0;
    if (len > 0 && line[len - 1] == '\n')
        len--;
    char *end = line + len, *p = line;
    for (;;) {
        if (*n == *cap) {
            int ncap = *cap ? *cap * 2 : 16;
            char **f = realloc(*fields, (size_t)ncap * sizeof *f);
            if (!f)
                return FLOR_ENOMEM;
            *fields = f, *cap = ncap;
        }
        char *start = p, *out = p;
        int null = end - p >= 2 && p[0] == '\\' && p[1] == 'N' && (end - p == 2 || p[2] == '\t');
        while (p < end && *p != '\t') {
            if (*p == '\\' && p + 1 < end) {
                char c = p[1];
                *out++ = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == 'b' ? '\b'
                       : c == 'f' ? '\f' : c == 'v' ? '\v' : c;
                p += 2;
            } else {
                *out++ = *p++;
            }
        }
        int last = p >= end;
        *out = 0; /* over the tab or the newline (or the row's end, which libpq NUL-terminates) */
        (*fields)[(*n)++] = null ? NULL : start;
        if (last)
            return 0;
        p++;
    }
}

int flor__pg_copy_out(flor__pg *pg, const char *sql, flor__pg_row_fn fn, void *ctx)
{
    PGresult *r = PQexec(pg->conn, sql);
    if (!r || PQresultStatus(r) != PGRES_COPY_OUT) {
        int rc = result_err(pg, r, sql);
        PQclear(r);
        return rc;
    }
    PQclear(r);
    char **fields = NULL;
    int cap = 0, n = 0, rc = 0, len;
    char *line = NULL;
    while ((len = PQgetCopyData(pg->conn, &line, 0)) > 0) {
        if (rc == 0) {
            if (split_row(line, len, &fields, &cap, &n) != 0)
                rc = flor__err(FLOR_ENOMEM, "%s: COPY: out of memory", pg->where);
            else
                rc = fn(ctx, n, fields);
        }
        PQfreemem(line);
        line = NULL;
    }
    free(fields);
    if (len == -2 && rc == 0)
        rc = result_err(pg, NULL, sql);
    while ((r = PQgetResult(pg->conn))) {
        if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = result_err(pg, r, sql);
        PQclear(r);
    }
    return rc;
}

char *flor__pg_literal(flor__pg *pg, const char *s)
{
    char *q = PQescapeLiteral(pg->conn, s, strlen(s));
    char *out = q ? flor__strdup(q) : NULL;
    PQfreemem(q);
    return out;
}

/* ---- a query's rows ------------------------------------------------------- */

int flor__pg_query(flor__pg *pg, const char *sql, flor__pg_cols_fn cols, flor__pg_row_fn fn,
                   void *ctx)
{
    /* the extended protocol: one statement, never a second one after it */
    PGresult *r = PQexecParams(pg->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        int rc = result_err(pg, r, sql);
        PQclear(r);
        return rc;
    }
    int n = PQnfields(r), rows = PQntuples(r), rc = 0;
    const char **names = calloc((size_t)n + 1, sizeof *names);
    char *kinds = calloc((size_t)n + 1, 1);
    char **vals = calloc((size_t)n + 1, sizeof *vals);
    if (!names || !kinds || !vals)
        rc = flor__err(FLOR_ENOMEM, "%s: out of memory reading the rows", pg->where);
    for (int c = 0; c < n && rc == 0; c++) {
        names[c] = PQfname(r, c);
        Oid t = PQftype(r, c);
        kinds[c] = t == 20 || t == 21 || t == 23 || t == 26 ? 'i'
                 : t == 700 || t == 701 || t == 1700      ? 'r'
                 : t == 16                                  ? 'b' : 't';
    }
    if (rc == 0)
        rc = cols(ctx, n, names, kinds);
    for (int i = 0; i < rows && rc == 0; i++) {
        for (int c = 0; c < n; c++)
            vals[c] = PQgetisnull(r, i, c) ? NULL : PQgetvalue(r, i, c);
        rc = fn(ctx, n, vals);
    }
    free(names), free(kinds), free(vals);
    PQclear(r);
    return rc;
}
