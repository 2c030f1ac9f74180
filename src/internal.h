/*
 * internal.h -- declarations shared by libflor's modules.  Nothing here is
 * exported: public names start with flor_, internal ones with flor__.
 * Each module (one noun per file) lists its part below.
 */
#ifndef FLOR_INTERNAL_H
#define FLOR_INTERNAL_H

#include "flor.h"
#include "store.h"

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

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
/* Maps an SQLite result code to a flor code, with the database's message. */
int flor__err_sqlite(sqlite3 *db, int rc, const char *what);

/* ---- util.c: strings and small helpers ---------------------------------- */

char *flor__strdup(const char *s);                       /* NULL on ENOMEM */
char *flor__printf(const char *fmt, ...) FLOR__PRINTF(1, 2); /* malloc'd */
double flor__now(void);                                  /* unix seconds */
/* Removes ARGV[I .. I+N), keeping the order and the NULL terminator. */
void flor__argv_remove(int *argc, char **argv, int i, int n);
uint64_t flor__hash_str(const char *s);                  /* FNV-1a */
double flor__mono(void);                                 /* monotonic seconds */
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

/* ---- project.c: where a project and its data live ----------------------- */

typedef struct flor__place {
    char *root;     /* project root: the git work tree, or the cwd */
    char *projid;   /* base name of root */
    char *datadir;  /* FLOR_DIR or ROOT/.flor */
    char *gitdir;   /* the .git directory, or NULL outside git */
} flor__place;

/* Finds the project containing DIR (NULL: cwd).  Does not create anything. */
int flor__place_find(flor__place *pl, const char *dir);
/* Creates the data directory and adds it to .git/info/exclude. */
int flor__place_prepare(const flor__place *pl);
void flor__place_release(flor__place *pl);

struct flor_project {
    flor__place place;
    sqlite3 *db;
    flor__store *store; /* opened on first use */
    sqlite3 *qdb;       /* flor_project_query's read-only connection, opened on first use */
    double timeout_s;   /* flor_project_set_timeout; 0: none */
    double deadline;    /* of the query under way (flor__mono() clock) */
    int timed_out;
    volatile sig_atomic_t interrupted; /* flor_project_interrupt */
};

/* Opens P's checkpoint store (DATADIR/objects) if it is not open yet. */
int flor__project_store(flor_project *p);

/* ---- db.c: the SQLite database, its schema and its upkeep --------------- */

/* 2: runs.reason (why a run failed); version 1 databases are migrated in
 * place by the first read-write open. */
#define FLOR__SCHEMA_VERSION 2
#define FLOR__STR_(x) #x
#define FLOR__STR(x) FLOR__STR_(x)

/* Opens DATADIR/flor.db.  CREATE: create it and its schema if missing.
 * READONLY: open with SQLITE_OPEN_READONLY (queries from the CLI). */
int flor__db_open(const char *datadir, int create, int readonly, sqlite3 **out);
/* FLOR_ECORRUPT, with a message that names DB's file, says it is damaged
 * (SQLite's RC and message) and how to recover; WHAT, if not NULL, first. */
int flor__db_damaged(sqlite3 *db, int rc, const char *what);
/* Marks runs whose process is gone as killed (same host only). */
int flor__db_reap(sqlite3 *db);
/* exec without results; wraps errors. */
int flor__db_exec(sqlite3 *db, const char *sql);
/* Runs FN in a BEGIN IMMEDIATE transaction, retrying while busy. */
int flor__db_begin(sqlite3 *db);
int flor__db_commit(sqlite3 *db);
void flor__db_rollback(sqlite3 *db);
/* Identity of this process that survives pid reuse: "bootid:starttime". */
char *flor__proc_identity(long pid);
/* Whether process PID, whose identity was IDENTITY (NULL: unknown), still
 * runs on this host: what the reaper and fsck go by. */
int flor__process_alive(long pid, const char *identity);
const char *flor__hostname(void);

/* SQLite stores a NaN as NULL, which would read as "not logged": a NaN is
 * stored as the text 'NaN' instead (docs/schema.md), and read back as a
 * NaN real by the dataframe.  +-Inf are REALs as they are. */
#define FLOR__NAN_TEXT "NaN"
static inline int flor__bind_real(sqlite3_stmt *st, int col, double v)
{
    if (v != v)
        return sqlite3_bind_text(st, col, FLOR__NAN_TEXT, -1, SQLITE_STATIC);
    return sqlite3_bind_double(st, col, v);
}

