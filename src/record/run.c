/*
 * run.c -- the process's run: flor_init() and flor_finish(), the atexit
 * and signal paths that end a run that did not finish, and the checks
 * shared by the training calls.
 */
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

flor__run flor__R;
static int initialized;
static pid_t run_pid;
static int init_failed; /* the code of a record that could not start */

void flor__writer_signal_flush(flor__writer *w, int signo);

bool flor_enabled(void) { return flor__R.on != 0; }
int64_t flor_run_id(void) { return flor__R.on ? flor__R.run_id : 0; }

static flor_mode requested_mode;
flor_mode flor_get_mode(void) { return requested_mode; }

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static char *argv_json(int argc, char **argv)
{
    flor__buf b = {0};
    int rc = flor__buf_puts(&b, "[");
    for (int i = 0; !rc && i < argc; i++) {
        if (i)
            rc = flor__buf_puts(&b, ",");
        if (!rc)
            rc = flor__buf_json_string(&b, argv[i]);
    }
    if (!rc)
        rc = flor__buf_puts(&b, "]");
    if (rc) {
        flor__buf_release(&b);
        return NULL;
    }
    return b.p;
}

/* The local time now, ISO 8601 to the microsecond, as Python's
 * datetime.now().isoformat() writes it: "2026-12-06T12:50:24.123456". */
static void format_tstamp(char *out, size_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    size_t len = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + len, n - len, ".%06ld", ts.tv_nsec / 1000);
}

/* Inserts the run row.  A tstamp is the time the run started, never a
 * later one: when another run of the project took the same microsecond,
 * this one waits for the clock to move on and reads it again. */
static int insert_run(sqlite3 *db, const char *projid, const char *filename, const char *vid,
                      const char *argv, int64_t *run_id, char tstamp[32])
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO runs(projid, tstamp, filename, vid, argv, host, pid,"
                                " proc_start, status, start_time) "
                                "VALUES (?,?,?,?,?,?,?,?,'running',?)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot record the run");
    char *ident = flor__proc_identity((long)getpid());
    double now = flor__now();
    int err = flor__db_begin(db);
    for (int tries = 0; !err; tries++) {
        char ts[32];
        if (tries) {
            struct timespec pause = {0, 2000};
            nanosleep(&pause, NULL);
        }
        format_tstamp(ts, sizeof ts);
        sqlite3_bind_text(st, 1, projid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ts, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, filename, -1, SQLITE_STATIC);
        if (vid)
            sqlite3_bind_text(st, 4, vid, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 4);
        sqlite3_bind_text(st, 5, argv, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, flor__hostname(), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, (int64_t)getpid());
        if (ident)
            sqlite3_bind_text(st, 8, ident, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 8);
        sqlite3_bind_double(st, 9, now);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_DONE) {
            *run_id = sqlite3_last_insert_rowid(db);
            memcpy(tstamp, ts, sizeof ts);
            err = flor__db_commit(db);
            break;
        }
        if (rc != SQLITE_CONSTRAINT_UNIQUE || tries > 1000)
            err = flor__err_sqlite(db, rc, "cannot record the run");
    }
    if (err)
        flor__db_rollback(db);
    sqlite3_finalize(st);
    free(ident);
    return err;
}

static int set_vid(sqlite3 *db, int64_t run_id, const char *vid)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "UPDATE runs SET vid=? WHERE run_id=?", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot record the code version");
    sqlite3_bind_text(st, 1, vid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, run_id);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : flor__err_sqlite(db, rc, "cannot record the code version");
}

/* The message of the run's code snapshot: a subject naming the run and
 * its command line (cut at about 150 bytes), then the run's keys. */
static char *snapshot_message(int64_t run_id, const char *tstamp, const char *filename, int argc,
                              char **argv, const char *args_json)
{
    flor__buf b = {0};
    int rc = flor__buf_printf(&b, "flor run %lld: %s", (long long)run_id, filename);
    for (int i = 1; !rc && i < argc && b.len <= 150; i++)
        rc = flor__buf_printf(&b, " %s", argv[i]);
    if (!rc && b.len > 150) {
        size_t n = 147;
        while (n > 0 && ((unsigned char)b.p[n] & 0xC0) == 0x80)
            n--; /* not inside a UTF-8 sequence */
        b.len = n;
        rc = flor__buf_puts(&b, "...");
    }
    if (!rc)
        rc = flor__buf_printf(&b, "\n\nrun: %lld\ntstamp: %s\nprogram: %s\nargv: %s\n",
                              (long long)run_id, tstamp, filename, args_json);
    if (rc) {
        flor__buf_release(&b);
        return NULL;
    }
    return b.p;
}

