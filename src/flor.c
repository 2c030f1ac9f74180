/*
 * flor.c -- the top of libflor: flor_init() and flor_finish(), which
 * compose the record path (record/run.c) and replay (replay/replay.c),
 * and the atexit and signal paths that end a run that did not finish.
 * The only file that knows both; below it, the record path never calls
 * replay (a replay registers hooks with the session instead).
 */
#include "record/record.h"
#include "replay/replay.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int initialized;
static int exit_hooks; /* at_exit and the signal handlers are installed */
static pid_t run_pid;
static int init_failed; /* the code of a record that could not start */
static flor_mode requested_mode;

bool flor_enabled(void) { return flor__R.on != 0; }
int64_t flor_run_id(void) { return flor__R.on ? flor__R.run_id : 0; }
flor_mode flor_run_mode(void) { return requested_mode; }
flor_mode flor_get_mode(void) { return requested_mode; }

/* Ends the run (recorded or replayed) with STATUS, WHY the program's
 * reason (a replay keeps it; NULL: none); returns the first error. */
static int end_run(const char *status, const char *why)
{
    if (!flor__R.on)
        return 0;
    if (flor__R.replay)
        return flor__replay_end(status, why);
    int rc = flor__record_end(status);
    if (flor__R.resume_id)
        flor__resume_release();
    return rc;
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
    if (flor__R.replay) {
        end_run("failed", NULL);
        return;
    }
    int rc = end_run("failed", NULL);
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

int flor_init(int *argc, char ***argv)
{
    flor__err_clear();
    if (initialized && flor__R.on)
        return flor__err(FLOR_EUSAGE, "flor_init: run %lld is still being %s: end it with "
                                      "flor_finish() first", (long long)flor__R.run_id,
                         flor__R.replay ? "replayed" : "recorded");
    if (initialized && requested_mode == FLOR_MODE_REPLAY)
        return flor__err(FLOR_EUSAGE, "flor_init: a process that replayed a run records no "
                                      "other");
    if (initialized)
        flor__session_reset(); /* the previous run ended: a new one in the same process */
    init_failed = 0;
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
        rc = flor__experiment_parse(argc, argv);
    if (!rc)
        rc = flor__replay_parse(argc, argv);
    if (!rc)
        rc = flor__resume_parse(argc, argv);
    int replay = flor__replay_requested(), resume = flor__resume_requested();
    if (!rc && replay && flor__kwargs_given())
        rc = flor__err(FLOR_EINVAL, "--kwargs cannot be combined with --replay_flor: a replay "
                                    "uses the args the run recorded");
    if (!rc && resume && flor__kwargs_given())
        rc = flor__err(FLOR_EINVAL, "--kwargs cannot be combined with --resume_flor: a resume "
                                    "continues with the args the run recorded");
    if (!rc && resume && replay)
        rc = flor__err(FLOR_EINVAL, "--resume_flor cannot be combined with --replay_flor");
    const char *mode = getenv("FLOR_MODE");
    int off = mode && strcmp(mode, "off") == 0;
    requested_mode = off ? FLOR_MODE_OFF : replay ? FLOR_MODE_REPLAY : FLOR_MODE_RECORD;
    if (!rc && !off) {
        flor__R.owner = pthread_self();
        rc = replay   ? flor__replay_start(original_argc, original)
             : resume ? flor__resume_start(original_argc, original)
                      : flor__record_start(original_argc, original);
        if (rc) {
            char saved[512];
            snprintf(saved, sizeof saved, "%s", flor_errmsg());
            sqlite3_close(flor__R.db);
            flor__R.db = NULL;
            flor__place_release(&flor__R.place);
            if (replay)
                flor__replay_release();
            else if (resume)
                flor__resume_release(); /* the run is untouched: nothing is lost */
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
            if (!exit_hooks) {
                exit_hooks = 1;
                atexit(at_exit);
                install_signal(SIGINT, &old_int);
                install_signal(SIGTERM, &old_term);
            }
        }
    }
    initialized = 1;
    free(original);
    return rc;
}

int flor_finish_status(flor_run_status status) { return flor_finish_error(status, NULL); }

int flor_finish_error(flor_run_status status, const char *error)
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
    return rc ? rc : end_run(names[status], error);
}

int flor_finish(void) { return flor_finish_status(FLOR_RUN_FINISHED); }

int flor_flush(void)
{
    if (!flor__R.on)
        return 0;
    int rc = flor__check_thread();
    return rc ? rc : flor__writer_flush(flor__R.writer);
}
