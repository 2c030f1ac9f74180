/*
 * pg/pg.h -- a team's database in PostgreSQL (private to libflor): the
 * layer over libpq that connects by URL, turns the server's answers into
 * flor's error codes, and makes or checks flor's tables there.  It calls
 * base/ and libpq only.  docs/team.md ("A team's runs in PostgreSQL") is
 * its design note: each checkout's SQLite database stays its journal, and
 * a replicator copies its rows here; readers read the team's rows here.
 *
 * Conventions: every int function returns 0 or a negative FLOR_E* code and
 * sets the thread's message (flor_errmsg()), which names the server as
 * "postgresql://USER@HOST:PORT/DB" and never a password.  The codes:
 *
 *   FLOR_EINVAL     a malformed URL; a refused login (wrong password, no
 *                   password where one is needed, a role that may not log
 *                   in); SQL the server rejects; a write in a read-only
 *                   transaction; a database that holds another program's
 *                   tables, or flor's tables of a newer schema
 *   FLOR_ENOTFOUND  the database or the role does not exist
 *   FLOR_EIO        the server could not be reached, or the connection was
 *                   lost, or a statement ran past its timeout
 *   FLOR_ENOMEM
 *
 * A connection (flor__pg) is one libpq connection: use it from one thread
 * at a time.
 */
#ifndef FLOR_PG_H
#define FLOR_PG_H

#include <stddef.h>
#include <stdint.h>

typedef struct flor__pg flor__pg;

/* The version of flor's tables in PostgreSQL that this flor makes (the
 * row `schema_version` of `flor_meta`). */
#define FLOR__PG_SCHEMA_VERSION 2

/* Connects to URL: a libpq connection URI ("postgresql://USER@HOST:PORT/DB?
 * sslmode=require", "postgres://..."), or a key=value conninfo string
 * ("service=team dbname=runs").  The password is libpq's to find: the URL's
 * own, else PGPASSWORD, else ~/.pgpass (PGPASSFILE), else the service file
 * (PGSERVICEFILE, ~/.pg_service.conf); the other PG* variables fill what the
 * URL leaves out.  TIMEOUT_S (> 0) bounds the connection's setup unless the
 * URL gives connect_timeout.  The session gets application_name "flor" and
 * the time zone UTC.  On failure *OUT is NULL. */
int flor__pg_connect(flor__pg **out, const char *url, int timeout_s);
void flor__pg_close(flor__pg *pg);

/* URL as it may be shown: a password written in it replaced by "***"
 * (malloc'd; NULL when out of memory).  *HAS_PASSWORD (when not NULL):
 * whether URL has one written in it. */
char *flor__pg_url_shown(const char *url, int *has_password);

/* "postgresql://USER@HOST:PORT/DB": the server, for messages (no password). */
const char *flor__pg_where(const flor__pg *pg);

/* Runs SQL (one or more statements, no parameters, results discarded). */
int flor__pg_exec(flor__pg *pg, const char *sql);

/* Runs SQL (one statement) with NPARAMS text parameters ($1 ..; a NULL
 * is SQL NULL).  When ROWS is not NULL, *ROWS is the number of rows the
 * statement returned or changed. */
int flor__pg_execp(flor__pg *pg, const char *sql, int nparams, const char *const *params,
                   int64_t *rows);

/* Runs a query of one column and one row and copies its text into BUF
 * (N bytes); an empty string for SQL NULL; FLOR_ENOTFOUND for no row. */
int flor__pg_scalar(flor__pg *pg, const char *sql, int nparams, const char *const *params,
                    char *buf, size_t n);

/* Transactions.  flor__pg_begin_read() begins a READ ONLY transaction in
 * which every statement is canceled after TIMEOUT_MS (> 0; the server's
 * setting otherwise): a write in it fails with FLOR_EINVAL, a statement
 * past the timeout with FLOR_EIO.  flor__pg_begin() begins a read-write
 * one.  flor__pg_end() commits (COMMIT != 0) or rolls back. */
int flor__pg_begin_read(flor__pg *pg, int timeout_ms);
int flor__pg_begin(flor__pg *pg);
/* Begins a READ ONLY transaction of isolation REPEATABLE READ, so every
 * statement in it reads one snapshot of the database, with the statement
 * timeout of flor__pg_begin_read(). */
int flor__pg_begin_snapshot(flor__pg *pg, int timeout_ms);
int flor__pg_end(flor__pg *pg, int commit);

/* COPY, for many rows at once: flor__pg_copy_begin() runs SQL, a "COPY
 * TABLE (COLUMNS) FROM STDIN" (text format); flor__pg_copy_row() adds a
 * row of N text values (NULL: SQL NULL), escaped and buffered;
 * flor__pg_copy_end() sends the rest and returns the server's verdict
 * (after a failed row, it ends the COPY and returns that failure). */
int flor__pg_copy_begin(flor__pg *pg, const char *sql);
int flor__pg_copy_row(flor__pg *pg, int n, const char *const *vals);
int flor__pg_copy_end(flor__pg *pg);

/* COPY out, for reading many rows at once: runs SQL, a "COPY (SELECT ...)
 * TO STDOUT" (text format), and calls FN once per row with its N fields
 * as text (NULL: SQL NULL), valid during the call only; FN may change
 * them.  FN's failure stops the reading (the rest is drained) and is
 * returned. */
typedef int (*flor__pg_row_fn)(void *ctx, int n, char **vals);
int flor__pg_copy_out(flor__pg *pg, const char *sql, flor__pg_row_fn fn, void *ctx);

/* Runs SQL, one statement (a second one is refused by the server), and
 * calls COLS once with its N column names and kinds ('i' an integer, 'r'
 * a number, 'b' a boolean, 't' anything else, as text), then FN once
 * per row with its values as text (NULL: SQL NULL). */
typedef int (*flor__pg_cols_fn)(void *ctx, int n, const char *const *names, const char *kinds);
int flor__pg_query(flor__pg *pg, const char *sql, flor__pg_cols_fn cols, flor__pg_row_fn fn,
                   void *ctx);

/* S as an SQL string literal for PG's connection ('...', quotes doubled,
 * E'...' where it holds a backslash), malloc'd; NULL on ENOMEM. */
char *flor__pg_literal(flor__pg *pg, const char *s);

/* ---- schema.c: flor's tables --------------------------------------------- */

/* Makes flor's tables in the connection's current schema (search_path's
 * first), or checks those there: a database (schema) with no tables gets
 * them, in one transaction under an advisory lock (two checkouts starting
 * at once make them once); one with flor's tables of this version is
 * used as it is.  Refused, changing nothing: tables that are not flor's
 * (FLOR_EINVAL, "a database of another program", naming one), flor's
 * tables of a newer schema (FLOR_EINVAL), a flor_meta that does not say
 * it is flor's (FLOR_EINVAL).  Tables of an older version are brought up
 * to this one in the same transaction. */
int flor__pg_schema(flor__pg *pg);

#endif