/* Commits the working tree to flor.shadow and records the commit as the
 * run's vid.  A failure is a warning: the run goes on without a code
 * version. */
static void record_code_version(flor__run *R, const char *tstamp, const char *filename, int argc,
                                char **argv, const char *args_json)
{
    char *msg = snapshot_message(R->run_id, tstamp, filename, argc, argv, args_json);
    char *cache = flor__printf("%s/snapshot.index", R->place.datadir);
    char *vid = NULL;
    int rc = msg && cache ? flor__git_snapshot(R->place.root, cache, msg, &vid)
                          : flor__err(FLOR_ENOMEM, "out of memory");
    if (!rc)
        rc = set_vid(R->db, R->run_id, vid);
    if (rc)
        flor__warn("cannot keep the code version of run %lld: %s", (long long)R->run_id,
                   flor_errmsg());
    flor__err_clear();
    free(vid);
    free(cache);
    free(msg);
}

/* Sets the run's final STATUS and REASON (NULL: none); an I/O error may
 * be transient, so a failed update is tried a few times. */
static int set_status(sqlite3 *db, int64_t run_id, const char *status, double overhead,
                      const char *reason)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "UPDATE runs SET status=?, end_time=?, ckpt_overhead=?, "
                                "reason=coalesce(?, reason) WHERE run_id=?",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot set the run's status");
    sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 2, flor__now());
    if (overhead >= 0)
        sqlite3_bind_double(st, 3, overhead);
    if (reason)
        sqlite3_bind_text(st, 4, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, run_id);
    for (int tries = 0; tries < 5; tries++) {
        if (tries) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
            break;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : flor__err_sqlite(db, rc, "cannot set the run's status");
}

/* Records REASON for run RUN_ID now, in its own statement, so that it is
 * durable even if the process dies before the run ends. */
static void note_reason(sqlite3 *db, int64_t run_id, const char *reason)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "UPDATE runs SET reason=coalesce(reason || '; ' || ?, ?) "
                               "WHERE run_id=?", -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(st, 1, reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, run_id);
    sqlite3_step(st);
    sqlite3_finalize(st);
}

/* A problem that makes the record untrustworthy though nothing was lost
 * (a registration error): kept, and the run ends as failed. */
void flor__run_taint(const char *reason)
{
    if (!flor__R.on || flor__P.on || !flor__R.db)
        return;
    if (!flor__R.tainted++)
        snprintf(flor__R.taint_msg, sizeof flor__R.taint_msg, "%s", reason);
    note_reason(flor__R.db, flor__R.run_id, reason);
}

/* Ends a replay: its row in `replays` and its one-line report. */
static int end_replay(const char *status)
{
    int rc = flor__writer_stop(flor__R.writer);
    flor__R.writer = NULL;
    flor__R.on = 0;
    char saved[512];
    snprintf(saved, sizeof saved, "%s", flor_errmsg());
    if (rc && !flor__P.error)
        flor__P.error = flor__strdup(saved);
    flor__replay_end_row(flor__R.db, status);
    flor__replay_report();
    int code = flor__P.error ? (rc ? rc : FLOR_ECORRUPT) : 0;
    if (flor__P.error)
        flor__err(code, "%s", flor__P.error);
    sqlite3_close(flor__R.db);
    flor__R.db = NULL;
    flor__R.finished = 1;
    flor__replay_release();
    return code;
}

/* Ends the run with STATUS; returns the first error. */
static int end_run(const char *status)
{
    if (!flor__R.on)
        return 0;
    if (flor__P.on)
        return end_replay(status);
    flor__kwargs_check_unused();
    int written, failed;
    flor__ckpt_stop(&written, &failed);
    double overhead = flor__R.ckpt_started ? flor__policy_overhead(&flor__R.policy, flor__mono()) : 0;
    int rc = flor__writer_stop(flor__R.writer);
    flor__R.writer = NULL;
    flor__R.on = 0;
    char saved[512];
    snprintf(saved, sizeof saved, "%s", flor_errmsg());
    if (rc)
        flor__loss("run %lld failed: %s", (long long)flor__R.run_id, saved);
    int rc2 = set_status(flor__R.db, flor__R.run_id, rc || flor__R.tainted ? "failed" : status,
                         overhead, rc ? saved : NULL);
    if (rc2)
        flor__loss("cannot mark run %lld as %s: %s (it will show as killed)",
                   (long long)flor__R.run_id, rc || flor__R.tainted ? "failed" : status,
                   flor_errmsg());
    sqlite3_close(flor__R.db);
    flor__R.db = NULL;
    flor__R.finished = 1;
    if (rc)
        flor__err(rc, "%s", saved);
    else if (!rc2 && flor__R.tainted)
        rc2 = flor__err(FLOR_EINVAL, "run %lld is marked failed: %s", (long long)flor__R.run_id,
                        flor__R.taint_msg);
    return rc ? rc : rc2;
}