/* ---- table.c: the flor_table result object ------------------------------ */

typedef struct flor__cell {
    flor_type type;
    union {
        int64_t i;
        double r;
        char *s; /* owned by the table */
    } v;
} flor__cell;

struct flor_table {
    size_t ncols, nrows, cap;
    char **colnames;
    flor__cell *cells; /* nrows * ncols, row-major */
};

flor_table *flor__table_new(size_t ncols, const char *const *colnames);
/* Appends a row of NULL cells; returns its index, or (size_t)-1 on ENOMEM. */
size_t flor__table_add_row(flor_table *t);
flor__cell *flor__table_cell(flor_table *t, size_t row, size_t col);
int flor__table_set_text(flor_table *t, size_t row, size_t col, const char *s);
/* Copies an sqlite3_value (of any storage class) into a cell. */
int flor__table_set_value(flor_table *t, size_t row, size_t col, sqlite3_value *v);
int flor__table_set_column(flor_table *t, sqlite3_stmt *st, size_t row, size_t col, int stcol);
/* Runs a prepared statement and collects all its rows into a new table. */
int flor__table_from_stmt(sqlite3_stmt *st, flor_table **out);

/* ---- git.c: code versions ------------------------------------------------ */

/* The work tree and git directory of the repository containing DIR, both
 * malloc'd without a trailing slash; both NULL outside git (or bare). */
int flor__git_discover(const char *dir, char **workdir, char **gitdir);

/* Files larger than this are left out of code snapshots (with a warning). */
#define FLOR__CODE_MAX_FILE (50L * 1024 * 1024)
/* Commits the working tree of the repository whose work tree is ROOT --
 * tracked files as they are on disk, untracked files that are not ignored
 * -- with MESSAGE, on the branch flor.shadow (see the top of git.c), and
 * sets *VID to the commit id (malloc'd hex).  Touches neither HEAD nor
 * the index file nor the working files.  CACHE_PATH: a file in which
 * flor keeps stat data between snapshots, so that unchanged files are
 * not read again (NULL: none). */
int flor__git_snapshot(const char *root, const char *cache_path, const char *message,
                       char **vid);
/* 0 when commit VID is in the repository at ROOT; FLOR_ENOTFOUND (with a
 * message naming VID and the repository) when it is not. */
int flor__git_has_commit(const char *root, const char *vid);
/* Writes the tree of commit VID into the existing, empty directory DIR. */
int flor__git_checkout(const char *root, const char *vid, const char *dir);
/* Appends to OUT the unified diff from commit VID1's tree to VID2's. */
int flor__git_diff(const char *root, const char *vid1, const char *vid2, flor__buf *out);
/* Calls FN for each line of the working tree (tracked files as they are on
 * disk, untracked files that are not ignored) that is not in commit VID's
 * tree: PATH relative to the root, LINE its 1-based number in the working
 * file, ANCHOR the line of VID's file it comes after (0: the top), TEXT
 * (LEN bytes, with its newline if it has one).  FN returns 0 or an error,
 * which stops the walk and is returned. */
typedef int (*flor__git_added_fn)(void *ctx, const char *path, int line, int anchor,
                                  int replaces, const char *text, size_t len);
/* VID2 non-NULL: compares commit VID with commit VID2 instead of the working
 * tree (LINE is then the line in VID2's file).  REPLACES: the line's hunk
 * also removes lines of VID's file (an edit, not a pure insertion). */
int flor__git_added_lines(const char *root, const char *vid, const char *vid2,
                          flor__git_added_fn fn, void *ctx);
/* Every file of the working tree under ROOT that git ignores or does not
 * track and that commit-less directory DIR (a checkout) lacks, as a
 * symbolic link in DIR to the working tree's file; see flor_project_carry
 * for which are left out.  Returns 0 or an error. */
int flor__git_link_data(const char *root, const char *dir, const char *skip);
/* The content of PATH in commit VID, into OUT (replacing what it held), and
 * its git file mode.  FLOR_ENOTFOUND when VID has no file PATH. */
int flor__git_file(const char *root, const char *vid, const char *path, flor__buf *out,
                   unsigned *mode);
