/*
 * team/team.h -- a team's runs in PostgreSQL (private to libflor): the
 * replicator, which copies the rows of a checkout's SQLite journal to the
 * team's PostgreSQL database, exactly once.  It calls pg/, db/ and base/.
 * docs/team.md ("A team's runs in PostgreSQL") is the design.
 *
 * Conventions as in pg/pg.h: 0 or a negative FLOR_E* code with the
 * thread's message; a message names the server, never a password.
 */
#ifndef FLOR_TEAM_H
#define FLOR_TEAM_H

#include "flor.h"
#include "pg/pg.h"

#include <sqlite3.h>
#include <stdint.h>

/* What a replicator sent already: the runs (rows and args) as last
 * committed, so that a copy sends only those that changed.  One per
 * replicator that copies again and again; NULL: send every run. */
typedef struct flor__team_seen flor__team_seen;
flor__team_seen *flor__team_seen_new(void);
void flor__team_seen_free(flor__team_seen *s);

/* Who is copying: every row it copies is keyed by ID on the server. */
typedef struct flor__team_checkout {
    const char *id;     /* the checkout's id, unique in the team's database */
    const char *projid; /* the project's name (runs.projid) */
    const char *host;   /* the machine it is on */
    const char *path;   /* its directory there */
    flor__team_seen *seen; /* NULL, or what this replicator sent before */
} flor__team_checkout;

typedef struct flor__team_sync_stats {
    int64_t runs; /* run rows the server got or that changed there */
    int64_t logs; /* log rows the server got */
} flor__team_sync_stats;

/* Copies to PG (whose flor tables flor__pg_schema() made or checked) the
 * rows of DB's runs, args, loops and logs that the server lacks, as
 * checkout CO:
 *
 *   - every run's row and its args, inserted or brought up to date (a run
 *     that ended, a resumed run), in one transaction (with CO->seen, only
 *     the runs that changed since);
 *   - a run resumed since its rows were copied: its logs and loops on the
 *     server replaced by the journal's, in one transaction per run;
 *   - the logs above the checkout's high-water mark on the server (the
 *     largest local rowid copied: flor_sync's row (CO->id, 'logs')), in
 *     transactions of at most 20,000 rows (sent by COPY) that move the
 *     mark with the rows, so a copy cut off anywhere (the server stopped, the process killed)
 *     leaves each row on the server once or not yet, and the next call
 *     goes on from there.  The loop iterations the logs are in go in the
 *     same transaction (flor_loops.upto is the mark it set).  A value recomputed by a later replay replaces
 *     the one an earlier replay stored at the same place, as locally.
 *
 * Reads DB only: the journal is never changed.  Refused (FLOR_EINVAL,
 * copying nothing): CO->id already copied from another host or path (a
 * copied .flor directory would mix two journals' rows).  ST, when not
 * NULL, gets the counts (also when a later transaction fails). */
int flor__team_sync(sqlite3 *db, flor__pg *pg, const flor__team_checkout *co,
                    flor__team_sync_stats *st);

/* Where checkout CHECKOUT (NULL: none yet) stands on PG: *COPIED, its logs
 * there; *PENDING, the logs of DB above its mark (all of them when it has
 * none), which a copy has yet to send. */
int flor__team_copied(sqlite3 *db, flor__pg *pg, const char *checkout, int64_t *copied,
                      int64_t *pending);

/* ---- mirror.c: a team's read replica ------------------------------------ */

typedef struct flor__team_refresh_stats {
    int64_t logs, loops; /* rows read from the server */
    int64_t regrown;     /* runs whose resumes grew: read whole */
} flor__team_refresh_stats;

/* Brings DB, a team's read replica (flor__db_open_replica), up to the
 * server PG, whose URL (shown: no password) it records: in one read-only
 * REPEATABLE READ transaction on PG (each statement bounded by TIMEOUT_MS)
 * and one write transaction on DB, so a refresh cut off anywhere leaves
 * the replica as it was.  It reads every checkout's log mark M (flor_sync);
 * every run (renumbered into DB's run ids, the same on every refresh) and
 * arg; for each checkout the logs and loops copied after the replica's mark
 * and up to M (a run whose resumes grew: all of its logs and loops up to
 * M, replacing the replica's); then moves the marks to M.  A replayed
 * value replaces the earlier replay's at the same place.  FLOR_EINVAL
 * for flor's tables of schema version 1 there (no args, loops, resumes).
 * ST, when not NULL, gets the counts. */
int flor__team_refresh(sqlite3 *db, flor__pg *pg, const char *url, int timeout_ms,
                       flor__team_refresh_stats *st);
/* When DB, a replica, was last refreshed (unix seconds; 0: never). */
int flor__team_refreshed(sqlite3 *db, double *when);

/* ---- query.c: SQL on the team's server ------------------------------------ */

/* Runs SQL, one statement, on PG in a read-only transaction whose
 * statements stop after TIMEOUT_MS (<= 0: the server's setting), and
 * returns its rows as a new table: integers and numbers as such (a
 * boolean as 1 or 0), the rest as text.  FLOR_EINVAL for SQL the server
 * rejects or a write; FLOR_EIO past the timeout or for a lost server. */
int flor__team_query(flor__pg *pg, const char *sql, int timeout_ms, flor_table **out);

#endif