/* A program that returns from main() without flor_finish(): the run ends
 * as failed.  If records were lost, the exit status must say so even if
 * the program returned 0: stdio is flushed and the process ends with
 * status 1 (the atexit handlers registered before flor_init() are
 * skipped; flor_init() is meant to come first in main()). */
static void at_exit(void)
{
    if (!flor__R.on || flor__R.finished || getpid() != run_pid)
        return;
    if (flor__P.on) {
        end_run("failed");
        return;
    }
    int rc = end_run("failed");
    if (rc && rc != FLOR_EINVAL) { /* EINVAL: bad input, whose exit is the program's */
        fflush(NULL);
        _exit(1);
    }
}

static struct sigaction old_int, old_term;

static void on_signal(int signo)
{
    if (flor__R.on && flor__R.writer && getpid() == run_pid)
        flor__writer_signal_flush(flor__R.writer, signo);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(signo, &dfl, NULL);
    raise(signo);
}

static void install_signal(int signo, struct sigaction *old)
{
    struct sigaction cur;
    if (sigaction(signo, NULL, &cur) != 0 || cur.sa_handler != SIG_DFL)
        return; /* the program handles it: leave its handler alone */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(signo, &sa, old);
}

int flor__check_thread(void)
{
    if (!pthread_equal(pthread_self(), flor__R.owner))
        return flor__err(FLOR_EUSAGE, "called from a thread other than flor_init's");
    return 0;
}

static int start_replay(int argc, char **argv)
{
    flor__run *R = &flor__R;
    int rc = flor__place_find(&R->place, NULL);
    if (rc)
        return rc;
    rc = flor__db_open(R->place.datadir, 0, 0, &R->db);
    if (rc == FLOR_ENOTFOUND)
        return flor__err(rc, "--replay_flor: no runs recorded in project '%s' (%s): nothing to "
                             "replay",
                         R->place.projid, R->place.datadir);
    if (rc)
        return rc;
    flor__db_reap(R->db);
    flor__err_clear();
    const char *filename = argc > 0 ? base_name(argv[0]) : "?";
    if ((rc = flor__replay_open(R->db, R->place.projid, filename)) != 0 ||
        (rc = flor__replay_begin_row(R->db)) != 0)
        return rc;
    R->run_id = flor__P.run_id;
    if (flor__P.ckpt_loop && !(R->ckpt_loop = flor__strdup(flor__P.ckpt_loop)))
        return flor__err(FLOR_ENOMEM, "out of memory");
    R->ckpt_depth = -1;
    sqlite3 *wdb;
    if ((rc = flor__db_open(R->place.datadir, 0, 0, &wdb)) != 0)
        return rc;
    if ((rc = flor__writer_start(&R->writer, wdb, flor__P.run_id)) != 0) {
        flor__replay_end_row(R->db, "failed");
        return rc;
    }
    return 0;
}