/* git's three-way merge of a file's text: OUT gets the result, *CLEAN is 1
 * when it merged without a conflict (else OUT holds conflict markers). */
int flor__git_merge3(const char *path, const flor__buf *base, const flor__buf *ours,
                     const flor__buf *theirs, flor__buf *out, int *clean);

/* ---- version.c: a run's code version ------------------------------------ */

/* The vid of run RUN, malloc'd, checked to be a commit of P's repository;
 * errors name the run (FLOR_ENOTFOUND: no such run, no vid, or not in the
 * repository). */
int flor__run_commit(flor_project *p, int64_t run, char **vid);
/* flor_project_checkout's check and creation of DIR: it must not exist or
 * be empty. */
int flor__checkout_dir(const char *dir);

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

/* ---- log.c: the in-memory record buffer --------------------------------- */

/* Every training-thread event is one fixed-size record in a block; text
 * bytes go to the block's text area.  The training thread is the only
 * writer of a block; it publishes records by a release store of `nrec`,
 * and the writer thread reads up to an acquire load of it. */
enum flor__rec_kind {
    FLOR__REC_LOG = 1,  /* name, ctx, value */
    FLOR__REC_CTX = 2,  /* ctx begins: ctx, parent, loop name, iteration */
    FLOR__REC_ARG = 3,  /* name, value, from_kwargs in `aux` */
};

typedef struct flor__rec {
    uint8_t kind;
    uint8_t type;     /* flor_type of the value */
    uint16_t aux;
    uint32_t name;    /* interned name id */
    int64_t ctx;      /* context id; 0 = outside any loop */
    int64_t parent;   /* REC_CTX: parent context id */
    union {
        int64_t i;
        double r;
        struct {
            uint32_t off, len;
        } s;          /* into the block's text area */
    } v;
} flor__rec;

#define FLOR__BLOCK_RECS 4096
#define FLOR__BLOCK_TEXT (64 * 1024)

typedef struct flor__block {
    struct flor__block *next;   /* queue link */
    _Atomic uint32_t nrec;      /* published records */
    _Atomic int sealed;         /* no more records will be added */
    uint32_t text_used;
    uint32_t text_cap;
    char *text;                 /* FLOR__BLOCK_TEXT bytes, or more for a large value */
    flor__rec recs[FLOR__BLOCK_RECS];
} flor__block;

/* Name interning: ids are stable for the process; strings never move. */
int flor__name_intern(const char *name, uint32_t *id);
const char *flor__name_str(uint32_t id);

/* ---- writer.c: the background thread that commits records -------------- */

typedef struct flor__writer flor__writer;
int flor__writer_start(flor__writer **out, sqlite3 *db, int64_t run_id);
/* Training thread: the block to append to (never NULL after start). */
flor__block *flor__writer_current(flor__writer *w);
/* Training thread: seal the current block and get a fresh one (NULL on ENOMEM). */
flor__block *flor__writer_rotate(flor__writer *w, size_t text_needed);
/* Blocks until everything published so far is committed. */
int flor__writer_flush(flor__writer *w);
/* Flushes and stops the thread.  Returns the first commit error, if any. */
int flor__writer_stop(flor__writer *w);
/* Counts for tests and benches. */
uint64_t flor__writer_committed(const flor__writer *w);

/* ---- state.c: registered state and its staging ------------------------- */

typedef struct flor__state {
    char *name;
    void *data;             /* flat buffer, or NULL for callbacks */
    size_t nbytes;
    flor_dtype type;
    uint32_t version;
    flor_state_ops ops;     /* all NULL for a flat buffer */
    void *self;
    void *stage;            /* staging copy, reused by every checkpoint */
    size_t stage_cap, stage_len;
    struct flor__obj prev;  /* manifest of the last checkpoint (delta base) */
    int has_prev;
} flor__state;

typedef struct flor__states {
    flor__state *v;
    int n, cap;
} flor__states;

extern flor__states flor__S;
flor__state *flor__state_find(const char *name);
int flor__state_stage_reserve(flor__state *s, size_t n);
/* Copies every registered object into its staging; *TOTAL = bytes. */
int flor__state_snapshot(size_t *total);
void flor__state_forget_previous(flor__state *s);
const char *flor__dtype_name(flor_dtype t);
size_t flor__dtype_size(flor_dtype t);

/* restore.c: in a replay, the flat objects of the last restore that were
 * not registered then are restored when S is registered (0 when S is not
 * one of them); _release forgets them. */
int flor__restore_pending(flor__state *s);
void flor__restore_pending_release(void);
/* FLOR_ENOTFOUND (message set) when such an object is still pending. */
int flor__restore_pending_left(void);

/* ---- policy.c: when to checkpoint ---------------------------------------- */

typedef struct flor__policy {
    double budget;        /* allowed pause time / loop time */
    double t_start;       /* when the checkpointed loop began (monotonic) */
    double stall_total;   /* pauses so far */
    double bytes_per_s;   /* measured snapshot rate; 0 before the first */
    int taken, skipped_budget, skipped_busy;
    /* a fixed cadence (flor_checkpoint_every, FLOR_CHECKPOINT_EVERY)
     * instead of the budget: every EVERY_N-th iteration and/or once
     * EVERY_S seconds have passed since T_LAST; both 0: adaptive */
    long every_n;
    double every_s;
    double t_last;        /* the last checkpoint taken (or the loop's start) */
} flor__policy;

typedef enum { FLOR__TAKE, FLOR__SKIP_BUDGET, FLOR__SKIP_BUSY } flor__decision;

void flor__policy_init(flor__policy *p, double budget, double now);
double flor__policy_budget_from_env(void);
double flor__policy_predict(const flor__policy *p, size_t bytes);
flor__decision flor__policy_decide(flor__policy *p, double now, size_t bytes, int writer_busy,
                                   int last);
void flor__policy_taken(flor__policy *p, double stall, size_t bytes);
/* Sets P's fixed cadence: N and S as given to flor_checkpoint_every,
 * unless FLOR_CHECKPOINT_EVERY (N or Ts) overrides them. */
void flor__policy_set_every(flor__policy *p, long n, double s);
/* The decision under a fixed cadence, at the end of iteration ITERATION
 * (only when P has one: every_n or every_s). */
flor__decision flor__policy_decide_every(flor__policy *p, long iteration, double now, int last);
double flor__policy_overhead(const flor__policy *p, double now);

/* ---- ckpt.c: snapshots and the checkpoint writer thread ----------------- */

typedef struct flor__ckpt flor__ckpt;
int flor__ckpt_start(const char *datadir, int64_t run_id);
/* At the end of an iteration of the checkpointed loop: ask the policy,
 * snapshot, hand to the writer.  LAST: the loop's final iteration. */
int flor__ckpt_take(const char *loop, long iteration, const char *coords, int last);
void flor__ckpt_wait_idle(void);
/* Waits for the writer, stops it; counts of checkpoints written/failed. */
int flor__ckpt_stop(int *written, int *failed);

/* ---- replay.c: hindsight logging ------------------------------------------ */

enum flor__phase {
    FLOR__PHASE_NORMAL = 0,  /* values are compared or stored */
    FLOR__PHASE_CATCHUP = 1, /* re-executed to rebuild state: compared, never stored */
    FLOR__PHASE_AFTER = 2,   /* after a segment that is not the last: ignored */
    FLOR__PHASE_FAILED = 3,  /* a restore failed: nothing is kept */
};

typedef struct flor__replay {
    int on;
    char *run_spec;          /* --replay_run: an id or a tstamp */
    int64_t run_id;          /* the run replayed */
    long seg_pid, seg_n;     /* segment PID of N */
    char *probe[16];
    int nprobe;
    long every_n, every_r;   /* --replay_every N:R; 0: every iteration needed */
    char *ckpt_loop;         /* the loop the record checkpointed */
    long *ckpts;             /* its checkpointed iterations, ascending */
    int nckpt, capckpt;
    long seg_start, seg_end; /* the segment: iterations [start, end) */
    long restored_for;       /* iteration whose checkpoint is in the state now */
    long restored_mid;       /* iteration restored inside its body (-1: none) */
    int phase;               /* enum flor__phase, stamped on each log record */
    flor_project *proj;      /* for restores */
    int64_t replay_id;
    long new_values, compared, divergences, restores;
    double restore_s;
    char *first_divergence;
    char *error;
    char *run_status;        /* the replayed run's status: finished, killed, ... */
    long reached;            /* an unfinished run: the last iteration of the
                              * checkpointed loop it reached (-1: none) */
    int limited;             /* the run did not finish: stop where it stopped */
    int truncated;           /* the replay stopped there, short of the loop's end */
    int argv_kwargs;         /* args missing from the run came from its argv */
} flor__replay;