static int start_recording(int argc, char **argv)
{
    flor__run *R = &flor__R;
    int rc = flor__place_find(&R->place, NULL);
    if (rc)
        return rc;
    if (!R->place.gitdir)
        flor__warn("%s is not in a git repository: runs are recorded without code versions",
                   R->place.root);
    if ((rc = flor__place_prepare(&R->place)) != 0)
        return rc;
    /* an I/O error may be transient: a few tries, 0.1 s apart */
    for (int tries = 0; tries < 5; tries++) {
        if (tries) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if ((rc = flor__db_open(R->place.datadir, 1, 0, &R->db)) != FLOR_EIO)
            break;
    }
    if (rc)
        return rc;
    flor__db_reap(R->db);
    flor__err_clear();
    char *args = argv_json(argc, argv);
    if (!args)
        return flor__err(FLOR_ENOMEM, "out of memory");
    const char *filename = argc > 0 ? base_name(argv[0]) : "?";
    char tstamp[32];
    rc = insert_run(R->db, R->place.projid, filename, NULL, args, &R->run_id, tstamp);
    for (int tries = 1; rc == FLOR_EIO && tries < 5; tries++) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        rc = insert_run(R->db, R->place.projid, filename, NULL, args, &R->run_id, tstamp);
    }
    if (!rc && R->place.gitdir)
        record_code_version(R, tstamp, filename, argc, argv, args);
    free(args);
    if (rc)
        return rc;
    sqlite3 *wdb;
    if ((rc = flor__db_open(R->place.datadir, 0, 0, &wdb)) != 0)
        return rc;
    if ((rc = flor__writer_start(&R->writer, wdb, R->run_id)) != 0) {
        set_status(R->db, R->run_id, "failed", -1, flor_errmsg());
        return rc;
    }
    R->ckpt_depth = -1;
    flor__R.on = 1; /* for the args rows */
    flor__kwargs_record_given();
    flor__R.on = 0;
    if ((rc = flor__ckpt_start(R->place.datadir, R->run_id)) != 0) {
        flor__writer_stop(R->writer);
        R->writer = NULL;
        set_status(R->db, R->run_id, "failed", -1, flor_errmsg());
        return rc;
    }
    return 0;
}

int flor_init(int *argc, char ***argv)
{
    flor__err_clear();
    if (initialized)
        return flor__err(FLOR_EUSAGE, "flor_init was already called");
    initialized = 1;
    int original_argc = *argc;
    char **original = malloc(((size_t)original_argc + 1) * sizeof *original);
    if (!original)
        return flor__err(FLOR_ENOMEM, "out of memory");
    memcpy(original, *argv, ((size_t)original_argc + 1) * sizeof *original);
    /* SQLite's memory statistics take a global mutex per allocation;
     * flor does not read them.  (A no-op if SQLite is already running.) */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    int rc = flor__kwargs_parse(argc, argv);
    if (!rc)
        rc = flor__replay_parse(argc, argv);
    if (!rc && flor__P.on && flor__kwargs_given())
        rc = flor__err(FLOR_EINVAL, "--kwargs cannot be combined with --replay_flor: a replay "
                                    "uses the args the run recorded");
    const char *mode = getenv("FLOR_MODE");
    int off = mode && strcmp(mode, "off") == 0;
    requested_mode = off ? FLOR_MODE_OFF : flor__P.on ? FLOR_MODE_REPLAY : FLOR_MODE_RECORD;
    if (!rc && !off) {
        flor__R.owner = pthread_self();
        rc = flor__P.on ? start_replay(original_argc, original)
                        : start_recording(original_argc, original);
        if (rc) {
            char saved[512];
            snprintf(saved, sizeof saved, "%s", flor_errmsg());
            sqlite3_close(flor__R.db);
            flor__R.db = NULL;
            flor__place_release(&flor__R.place);
            if (flor__P.on)
                flor__replay_release();
            else if (rc != FLOR_EINVAL) {
                /* nothing of this run will be recorded: say so now, even
                 * under FLOR_QUIET, and have flor_finish() fail */
                flor__loss("this run is not recorded: %s", saved);
                init_failed = rc;
            }
            flor__err(rc, "%s", saved);
        } else {
            run_pid = getpid();
            flor__R.on = 1;
            atexit(at_exit);
            install_signal(SIGINT, &old_int);
            install_signal(SIGTERM, &old_term);
        }
    }
    free(original);
    return rc;
}

int flor_finish_status(flor_run_status status)
{
    static const char *const names[] = {"finished", "failed", "killed"};
    if ((unsigned)status > FLOR_RUN_KILLED)
        return flor__err(FLOR_EINVAL, "flor_finish_status: unknown status %d", (int)status);
    if (!flor__R.on) {
        if (init_failed && !flor__R.finished)
            return flor__err(init_failed, "this run was not recorded (flor_init failed)");
        return 0;
    }
    int rc = flor__check_thread();
    return rc ? rc : end_run(names[status]);
}

int flor_finish(void) { return flor_finish_status(FLOR_RUN_FINISHED); }

int flor_flush(void)
{
    if (!flor__R.on)
        return 0;
    int rc = flor__check_thread();
    return rc ? rc : flor__writer_flush(flor__R.writer);
}