extern flor__replay flor__P;
int flor__replay_parse(int *argc, char ***argv);
int flor__replay_open(sqlite3 *db, const char *projid, const char *filename);
int flor__replay_probed(const char *loop);
int flor__replay_has_checkpoint(long iteration);
/* Plans the segment; returns the checkpoint to resume from (-1: none)
 * and the first iteration to execute in *FIRST. */
long flor__replay_plan(const char *loop, long n, long *first);
/* A run that did not finish, in the last iteration it reached of the
 * checkpointed loop: loop L (nested in it) runs no further than the
 * record got; once the record's last iteration there is over, nothing
 * more is stored or compared (loop.c calls these for every nested loop). */
void flor__replay_frontier_begin(flor_loop *l);
void flor__replay_frontier_end(const flor_loop *l);
/* --replay_every: the checkpointed loop has just ended iteration *I (or
 * not begun: *I is one before its first); when a checkpoint lies
 * between there and the next iteration the new statements need, it is
 * restored and *I moved to it, so the iterations in between never run. */
int flor__replay_skip(long *i);
/* Restores the run's checkpoint at ITERATION; counted in the report
 * (_again: a checkpoint restored before, not counted). */
int flor__replay_restore(long iteration);
int flor__replay_restore_again(long iteration);
void flor__replay_fail(void);
/* The writer thread's handling of one record (an SQLite result code). */
int flor__replay_record(sqlite3 *db, const flor__block *b, const flor__rec *r);
int flor__replay_begin_row(sqlite3 *db);
int flor__replay_end_row(sqlite3 *db, const char *status);
void flor__replay_report(void);
void flor__replay_release(void);

/* ---- run.c: the process's run ------------------------------------------- */

typedef struct flor__run {
    int on;                 /* recording */
    int finished;
    pthread_t owner;        /* the thread that called flor_init */
    flor__place place;
    sqlite3 *db;            /* training thread's connection (status updates) */
    int64_t run_id;
    flor__writer *writer;
    /* loop stack */
    int depth;
    struct {
        uint32_t name;
        int emitted;        /* its REC_CTX is in the buffer */
        long iteration;
        int64_t ctx;        /* current iteration's context; 0 before the first */
    } stack[64];
    int64_t next_ctx;
    int loops_started;
    /* checkpoints */
    char *ckpt_loop;        /* name of the checkpointed loop; NULL: outermost */
    int ckpt_depth;         /* depth of the checkpointed loop while open; -1 */
    int ckpt_started;       /* the policy's clock is running */
    long every_n;           /* flor_checkpoint_every's cadence; 0, 0: adaptive */
    double every_s;
    flor__policy policy;
    /* a registration error (NULL buffer, zero size, a name twice): the
     * record cannot be trusted by a replay, so the run ends as failed */
    int tainted;
    char taint_msg[256];    /* the first such error */
} flor__run;

/* Marks the run as untrustworthy with REASON (kept in runs.reason at once);
 * it will end as failed.  A no-op when not recording. */
void flor__run_taint(const char *reason);

extern flor__run flor__R;
/* True when the calling thread may record (fast path check). */
static inline int flor__recording(void) { return flor__R.on; }
int flor__check_thread(void);

/* Appends a record (text copied when TEXT != NULL).  Training thread only. */
int flor__emit(const flor__rec *r, const char *text, size_t textlen);

/* ---- loop.c ------------------------------------------------------------- */

/* The context id for a log made now, emitting the REC_CTX records of the
 * enclosing iterations that have none yet. */
int64_t flor__loop_context(void);

/* ---- args.c: --kwargs and flor_arg -------------------------------------- */

int flor__kwargs_parse(int *argc, char ***argv);
int flor__kwargs_given(void);
/* Makes flor_arg() return run RUN's recorded values (replay). */
int flor__args_load(sqlite3 *db, int64_t run);
/* Records kwargs no flor_arg asked for; warns once. */
void flor__kwargs_check_unused(void);
/* Writes the --kwargs overrides, as given, into the run's args (before
 * flor_init returns, so a kill before they are read keeps them). */
void flor__kwargs_record_given(void);
void flor__kwargs_release(void);

#endif /* FLOR_INTERNAL_H */
