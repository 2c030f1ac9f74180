/*
 * flor.h -- record every training run: hyperparameters, metrics with their
 * loop context, and the code version, in one SQLite database per project.
 *
 * This header is the whole public interface of libflor and its manual.
 *
 * A training program in six calls
 * -------------------------------
 *
 *     #include <flor.h>
 *
 *     int main(int argc, char **argv) {
 *         flor_init(&argc, &argv);              // opens the project, starts a run
 *         long   epochs = flor_arg("epochs", 5L);
 *         double lr     = flor_arg("lr", 1e-3);
 *         FLOR_LOOP(epoch, "epoch", epochs) {
 *             FLOR_LOOP(step, "step", nbatches) {
 *                 ...
 *                 flor_log("loss", loss);       // recorded with (epoch, step)
 *             }
 *             flor_log("acc", evaluate());      // recorded with (epoch)
 *         }
 *         return flor_finish();
 *     }
 *
 * Build with `cc train.c $(pkg-config --cflags --libs flor)`.  Run it as
 * `./train` or `./train --kwargs lr=0.01 epochs=3`, then look at the runs
 * with `flor dataframe` or `flor dataframe loss acc`.
 *
 * Conventions that hold for the whole API
 * ---------------------------------------
 *
 * - Errors.  Every function that can fail returns an `int`: 0 on success or
 *   a negative FLOR_E* code.  The message of the last failure on the calling
 *   thread is returned by flor_errmsg(), which never returns NULL.  The
 *   library exits the process in one place only: the flor_arg() form
 *   given a --kwargs value that does not parse (exit status 2, see
 *   flor_arg).  It prints on its own two kinds of line on stderr:
 *   warnings, "flor: warning: ...", in the few places documented below,
 *   which FLOR_QUIET=1 silences; and errors, "flor: error: ...", for what
 *   a run loses or gets wrong (records the disk refused, a run that is
 *   not recorded, a negative loop count, a checkpoint registration that
 *   failed), which are printed even under FLOR_QUIET: it silences
 *   chatter, never data loss.
 *
 * - Ownership.  Strings passed in are copied before the call returns; the
 *   caller keeps ownership.  Objects returned through an out-parameter
 *   belong to the caller and are released with their `_free` function,
 *   which accepts NULL.  Strings returned by accessors belong to the object
 *   they came from and live as long as it does.
 *
 * - Threads.  The training calls (flor_arg, flor_log, the loops,
 *   flor_finish) belong to the thread that called flor_init(); from any
 *   other thread they return FLOR_EUSAGE and record nothing.  Project
 *   handles (flor_project) may be used from any one thread at a time.
 *
 * - Iteration numbers are 0-based everywhere: in the loop variable, in
 *   the database and in every table flor prints.  The first epoch is
 *   epoch 0.
 *
 * Environment
 * -----------
 *
 *   FLOR_MODE=off   every training call becomes a no-op that records
 *                   nothing: flor_init still strips flor's flags and
 *                   flor_arg still applies --kwargs, so one binary can be
 *                   timed with and without flor.
 *   FLOR_DIR=PATH   where the project's data lives (default: `.flor` at
 *                   the project root).
 *   FLOR_QUIET=1    no warnings on stderr (errors are still printed).
 *   FLOR_BACKLOG_BLOCKS=N  at most N blocks (2..1024, default 1024; a
 *                   block is 4096 records and 64 KiB of text, ~220 KiB)
 *                   of records held in memory while the database refuses
 *                   writes (see flor_finish); past it they are dropped.
 */
#ifndef FLOR_H
#define FLOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FLOR_VERSION "0.1.0"
#define FLOR_VERSION_NUMBER 100 /* major*10000 + minor*100 + patch */

#if defined(__GNUC__) || defined(__clang__)
#define FLOR_API __attribute__((visibility("default")))
#else
#define FLOR_API
#endif

/** The version of the library actually linked, as FLOR_VERSION_NUMBER. */
FLOR_API int flor_version_number(void);

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */

enum {
    FLOR_OK = 0,
    FLOR_EINVAL = -1,   /* bad argument or malformed input (a --kwargs value, SQL) */
    FLOR_ENOMEM = -2,   /* out of memory */
    FLOR_EIO = -3,      /* a file or the database could not be read or written */
    FLOR_ENOTFOUND = -4,/* no such project, run, name or object */
    FLOR_EUSAGE = -5,   /* a call out of order: before flor_init, after flor_finish,
                           from another thread, or a loop nesting error */
    FLOR_ECORRUPT = -6, /* stored data failed a check (checksum, schema, magic) */
    FLOR_EBUSY = -7,    /* the database stayed locked by another process too long,
                           or a query ran past its time limit or was interrupted */
};

/**
 * The message of the last error on this thread, such as
 * "--kwargs epochs=abc: expected an integer".  Never NULL; "" when the
 * last call succeeded.  The string is valid until the next flor call on
 * this thread.
 */
FLOR_API const char *flor_errmsg(void);

/* ------------------------------------------------------------------------
 * Recording a run
 * ------------------------------------------------------------------------ */

/**
 * Opens the project and starts a run.
 *
 * The project is the git repository that contains the working directory
 * (found by walking up to the directory holding `.git`); its base name is
 * the run's `projid`.  Outside a git repository flor still records, with
 * the working directory as the project and one warning that code versions
 * are not kept.  The data goes to `.flor/` at the project root (or
 * FLOR_DIR), which is added to `.git/info/exclude` so that it never shows
 * up in `git status`.
 *
 * A run records: its id, projid, tstamp (ISO 8601 local start time to
 * the microsecond, as Python's datetime.isoformat() writes it; unique
 * within the project: a run that finds its microsecond taken waits for
 * the next one, so a tstamp is never later than the time it was
 * recorded; databases made before keep their to-the-second tstamps),
 * the program's base name
 * (filename), the code version (vid: the commit that snapshots the
 * working tree, see "Code versions" below; NULL outside git), argv, host,
 * pid, status and start and end times.
 *
 * flor's own flags are removed from argc and argv, so the program's own
 * option parser never sees them; every other argument stays, in order.
 *
 *   --kwargs NAME=VALUE [NAME=VALUE ...]
 *       Overrides the defaults of flor_arg().  Every following argument
 *       of the form NAME=VALUE belongs to --kwargs, up to the first one
 *       that does not contain '=' or that starts with "--".
 *
 *   --flor [NAME [EPSILON]]
 *       The seed's experiment flag.  NAME (the next word unless it starts
 *       with '-'; not empty, '.' or '..', no '/') becomes the run's
 *       projid, the experiment name, instead of the base name of the
 *       project's directory; with no NAME, the projid of the latest run
 *       of this program is used again (the project's name when there is
 *       none).  EPSILON, the word after NAME when it reads as a number,
 *       is the checkpoints' overhead budget in place of FLOR_OVERHEAD:
 *       it must lie strictly between 0 and 1, or flor_init() returns
 *       FLOR_EINVAL ("--flor linear 5: expected EPSILON, a number between
 *       0 and 1 ...").  A recording rank 0 also makes $HOME/.flor/NAME a
 *       symbolic link to the project's data directory (moved when it
 *       links to another project's; a file or directory there is left
 *       alone with a warning).  Under --replay_flor or --resume_flor the
 *       flag is taken off and NAME changes nothing (the run keeps its
 *       projid); EPSILON still sets the budget.
 *   --replay_flor [PID/N]
 *       Replays a recorded run instead of recording a new one (see
 *       "Replay" below); with PID/N, only segment PID (0-based) of N
 *       contiguous segments of the checkpointed loop.  FLOR_REPLAY=1 or
 *       FLOR_REPLAY=PID/N in the environment does the same.  The word
 *       after --replay_flor is its PID/N unless it starts with "--": it
 *       must then be two whole numbers (digits only, no sign or blank,
 *       at most 18 digits each) with PID < N, or flor_init() returns
 *       FLOR_EINVAL ("--replay_flor '-1/3': expected PID/N ...") and
 *       nothing runs.
 *   --replay_run RUN
 *       The run to replay, by id or tstamp (FLOR_REPLAY_RUN); by default
 *       the latest run of this program (same file name) in the project.
 *   --probe LOOP
 *       In a replay, runs the loop named LOOP instead of skipping it
 *       (repeatable; FLOR_PROBE=a,b).
 *   --replay_every N[:R]
 *       In a replay, the new statements need only the iterations i of
 *       the checkpointed loop with i % N == R (R defaults to 0): the
 *       statement `if (step % 25 == 0) flor_log(...)` wants
 *       --replay_every 25 (FLOR_REPLAY_EVERY=25; `flor replay
 *       --replay_every 25 ...` and flor.replay(..., replay_every=25)
 *       hand it to every replayed process).  See "Replay".  N >= 1
 *       and R < N, or flor_init() returns FLOR_EINVAL.
 *   --resume_flor[=RUN]
 *       Continues a killed or failed run instead of recording a new one
 *       (FLOR_RESUME=1, or FLOR_RESUME=RUN; `flor resume RUN` starts the
 *       program so): by default the latest run of this program, which
 *       must not have finished.  See "Resume" below.
 *
 * Resume.  The run continues from its last complete checkpoint -- the
 * last one followed by a saved log of a later iteration of its loop or of
 * an enclosing loop, so that every value logged up to it was saved (a
 * checkpoint and the logs are written by different threads) -- as the
 * same run: flor_arg() returns the run's recorded args (--kwargs is
 * refused), the checkpointed loop restores the registered state from the
 * checkpoint when it begins and goes on at the iteration after it (an
 * object registered later, optimizer state allocated on first use, is
 * restored when it is registered), and the run's row is this process's:
 * status 'running', then finished, failed or killed as usual.  The
 * checkpointed loop may be nested: with its checkpoint at
 * "epoch=2,step=30", the epoch loop goes on at epoch 2 (epochs 0 and 1 do
 * not run again), epoch 2's code before its step loop runs again (state
 * it changes that the steps use must be registered, or be a function of
 * the epoch), and the step loop restores and goes on at step 31.  What
 * the earlier process logged that the continuation logs again -- after
 * the checkpoint, outside the loops, and directly in the enclosing loops'
 * iterations that go on -- is moved to the table superseded_logs (its
 * contexts to superseded_loops), so the run's logs hold each value once;
 * the continuation is a row of the table resumes (flor_project_resumes,
 * `flor resume`).  For a deterministic program whose state is all
 * registered, the values equal an uninterrupted run's, bit for bit.
 * flor_init() refuses, changing nothing: a finished run (FLOR_EINVAL), a
 * run being recorded now (FLOR_EBUSY), a run with no checkpoint
 * (FLOR_ENOTFOUND), a run checkpointed in a loop whose name, or an
 * enclosing loop's, has ',' or '=' in it (FLOR_EINVAL: its coords cannot
 * be read), and
 * a run whose code differs from the working tree's (FLOR_EINVAL: a resume
 * runs the current code; FLOR_RESUME_FORCE=1 resumes it anyway, and the
 * resumes row keeps the code it ran).  Code is every file git tracks, and
 * each untracked file named like source code (*.c, *.h, *.cc, *.cu, *.py,
 * *.sh, Makefile, CMakeLists.txt, ...) that changed, appeared or is gone;
 * untracked data the program writes into the project (its checkpoints,
 * *.bin, logs, plots) is not code and does not block a resume.  When an
 * enclosing loop now has fewer iterations than the checkpoint's, or goes
 * past the checkpoint's iteration without the checkpointed loop
 * beginning, the run cannot be trusted: it ends as failed, saying so.
 *
 * Runs of several processes.  A program started by a launcher as N
 * processes -- `mpirun -np N` (Open MPI's OMPI_COMM_WORLD_RANK/_SIZE, or
 * PMI_RANK/PMI_SIZE of MPICH), torchrun (RANK/WORLD_SIZE), a task of
 * `srun -n N` (SLURM_PROCID/SLURM_STEP_NUM_TASKS), or by hand
 * (FLOR_RANK/FLOR_WORLD_SIZE, and FLOR_JOB to name the job) -- is
 * recorded as one run with N ranks: rank 0 records the run and its code
 * version (one snapshot), and every other rank waits for it (at most
 * FLOR_RANK_WAIT seconds, default 300; then flor_init() returns
 * FLOR_ENOTFOUND) and joins it.  The ranks share the run's tstamp and
 * vid; each has its own row in the runs table (rank, world_size), its own
 * args, logs and checkpoints of its own registered state, and ends with
 * its own status.  `flor runs` shows the run once, with `ranks` and the
 * status of the whole; the dataframe gains a `rank` column.  The ranks
 * find their rank 0 by a key of the job (the launcher's job id, else the
 * process that started them all), so several jobs may record at once.
 * Processes started with torchrun's variables (RANK, WORLD_SIZE,
 * MASTER_ADDR, MASTER_PORT) by other means than torchrun, which sets
 * TORCHELASTIC_RUN_ID, are of launcher "local" and keyed by
 * MASTER_ADDR:MASTER_PORT, which no two jobs running at once share; a
 * rank joins only a run that has no process of its rank yet, so a later
 * job on the same port is a run of its own.
 * The project must be on a file system all the ranks see (one host, or a
 * shared one).  A replay runs with as many ranks, each replaying its own
 * (flor_init() refuses another number with FLOR_EINVAL), and restores
 * only iterations that every rank checkpointed, so that ranks that
 * communicate stay in step; `flor replay NAME` starts them with the
 * launcher that recorded them (`mpirun -np N`, `srun -n N`, `torchrun
 * --nproc_per_node N`) or FLOR_LAUNCHER ("mpirun --host a,b -np {n}");
 * "local" (FLOR_LAUNCHER=local, or a run of launcher "local") is flor's
 * own: N processes on this host with RANK, LOCAL_RANK, WORLD_SIZE,
 * LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR=127.0.0.1 and a free
 * MASTER_PORT; when one fails the others are sent SIGTERM.  With NAMEs
 * and a COMMAND that does not start with a launcher, the launcher goes
 * in front of it (torchrun with --no_python).  A
 * checkpoint cadence fixed with flor_checkpoint_every() gives every rank
 * the same iterations; the adaptive policy decides per rank, on round
 * cadences (every 10th, 20th, 25th, 50th ... iteration), so ranks that
 * afford different ones still share most of them.  A resume, too, runs
 * with as many ranks (`mpirun -np N ./train --resume_flor`; FLOR_EINVAL
 * otherwise): each rank
 * continues its own row from the last checkpoint that every rank has
 * complete, so that they go on in step.  A malformed
 * variable (FLOR_RANK=x, a rank not below the world size) is FLOR_EINVAL.
 *
 * A NAME=VALUE whose NAME no flor_arg() reads before the first loop
 * starts draws one warning ("--kwargs hiden=75: no flor_arg named
 * 'hiden'") and is recorded among the run's args as text, so that a typo
 * is visible at once and never lost.
 *
 * Call it once, first thing in main().  argv must be writable (it is the
 * one main() received).  A process may record several runs one after
 * the other (a notebook's kernel records one per cell): once
 * flor_finish() or flor_finish_status() has ended a run, or flor_init()
 * has failed, flor_init() may be called again, with the same or another
 * argv, and starts a new run with its own row, code version, args and
 * logs; its --kwargs are those of the argv given then (earlier ones are
 * forgotten), and the flor_checkpoint_loop() and flor_checkpoint_every()
 * settings stay.  It returns FLOR_EUSAGE while a run is being recorded
 * or replayed, and in a process that replayed a run.  On failure nothing is recorded, the message
 * says why, and every later training call does nothing, as with
 * FLOR_MODE=off: the program may go on without flor.  When the database
 * cannot be opened or written (a full disk), "flor: error: this run is
 * not recorded: ..." is printed (even under FLOR_QUIET), and
 * flor_finish() returns the same error, so `return flor_finish();` exits
 * non-zero.  A transient I/O error is retried a few times first.
 *
 * Durability: when flor_init() returns 0, the run's row (argv included)
 * and every --kwargs override, as given (text), are committed; each
 * flor_arg() then commits the arg's typed value before it returns.  A run
 * killed at any point after flor_init() keeps its row and its args (one
 * that ends normally before its first log or loop leaves no run: see
 * flor_finish).
 *
 * @param[in,out] argc  &argc of main()
 * @param[in,out] argv  &argv of main()
 * A program should check what flor_init returns and stop when it is not
 * 0, unless it means to train unrecorded: in particular a damaged
 * database (FLOR_ECORRUPT; see flor_project_open) is never replaced by a
 * new one, so every run fails to record until it is repaired.
 *
 * @return 0, FLOR_EINVAL for a malformed --kwargs, FLOR_EIO when the
 *         database cannot be opened or written, FLOR_ECORRUPT when it is
 *         damaged, not flor's or from a newer flor, FLOR_EUSAGE when
 *         called while a run is on, or after a replay.
 */
FLOR_API int flor_init(int *argc, char ***argv);

/**
 * Ends the run: waits until every buffered log is in the database, and
 * sets the run's status to `finished` and its end time.  Returns 0 so that
 * main() can end with `return flor_finish();`.
 *
 * A program that exits without calling it (exit(), or returning from
 * main()) is recorded by an atexit handler, with status `failed`: flor
 * cannot tell why it stopped early.  If that handler finds that records were
 * lost (a full disk), it flushes stdio and ends the process with exit
 * status 1 whatever status the program chose, so that a loss is never
 * an exit status of 0.  On SIGINT or SIGTERM, when the
 * program has not installed its own handler, flor flushes its buffers,
 * sets the status to `killed`, and lets the signal take its default
 * action.  A run killed by SIGKILL or a crash is found the next time the
 * project is opened on the same host (its pid is gone, or belongs to a
 * younger process) and is then marked `killed`; every log that was in the
 * database by then stays.
 *
 * A full or failing disk (ENOSPC, EIO) while the run records: at the
 * first failed commit, one line on stderr ("flor: error: cannot write
 * logs to .../flor.db: database or disk is full; N records held in
 * memory ..., retrying"), even under FLOR_QUIET.  The records stay in
 * memory and are retried every 0.1 s, and a few more times at the end;
 * nothing already in the database is touched.  The memory held is
 * bounded (1024 blocks of 4096 records and 64 KiB of text, about
 * 220 MiB; FLOR_BACKLOG_BLOCKS lowers it): past it, new records are dropped, counted and announced by
 * one more line.  If anything was lost, flor_finish() prints "flor:
 * error: run N failed: ...", sets the status to `failed` with the reason
 * in runs.reason (`flor runs` shows it), and returns the error.  When the
 * disk refuses even that update, a last line says that the run will show
 * as `killed`.  A run with bad input (a negative loop count, a failed
 * checkpoint registration) also ends as `failed`, with its reason.
 *
 * Runs that record nothing.  A program that ends before its first log or
 * loop -- `prog --help`, a usage error, nothing to do -- leaves no run:
 * when it ends through flor_finish(), flor_finish_status() (any status
 * but `killed`) or the atexit handler, and nothing but args was
 * recorded (no log, no loop begun, even one of no iterations, no
 * checkpoint, no reason, and it is neither resumed nor one rank of a job
 * of several), its row and its args are removed, in one transaction,
 * once everything it logged is committed.  The --kwargs given and never
 * read then draw no warning.  Its code snapshot stays on flor.shadow (a
 * commit that names the removed run's id, which a later run may take
 * again): the branch is history that is only ever appended to, shared by
 * every run, and the commit costs nothing when the tree is unchanged.  A
 * run killed before its first log (a signal, SIGKILL, a crash: `killed`,
 * by the signal path or the reaper) keeps its row and its args, since a
 * kill is something that happened to a run the user started, and the
 * reaper cannot tell it from a run still setting up.
 *
 * @return 0; FLOR_EIO when records could not be written (the message
 *         says how many were lost, and how many of them were dropped); FLOR_EINVAL when the run was marked
 *         failed for bad input; flor_init()'s error when it could not
 *         start recording.
 */
FLOR_API int flor_finish(void);

/** How a run ended: the `status` column of the runs table (replays table). */
typedef enum flor_run_status {
    FLOR_RUN_FINISHED = 0,
    FLOR_RUN_FAILED = 1, /* the program stopped on an error */
    FLOR_RUN_KILLED = 2, /* the program was interrupted */
} flor_run_status;

/**
 * Ends the run as flor_finish() does, with STATUS instead of `finished`:
 * for a program (or a language binding) that knows why it stops -- an
 * uncaught exception is FLOR_RUN_FAILED, an interrupt FLOR_RUN_KILLED --
 * and would rather say so than leave it to the exit handler.  Every log
 * made so far is kept.  In a replay, STATUS goes to the replay's row.
 *
 * @return 0; FLOR_EINVAL for an unknown STATUS; FLOR_EIO as flor_finish().
 */
FLOR_API int flor_finish_status(flor_run_status status);

/**
 * flor_finish_status(STATUS), with ERROR (NULL or "": none) as the
 * program's reason for stopping: in a replay it becomes the replay's
 * error -- the error column of its row in the replays table, its report
 * ("flor: replay of run N failed: ERROR") and what `flor replay` and
 * flor.replay() show for the run -- unless flor had an error of its own
 * first, which stays.  For a language binding that ends a replay on an
 * uncaught exception (Python's gives the exception, with a hint when a
 * value the replay did not compute is missing).  When recording, ERROR
 * is not kept (the program may log it).
 *
 * @return as flor_finish_status(); ERROR itself is not an error of this
 *         call.
 */
FLOR_API int flor_finish_error(flor_run_status status, const char *error);

/**
 * Blocks until every log made so far is committed to the database.
 * Logs are committed in the background within about 0.1 s anyway; this is
 * for a program that wants a guarantee at a point of its choosing.
 */
FLOR_API int flor_flush(void);

/** The id of the current run (in a replay: the run replayed), or 0. */
FLOR_API int64_t flor_run_id(void);

/**
 * Marks the run being recorded as untrustworthy: it goes on recording,
 * REASON is kept in its `reason` at once, and it ends as `failed`.  For
 * bad input a program (or a language binding) finds itself, as flor does
 * for a --kwargs value that does not parse.  Does nothing in a replay,
 * outside a run, or when REASON is NULL.
 */
FLOR_API void flor_run_fail(const char *reason);

/** What flor_init() was asked to do, whether or not it succeeded. */
typedef enum flor_mode { FLOR_MODE_OFF = 0, FLOR_MODE_RECORD = 1, FLOR_MODE_REPLAY = 2 } flor_mode;
FLOR_API flor_mode flor_run_mode(void);
/** The former name of flor_run_mode(), kept for the programs that use it. */
FLOR_API flor_mode flor_get_mode(void);

/** True when flor records (flor_init succeeded and FLOR_MODE is not off). */
FLOR_API bool flor_enabled(void);

/* ------------------------------------------------------------------------
 * Hyperparameters
 * ------------------------------------------------------------------------ */

/**
 * The value of hyperparameter NAME: DEFAULT, unless the command line gave
 * `--kwargs NAME=VALUE`, in which case VALUE parsed to the type of
 * DEFAULT.  The value used is recorded with the run.
 *
 *   long   hidden = flor_arg("hidden", 500L);
 *   double lr     = flor_arg("lr", 1e-3);
 *   const char *opt = flor_arg("optimizer", "adam");
 *   bool   amp    = flor_arg("amp", (bool)false);   // false is an int in C11
 *
 * Parsing: integers in decimal (or 0x hex), reals as strtod accepts them,
 * booleans as true/false/1/0/yes/no/on/off, text as given.  A value that
 * does not parse, or is out of range for the type, is reported through
 * flor_errmsg() ("--kwargs epochs=abc: expected an integer", "...:
 * expected an integer in range") and the typed functions return
 * FLOR_EINVAL and set *OUT to DEFAULT.  The _Generic form, which has no
 * way to return an error, ends the program as argparse does: it prints
 * "flor: --kwargs epochs=abc: expected an integer" on stderr, marks the
 * run failed with that reason, and exits with status 2 -- before
 * training, rather than train on a default the user did not ask for.
 * (int defaults are also checked against INT_MIN..INT_MAX.)  A NAME given
 * twice in --kwargs draws a warning; the last value is used.  Reading the
 * same NAME twice returns the same value.  A returned string lives until
 * the process ends.  Each value read is committed to the run's args
 * before the call returns.
 */
FLOR_API int flor_arg_int64(const char *name, int64_t dflt, int64_t *out);
FLOR_API int flor_arg_double(const char *name, double dflt, double *out);
FLOR_API int flor_arg_text(const char *name, const char *dflt, const char **out);
FLOR_API int flor_arg_bool(const char *name, bool dflt, bool *out);
/** flor_arg_int64() for a `long`, kept for the programs that use it. */
FLOR_API int flor_arg_long(const char *name, long dflt, long *out);

/**
 * Kept for compatibility, always NULL: errors are reported one way only,
 * by the return code and flor_errmsg(); the flor_arg() forms exit with
 * status 2 on an override they cannot parse (see above).
 */
FLOR_API const char *flor_arg_error(void);

/* The forms behind flor_arg(): they return the value, and DEFAULT on error. */
FLOR_API int flor_arg_int_v(const char *name, int dflt);
FLOR_API long flor_arg_long_v(const char *name, long dflt);
FLOR_API double flor_arg_double_v(const char *name, double dflt);
FLOR_API const char *flor_arg_text_v(const char *name, const char *dflt);
FLOR_API bool flor_arg_bool_v(const char *name, bool dflt);

#ifndef __cplusplus
#define flor_arg(name, dflt)                                                   \
    _Generic((dflt),                                                           \
        int: flor_arg_int_v,                                                   \
        long: flor_arg_long_v,                                                 \
        double: flor_arg_double_v,                                             \
        float: flor_arg_double_v,                                              \
        char *: flor_arg_text_v,                                               \
        const char *: flor_arg_text_v,                                         \
        bool: flor_arg_bool_v)(name, dflt)
#endif

/* ------------------------------------------------------------------------
 * Metrics
 * ------------------------------------------------------------------------ */

/**
 * Records VALUE under NAME, with the current loop context (the iteration
 * of every enclosing flor loop).  Values keep their type: integers are
 * stored as integers, floats and doubles as reals, strings as text.
 *
 * The call copies the value into an in-memory buffer and returns; it does
 * not allocate in steady state and never touches the disk.  A background
 * thread commits the buffer to the database in batches.
 *
 * @return 0, FLOR_EINVAL for a NULL or empty name, FLOR_EUSAGE from a
 *         thread other than flor_init's.  Outside a run (FLOR_MODE=off,
 *         or before flor_init) it does nothing and returns 0.
 */
FLOR_API int flor_log_int64(const char *name, int64_t value);
FLOR_API int flor_log_double(const char *name, double value);
FLOR_API int flor_log_text(const char *name, const char *value);
/** flor_log_int64() under its former name, kept for the programs that use it. */
FLOR_API int flor_log_long(const char *name, long long value);

#ifndef __cplusplus
#define flor_log(name, value)                                                  \
    _Generic((value),                                                          \
        int: flor_log_long,                                                    \
        long: flor_log_long,                                                   \
        long long: flor_log_long,                                              \
        unsigned: flor_log_long,                                               \
        unsigned long: flor_log_long,                                          \
        unsigned long long: flor_log_long,                                     \
        float: flor_log_double,                                                \
        double: flor_log_double,                                               \
        char *: flor_log_text,                                                 \
        const char *: flor_log_text)(name, value)
#endif

/* ------------------------------------------------------------------------
 * Loops
 * ------------------------------------------------------------------------ */

/**
 * A named loop.  Its iterations set the loop context of the logs made
 * inside them; loops nest, and a log carries the iteration of every
 * enclosing loop (`epoch`, `step`, ...).  The fields are private.
 */
typedef struct flor_loop {
    const char *name;
    long n;        /* number of iterations, or -1 when unknown */
    long i;        /* current iteration, 0-based; -1 before the first */
    int depth;     /* position on the loop stack */
    int active;    /* 1 until flor_loop_end() */
} flor_loop;

/**
 * The usual form:
 *
 *     FLOR_LOOP(epoch, "epoch", epochs) { ... }
 *
 * declares `long epoch` and runs the body for epoch = 0 .. epochs-1.
 * A negative count (`--kwargs epochs=-5`) is a bad input, not an endless
 * loop: the body does not run, one line on stderr says so (even under
 * FLOR_QUIET) and the run ends as failed with that reason in `flor runs`.
 * `break` and `continue` work as in a for loop; with GCC and Clang even a
 * `return` or `goto` out of the body closes the loop.  (With other
 * compilers, leave such a loop with break, or call flor_loop_end().)
 */
#if defined(__GNUC__) || defined(__clang__)
#define FLOR_LOOP_CLEANUP_ __attribute__((cleanup(flor_loop_end)))
#else
#define FLOR_LOOP_CLEANUP_
#endif

#define FLOR_LOOP(var, name, n)                                                \
    for (flor_loop FLOR_LOOP_CLEANUP_ flor_loop_##var =                        \
             flor_loop_range((name), (long)(n));                               \
         flor_loop_##var.active; flor_loop_end(&flor_loop_##var))              \
        for (long var; flor_loop_next(&flor_loop_##var, &var);)

/**
 * The calls behind FLOR_LOOP, for loops that are not a counted for:
 *
 *     flor_loop l = flor_loop_begin("step", -1);    // length unknown
 *     long i;
 *     while (flor_loop_next(&l, &i) && have_batch()) { ... }
 *     flor_loop_end(&l);
 *
 * flor_loop_begin() opens a loop of N iterations (N = -1: unknown, the
 * caller ends it; N < -1: an error, as for FLOR_LOOP, and the loop does
 * not run) inside the innermost open loop.  flor_loop_next()
 * closes the current iteration, if any, and opens the next: it stores its
 * 0-based index in *I and returns true, or returns false once N
 * iterations have run.  flor_loop_end() closes the loop; it is idempotent
 * and also closes any inner loop that was left open.  NAME must not be
 * NULL; it is copied.
 */
FLOR_API flor_loop flor_loop_begin(const char *name, long n);
/** FLOR_LOOP's call: flor_loop_begin() for a count N >= 0; any negative N
 *  (-1 included) is the error described at FLOR_LOOP. */
FLOR_API flor_loop flor_loop_range(const char *name, long n);
FLOR_API bool flor_loop_next(flor_loop *loop, long *i);
FLOR_API void flor_loop_end(flor_loop *loop);

/**
 * flor_loop_begin(), for a loop that starts at iteration FIRST (a
 * negative FIRST is 0): its first flor_loop_next() yields FIRST, and N
 * still counts from 0, so iterations FIRST .. N-1 run.  For a program
 * that resumes its own training at epoch FIRST, or that runs one
 * iteration at a time (N = FIRST + 1).  In a replay, a checkpointed loop
 * begun at FIRST runs the part of its segment at or after FIRST, and is
 * restored from a checkpoint only if that checkpoint is at FIRST - 1 or
 * later (an earlier one would undo what the program did before FIRST).
 */
FLOR_API flor_loop flor_loop_begin_at(const char *name, long n, long first);

/**
 * Closes LOOP, as flor_loop_end() does, because its current iteration
 * did not complete (an exception, an error path): that iteration is not
 * checkpointed, nor are those of the inner loops it closes.  Idempotent,
 * like flor_loop_end(); closing a loop that flor_loop_end() already closed
 * does nothing.
 */
FLOR_API void flor_loop_abort(flor_loop *loop);

/**
 * Records VALUE as the value of LOOP's current iteration (`loops.value`,
 * schema version 5): the item the program's own loop is at, so that
 * `for epoch in range(1, 6)` is seen as epochs 1 .. 5 and not only as
 * iterations 0 .. 4.  Call it after flor_loop_next() returned true and
 * before the iteration's first log; the value of an iteration without one
 * is NULL.  The value travels with the iteration's `loops` row (no extra
 * write); it is not compared in a replay.  The text is copied.  The
 * dataframe shows an integer value in the loop's column instead of the
 * iteration index (flor_project_dataframe).
 *
 * @return 0 (also when nothing is recorded: no run, another thread, a
 *         loop too deep); FLOR_EUSAGE when LOOP is not in an iteration, or
 *         the iteration has logged already (the value is not recorded);
 *         FLOR_EINVAL for a NULL LOOP; FLOR_ENOMEM.
 */
FLOR_API int flor_loop_value_int64(flor_loop *loop, int64_t value);
FLOR_API int flor_loop_value_double(flor_loop *loop, double value);
/** VALUE NULL: no value. */
FLOR_API int flor_loop_value_text(flor_loop *loop, const char *value);

/* ------------------------------------------------------------------------
 * Checkpoints: the state that replay restores
 * ------------------------------------------------------------------------
 *
 * A program registers, by name, the state that carries training from one
 * epoch to the next: parameters, optimizer moments, the step counter, the
 * RNG, the data order.  At the end of iterations of the checkpointed loop
 * (the outermost flor loop, unless flor_checkpoint_loop() names another)
 * flor copies the registered bytes into a staging area -- the only pause
 * the training thread sees -- and a background thread hashes, compresses,
 * deduplicates and writes them to `.flor/objects/`.  A checkpoint becomes
 * visible only once all its bytes are durable, so it is whole or absent.
 * A flat buffer's staging is reserved when it is registered (with
 * transparent huge pages asked for, from 2 MB up) and its pages are
 * touched by the background thread, so neither registration nor the first
 * snapshot pays the page faults of fresh memory on the training thread;
 * the policy skips a checkpoint due meanwhile (a fixed cadence waits).  The
 * loop's last checkpoint, which the program's exit waits for, is
 * compressed on every core (up to 4).
 *
 * Which iterations get a checkpoint is decided by an adaptive policy that
 * keeps what checkpoints cost within FLOR_OVERHEAD (a fraction of the
 * loop's time, default 0.01): the training thread's pauses, plus the
 * background writer's CPU time (hashing, compressing, writing) weighted
 * by how much of it came out of training -- in full when the machine had
 * no idle core while it wrote (other processes' work counts), 1/(1+S)
 * with S idle cores (at most all cores but one).  Every iteration is
 * checkpointed when that fits; otherwise every K-th, evenly, with K the
 * smallest of 1, 2, 4, 5, 10, 20, 25, 50, 100, 200, 250, 500, ... that
 * fits (the iterations i with (i + 1) % K == 0: on round steps, right
 * before those a statement at a period such as every 100 steps needs,
 * see --replay_every); an iteration whose predecessor is still being
 * written is skipped rather than waited for.  The last iteration of
 * the loop is always checkpointed.  FLOR_OVERHEAD=0 turns checkpoints off
 * (the last iteration's too) while keeping logs; FLOR_OVERHEAD=1 checkpoints every iteration,
 * waiting for the writer if it must.  A fixed cadence (every N iterations, or
 * every T seconds) replaces the policy: flor_checkpoint_every(),
 * FLOR_CHECKPOINT_EVERY.  A program with a single flat loop over steps
 * needs nothing more: that loop is the outermost, so its steps are the
 * candidates (a fast loop whose steps take less than a checkpoint write
 * gets few adaptive checkpoints, as the writer is busy: fix a cadence).
 *
 * The registered memory must stay valid, and at the same address, until
 * it is removed or re-registered; flor reads it only inside flor loop
 * calls on the training thread.
 */

/** Element types: a hint that lets compression group bytes by position. */
typedef enum flor_dtype {
    FLOR_BYTES = 0, /* opaque bytes */
    FLOR_U8 = 1,
    FLOR_I32 = 2,
    FLOR_I64 = 3,
    FLOR_F16 = 4,
    FLOR_BF16 = 5,
    FLOR_F32 = 6,
    FLOR_F64 = 7,
} flor_dtype;

/**
 * Registers NBYTES at DATA under NAME, or replaces the registration of
 * NAME (after a realloc, say).  VERSION tags the layout: restoring a
 * checkpoint whose object has another version or size is an error, never
 * a silent misread.  Registration may happen at any time, for example for
 * optimizer state that exists only after the first step.
 *
 * State that does not exist yet (optimizer moments a trainer allocates
 * at its first step) is registered once it is allocated -- call this
 * then, right after allocating it.  A replay that starts in a fresh
 * process restores such a buffer when the program registers it (see
 * "Replay"); a flor_checkpoint_ops() object whose load() allocates and
 * registers it (see below) works too.  Registering NULL or zero bytes "for later" is
 * an error: that state would be missing from every checkpoint and a
 * replay would silently diverge.  So an empty name, a NULL DATA or an
 * NBYTES of 0 returns FLOR_EINVAL, prints "flor: error:
 * flor_checkpoint('adam_m'): NULL data: this state would be missing from
 * every checkpoint ..." (even under FLOR_QUIET), and marks the run to end
 * as `failed` with that reason (flor_finish() returns FLOR_EINVAL).
 * Registering a NAME again replaces its registration (after a realloc):
 * that is not an error.
 *
 * @return 0; FLOR_EINVAL for an empty name, a NULL DATA or NBYTES = 0;
 *         FLOR_ENOMEM when the staging area cannot be reserved.
 */
FLOR_API int flor_checkpoint_typed(const char *name, void *data, size_t nbytes, flor_dtype type,
                                   uint32_t version);

/** flor_checkpoint_typed(name, data, nbytes, FLOR_BYTES, 0). */
FLOR_API int flor_checkpoint(const char *name, void *data, size_t nbytes);

/**
 * State that is not one flat buffer (a shuffle permutation whose length
 * varies, a data-loader cursor, a pickled object): size() tells how many
 * bytes save() will write now; save() writes exactly that many; load()
 * restores the object from such bytes.  Each returns 0 or a negative
 * code, which aborts that checkpoint or restore with a message naming
 * the object.
 *
 * A restore calls the load() of callback objects before it restores any
 * flat buffer, so a load() may register (flor_checkpoint_typed) buffers
 * that the checkpoint holds and the program has not created yet -- the
 * optimizer moments of a replay that starts in a fresh process, which
 * exist only after a first training step -- and they are then restored
 * into, in place.
 */
typedef struct flor_state_ops {
    size_t (*size)(void *self);
    int (*save)(void *self, void *dst, size_t n);
    int (*load)(void *self, const void *src, size_t n);
} flor_state_ops;

FLOR_API int flor_checkpoint_ops(const char *name, const flor_state_ops *ops, void *self,
                                 uint32_t version);

/** Removes NAME from the registered state.  FLOR_ENOTFOUND if absent. */
FLOR_API int flor_checkpoint_remove(const char *name);

/**
 * Checkpoints at the end of iterations of the loop named LOOP instead of
 * the outermost loop.  Call it before that loop begins.
 */
FLOR_API int flor_checkpoint_loop(const char *loop);

/**
 * A fixed checkpoint cadence instead of the adaptive policy: the end of
 * every ITERATIONS-th iteration of the checkpointed loop (iterations
 * ITERATIONS-1, 2*ITERATIONS-1, ..., counted from 0), and/or of the first
 * iteration that ends SECONDS or more after the previous checkpoint (or
 * the loop's start); 0 turns that half off, both 0 returns to the
 * adaptive policy.  The last iteration is checkpointed as always.  LOOP
 * non-NULL also names the checkpointed loop, as flor_checkpoint_loop()
 * does; NULL keeps it (the outermost flor loop by default).  Called
 * before the loop begins, or in it (from its next iteration on).
 *
 * A fixed cadence ignores the overhead budget -- it waits for the writer
 * rather than skip an iteration it names -- except that FLOR_OVERHEAD=0
 * still turns checkpoints off.  The environment variable
 * FLOR_CHECKPOINT_EVERY overrides the program's choice for a job:
 * FLOR_CHECKPOINT_EVERY=20 (iterations) or FLOR_CHECKPOINT_EVERY=30s
 * (seconds); any other value is ignored with a warning.
 *
 * This is what a program with one flat loop over steps wants: that loop
 * is the outermost, so its steps are the checkpoint candidates, and a
 * replay of a segment of it restores the nearest checkpoint before the
 * segment and re-executes from there (see "Replay"): the cadence bounds
 * that work.
 *
 * @return 0; FLOR_EINVAL for ITERATIONS < 0 or SECONDS < 0 (or not finite).
 */
FLOR_API int flor_checkpoint_every(const char *loop, long iterations, double seconds);

/* ------------------------------------------------------------------------
 * Replay: hindsight logging
 * ------------------------------------------------------------------------
 *
 * Add a flor_log() to a program after it was recorded, rebuild, and run it
 * with --replay_flor: the new statement's values appear under the
 * original run (source 'replay' in the logs table, at the same loop
 * coordinates), without retraining.  In a replay:
 *
 * - flor_arg() returns the values the run recorded; --kwargs is refused.
 *   An arg the run has no row for -- it was killed before its args were
 *   saved, or the replayed code reads an arg the recorded code did not --
 *   takes the value of NAME=VALUE among the --kwargs of the run's
 *   recorded argv (runs.argv), parsed to the default's type as the record
 *   parsed it (with a warning naming them), else the default: that is
 *   what the record used when its argv had no --kwargs for it, provided
 *   the default is the one of the recorded code (flor replay NAME runs
 *   that code).  A run that did not finish, has no args rows and whose
 *   argv cannot be read is refused: flor_init() returns FLOR_ECORRUPT
 *   ("run 7 recorded no args (it ended 'killed') and its argv cannot be
 *   read (...): cannot replay it faithfully").
 * - A run that did not finish (killed, failed, or still running) is
 *   replayed only as far as it got: the checkpointed loop ends after the
 *   last iteration in which the record logged or checkpointed (segments
 *   split only those iterations), and when that iteration has no
 *   checkpoint, the loops nested in it stop at the iteration of the
 *   record's last value there.  Past that point nothing is stored or
 *   compared, what the program logs after the loop included, and the
 *   summary says where it stopped ("flor: run 7 killed in iteration
 *   epoch=3/step=1: the replay stopped there too").
 * - The checkpointed loop starts at the nearest checkpoint before the
 *   segment (the state is restored) and ends after the segment.
 *   Iterations between that checkpoint and the segment start run again to
 *   rebuild the state; what they log is compared, not stored.
 * - A loop directly inside an iteration of the checkpointed loop that has
 *   a checkpoint runs no iteration: its first flor_loop_next() returns
 *   false and the registered state is restored from that checkpoint, so
 *   the code after it sees the state the record had at the iteration's
 *   end.  A probed loop (--probe) runs instead.  In an iteration without a
 *   checkpoint every loop runs.
 * - When such an iteration ends, the state is restored from its checkpoint
 *   once more: the code after the skipped loop may have changed it (a
 *   learning-rate schedule's step, random draws), and the next iteration
 *   must start from the state the record had.  So an iteration that runs
 *   again (no checkpoint, probed, or catching up) computes what the record
 *   computed, bit for bit, when the program is deterministic and its RNG
 *   is registered state.  The code after a skipped loop sees the state of
 *   the iteration's end: a statement there that changes the state (a
 *   scheduler's step) applies twice within that iteration, though not
 *   beyond it.
 * - A program with one flat loop over steps (no nested flor loop) has
 *   that loop as its checkpointed loop: segments split its steps, and a
 *   segment restores the nearest checkpoint before its first step and
 *   re-executes every step from there.  A segment's cost is thus its
 *   steps plus at most one checkpoint interval of catch-up: the cadence
 *   (flor_checkpoint_every) bounds the extra work.
 * - With --replay_every N[:R], only the iterations i with i % N == R are
 *   needed: before each, the loop jumps to the nearest checkpoint at or
 *   before the iteration preceding it (restoring it) when that lies ahead
 *   of where the state is, and re-executes from there; iterations before
 *   it never run.  At the end of the last segment it jumps to the loop's
 *   last checkpoint, so the code after the loop sees the final state.  A
 *   statement at a period of 25 steps with checkpoints every 20 steps
 *   re-executes 68 of 200 steps.  Values the program logs in iterations
 *   that do not run are neither compared nor stored; a wrong N costs
 *   values (not stored), never wrong ones.
 * - Flat buffers registered on first use: a checkpoint object the program
 *   has not registered when it is restored (optimizer moments allocated
 *   inside the first step the replay executes) is kept, and restored
 *   into the buffer the moment flor_checkpoint_typed() registers it under
 *   that name (same version and size, or FLOR_ECORRUPT).  Register it
 *   right after allocating it, before using it.  One not registered by
 *   the end of the iteration after the restore fails the replay
 *   ("checkpoint of run 1 at step=99: object 'm' is not registered ...").
 *   (A callback object's load() may register it instead, as before.)
 * - A value under a name the run recorded is compared with the recorded
 *   one at the same coordinates: bitwise for reals (or within a relative
 *   FLOR_REPLAY_TOLERANCE), exactly for integers and text.  A mismatch is
 *   a divergence: counted, the first hundred kept in the divergences
 *   table, and reported.  A value under a new name is stored; replaying
 *   again replaces it instead of adding a row.
 * - After a segment that is not the last, what the program logs once the
 *   checkpointed loop is over is ignored (its state is not the final one).
 * - No run is created and no checkpoint is taken; the replay itself gets a
 *   row in the replays table.  flor_finish() prints a one-line summary on
 *   stderr (unless FLOR_QUIET) and returns FLOR_ECORRUPT or the restore's
 *   error when a checkpoint could not be restored: from then on the replay
 *   runs no loop iteration and stores nothing more.  What the run recorded
 *   is never changed by a replay.
 */

/**
 * Marks the loop named LOOP probed, as --probe LOOP does: in a replay it
 * runs instead of being skipped (the seed's `Flor.loop(it, probed=True)`).
 * Call it before the loop begins; it does nothing when recording.  At most
 * 16 loops are probed.
 *
 * @return 0, FLOR_EINVAL for a NULL or empty LOOP, FLOR_ENOMEM.
 */
FLOR_API int flor_probe(const char *loop);

/* ------------------------------------------------------------------------
 * Reading a project: runs, SQL, and the pivoted view
 * ------------------------------------------------------------------------ */

typedef struct flor_project flor_project;
typedef struct flor_table flor_table;

/**
 * Opens the project that contains DIR (NULL: the working directory) for
 * reading, without starting a run.  Runs left `running` by a process
 * that is gone are marked `killed` on the way.
 *
 * @param[out] out  the project; free with flor_project_free()
 * A database file that exists but is damaged is never recreated nor
 * written to: opening it fails with FLOR_ECORRUPT and a message that
 * names the file, says what is wrong and how to go on, such as
 * "'/p/.flor/flor.db': empty file (0 bytes), the database was lost: run
 * 'flor fsck' to check and repair it", "'...' is not a SQLite database
 * (bad header): ...", "'...' is damaged: truncated to 8192 bytes ...",
 * "'...' is damaged: database disk image is malformed: ...".  Damage
 * found later, by a query, is reported the same way.  A valid SQLite
 * file without flor's tables is "'...' is not a flor database (...)", and
 * one whose schema is newer than this flor's names both versions.
 *
 * @return 0, FLOR_ENOTFOUND when the project has no flor data yet,
 *         FLOR_EIO, FLOR_ECORRUPT when the database is damaged, is not
 *         flor's or is from a newer flor.
 */
FLOR_API int flor_project_open(flor_project **out, const char *dir);
/** As flor_project_open(), creating the project's data directory and
 *  database when they do not exist yet (as the first recorded run would):
 *  for settings made before any run, such as the remote. */
FLOR_API int flor_project_create(flor_project **out, const char *dir);
FLOR_API void flor_project_free(flor_project *p);

/** The project's id (its root's base name), its data directory, and its
 *  root: the git work tree, or outside git the directory it was opened in. */
FLOR_API const char *flor_project_id(const flor_project *p);
FLOR_API const char *flor_project_dir(const flor_project *p);
FLOR_API const char *flor_project_root(const flor_project *p);

/**
 * Runs one SQL statement against the project's database (schema in
 * docs/schema.md) and returns its rows.
 *
 * The statement runs on a connection of its own, opened read-only, that
 * may only read: a statement that writes (to any table, temporary ones
 * too), ATTACH and DETACH, CREATE, DROP, ALTER, VACUUM (INTO), BEGIN and
 * other transaction control, a pragma that sets a value or has a side
 * effect (only reading pragmas such as user_version, table_info or
 * quick_check are allowed), and load_extension() are refused before
 * anything runs.  Text after the statement other than blanks, comments
 * and semicolons is refused ("one statement at a time"), so that no
 * statement is ever half run.  The file is never changed by a query.
 *
 * @return 0; FLOR_EINVAL for invalid or refused SQL (the message says
 *         why: SQLite's message, or "ATTACH is not allowed (queries are
 *         read-only)" and the like); FLOR_EBUSY when the query ran past
 *         flor_project_set_timeout()'s limit ("query timed out after N s")
 *         or was stopped by flor_project_interrupt() ("query
 *         interrupted"); FLOR_ECORRUPT when the database is damaged (see
 *         flor_project_open()).
 */
FLOR_API int flor_project_query(flor_project *p, const char *sql, flor_table **out);

/**
 * Limits each later flor_project_query() (and flor_project_runs()) of P
 * to SECONDS of running time; 0, the default, is no limit.
 *
 * @return 0, or FLOR_EINVAL when SECONDS is negative or NaN.
 */
FLOR_API int flor_project_set_timeout(flor_project *p, double seconds);

/**
 * Stops the query of P that is running, as soon as it next checks (every
 * thousand or so SQLite steps); it then fails with FLOR_EBUSY and "query
 * interrupted".  Every later query of P fails the same way at once.
 * Safe to call from a signal handler or another thread (it only sets a
 * flag); P NULL does nothing.
 */
FLOR_API void flor_project_interrupt(flor_project *p);

/**
 * Sets *VERSION to a number that changes whenever the project's records
 * may have changed since it was last taken: a commit to its database by
 * any process or connection (a run recording, a replay, flor gc, a team
 * refresh), this handle's own writes included.  A reader that keeps
 * answers (flor serve) takes it before reading and reuses an answer while
 * it is the same.  Numbers are comparable only for the same P.  Costs no
 * read of the records (a look at the database's header in shared memory).
 * @return 0; FLOR_EINVAL for P or VERSION NULL; FLOR_EIO (with why) when
 *         the database cannot be read.
 */
FLOR_API int flor_project_version(flor_project *p, uint64_t *version);

/**
 * Checks that COND, an SQL condition that a caller puts inside
 * parentheses of its own (`... WHERE x AND (COND\n)`, as flor replay
 * --where does), is one expression that cannot reach past them: its
 * parentheses balance and never close one it did not open, its quotes
 * and comments are closed, and it holds no ';'.  It does not check the
 * names in COND: the query that holds it does.
 *
 * @return 0, or FLOR_EINVAL with a message saying what is wrong
 *         ("the condition closes a parenthesis it did not open: ...").
 */
FLOR_API int flor_sql_condition_check(const char *cond);

/**
 * The pivoted view of the project.
 *
 * With no names (n == 0): one row per run, oldest first, with the columns
 * `projid tstamp filename`, then every arg (in the order first read), then
 * every name logged outside any loop (its last value in the run), but for
 * flor's own bookkeeping, `flor.torch_threads` and `flor.blas_threads`
 * (the Python module's thread settings): ask for them by name, or query
 * the `logs` table.
 *
 * With names: for each name, its values keyed by run and by the iteration
 * of each enclosing loop (one column per loop name, outermost first);
 * those per-name tables are outer-merged on their common columns, and the
 * run's args are repeated on each of its rows.  Columns: `projid tstamp
 * filename`, args, loop columns, then the names in the order given.  A
 * cell with no value is NULL.  A loop column holds the iteration's
 * recorded value when it is an integer (flor_loop_value_int64(); Python's
 * flor.loop over a range), else the 0-based iteration index.
 */
FLOR_API int flor_project_dataframe(flor_project *p, const char *const *names, size_t n,
                                    flor_table **out);

/** One value of a series (flor_project_series()). */
typedef struct flor_point {
    int64_t run;      /* the run's id */
    int64_t position; /* its loop position: 0, 1, 2, ... within the run's series */
    int64_t ctx;      /* its loop context (the run's ctx_id, docs/schema.md) */
    double value;     /* the value logged (an integer converted); NaN for a
                         NaN or a value that is not a number */
    int hindsight;    /* 1 when a replay computed it (logs.source 'replay') */
} flor_point;

/** Called once per value, in order; a non-zero return stops the read,
 *  and flor_project_series() returns it. */
typedef int (*flor_point_fn)(void *arg, const flor_point *pt);

/**
 * The series of NAME: hands FN every value of NAME logged inside a loop,
 * run after run (ascending ids), each run's in the order its iterations
 * ran (by context, then as logged), without building a table: one
 * prepared statement on flor_project_query()'s read-only connection, and
 * no allocation per value (a run's values are held in one reused buffer
 * while they are put in order, when a replay wrote them out of it).  The
 * values of a run are handed to FN only once the run's last one is read.
 *
 * @param runs   the runs to read (ids), NRUNS of them; NRUNS 0: every run
 * @param where  NULL, or an SQL condition on the columns of `runs` that
 *               a run must meet (checked by flor_sql_condition_check())
 * @return 0 (a NAME never logged in a loop hands FN nothing); FN's
 *         non-zero return; FLOR_EINVAL for a NULL or empty NAME, a NULL
 *         FN, RUNS NULL with NRUNS > 0, or a bad WHERE (the message says
 *         why); FLOR_EBUSY past flor_project_set_timeout()'s limit or
 *         when interrupted; FLOR_ENOMEM; FLOR_ECORRUPT.
 */
FLOR_API int flor_project_series(flor_project *p, const char *name, const int64_t *runs,
                                 size_t nruns, const char *where, flor_point_fn fn, void *arg);

/**
 * One row per run, oldest first: run, projid, tstamp, filename, vid,
 * status, host, pid, started, ended, seconds, logs (the number of log
 * rows), checkpoints (how many it has now), overhead (the share of the
 * checkpointed loop's time spent in snapshots; NULL without checkpoints),
 * replays (how many times it was replayed, counting each segment),
 * divergences (their total over those replays), argv.
 */
FLOR_API int flor_project_runs(flor_project *p, flor_table **out);

/**
 * Opens the team's runs: every checkout's runs that the team's PostgreSQL
 * database holds (docs/team.md, "Reading the team's runs"), as a read-only
 * project on which flor_project_dataframe(), flor_project_query() and
 * flor_project_runs() work as on P, with the same tables and columns.
 *
 * The team database is P's: the URL in the environment variable
 * FLOR_TEAM_DB (postgresql://USER@HOST:PORT/DB; the password from the URL,
 * PGPASSWORD, ~/.pgpass or a service file).  What the handle reads is P's
 * read replica of it, a SQLite file under P's data directory
 * (DATADIR/team/KEY/flor.db, one per URL), refreshed first: in one
 * read-only REPEATABLE READ transaction on the server and one transaction
 * on the replica, it copies the rows the server got since the last
 * refresh, so a refresh cut off anywhere leaves the replica as it was.
 * The team's runs get the replica's own run ids (1, 2, ... in the order
 * they were first read; the same on every later refresh); the runs table
 * has one more column, `checkout` (the id of the checkout that recorded
 * the run), and its host column tells machines apart.  Two checkouts'
 * runs may share projid and tstamp.  Checkpoints are not part of it.
 *
 * A server that cannot be reached leaves the replica as last refreshed:
 * the call succeeds and warns once on stderr ("flor: warning: ...")
 * naming the server and when the replica was last refreshed; if it was
 * never refreshed, the call fails with FLOR_EIO.  A replica that is
 * damaged (or not a flor database) is a copy, not a record: it is made
 * anew from the server, with a warning.
 *
 * @param[out] team  the team's runs; free with flor_project_free()
 * @return 0, FLOR_ENOTFOUND when P has no team database ("project 'NAME'
 *         has no team database ..."), FLOR_EIO (see above), FLOR_EINVAL
 *         for a refused login, a malformed URL, or flor's tables there of
 *         schema version 1 (the server's errors: src/pg/pg.h).
 */
FLOR_API int flor_project_team_open(flor_project *p, flor_project **team);

/**
 * Runs one SQL statement on the team's PostgreSQL itself (P's team
 * database, as flor_project_team_open() finds it) and returns its rows:
 * the tables flor_runs, flor_logs, flor_args, flor_loops, flor_checkouts
 * and flor_sync (docs/team.md).  It runs in a READ ONLY transaction, so a
 * statement that writes is refused by the server; a second statement in
 * SQL is refused too.  flor_project_set_timeout() on P bounds it (the
 * server cancels it).  Integers and numbers come as such, booleans as 1
 * or 0, everything else as text.
 *
 * @return 0; FLOR_ENOTFOUND when P has no team database (or the query
 *         names a table that does not exist); FLOR_EINVAL for SQL the
 *         server refuses, a write among them ("cannot execute DELETE in a
 *         read-only transaction"); FLOR_EIO when the server cannot be
 *         reached or the query ran past the timeout.
 */
FLOR_API int flor_project_team_query(flor_project *p, const char *sql, flor_table **out);

/**
 * Restores the registered state from run RUN's checkpoint at the end of
 * iteration ITERATION of the checkpointed loop (0-based), in place, and
 * verifies every checksum.  Every object of the checkpoint must be
 * registered with the same version and size (callback objects: any
 * size), by the time its turn comes: callback objects are restored
 * first, in name order, then the flat buffers, so a load() callback may
 * register the buffers still missing.  Registered objects the checkpoint
 * lacks are left alone.
 *
 * @return 0; FLOR_ENOTFOUND when the run has no checkpoint at that
 *         iteration (see flor_project_checkpoints); FLOR_ECORRUPT for a
 *         missing, truncated or corrupt chunk, or a version or size
 *         mismatch, with a message naming the run, the object and the
 *         iteration.  On error some objects may already be restored.
 */
FLOR_API int flor_project_restore(flor_project *p, int64_t run, long iteration);

/**
 * The checkpoints of run RUN (all runs when RUN is 0), one row each:
 * run, loop, iteration, objects, logical_bytes, stored_bytes, stall_ms,
 * write_ms.
 */
FLOR_API int flor_project_checkpoints(flor_project *p, int64_t run, flor_table **out);

/**
 * The resumes of run RUN (all runs when RUN is 0), one row per
 * continuation, oldest first (see flor_init, "Resume"): resume, run, loop,
 * from_iteration (the checkpoint it restored; the loop went on at the next
 * iteration), prev_status and prev_pid (the run's status and process
 * before it), host, pid, status (running, finished, failed, killed),
 * started, ended, superseded (how many logs of the earlier process it
 * moved to superseded_logs), restore_ms (the restore of the checkpoint),
 * first_step_ms (from flor_init to the first resumed iteration) and vid
 * (the code it ran).
 *
 * @return 0; FLOR_ENOTFOUND for a database older than schema version 3
 *         opened read-only.
 */
FLOR_API int flor_project_resumes(flor_project *p, int64_t run, flor_table **out);

/** Run RUN's recorded argv, one row per word (column word), in order. */
FLOR_API int flor_project_run_argv(flor_project *p, int64_t run, flor_table **out);

/**
 * What the checkpoint store holds, one row per run: run, tstamp,
 * filename, checkpoints, logical_bytes (what was registered),
 * stored_bytes (what its checkpoints added to the store after
 * compression and deduplication: a chunk already stored by an earlier
 * checkpoint or run costs nothing), ratio, and overhead (the share of the
 * checkpointed loop's time the training thread spent in snapshots).
 */
FLOR_API int flor_project_du(flor_project *p, flor_table **out);

/**
 * Removes checkpoints by a retention rule and takes back the space no
 * remaining checkpoint needs.  Kept: every checkpoint of the KEEP_RUNS
 * most recent runs and of runs still recording; of older runs, the
 * checkpoints at iterations that are multiples of EVERY (EVERY 0: none)
 * and each run's last one.  A chunk is removed only when no remaining
 * checkpoint needs it.  With DRY_RUN nothing changes and the report says
 * what would go.  Report (one row): dry_run, checkpoints_removed,
 * checkpoints_kept, chunks_removed, chunks_kept, packs_rewritten,
 * bytes_before, bytes_after, bytes_freed (a dry run makes the same checks
 * and reports the same figures).
 *
 * Nothing a kept checkpoint needs is ever removed: before changing
 * anything gc reads every chunk the kept checkpoints need and checks it,
 * and the rows of removed checkpoints are dropped only once the packs it
 * rewrote are synced; old packs are removed last.  A failure at any step
 * (a full disk, say) leaves every kept checkpoint readable and every row
 * in place.
 *
 * @return 0; FLOR_EBUSY while a process is writing checkpoints into the
 *         store (nothing is changed); FLOR_EINVAL for negative arguments;
 *         FLOR_ECORRUPT, changing nothing, when a chunk a kept checkpoint
 *         needs is in no index or fails its checksum, or a pack has no
 *         index or a damaged one (the message names the file and says to
 *         run `flor fsck --repair`, which rebuilds indexes and drops the
 *         checkpoints that cannot be read); FLOR_EIO naming the file.
 */
FLOR_API int flor_project_gc(flor_project *p, int keep_runs, int every, bool dry_run,
                             flor_table **out);

/** With flor_project_fsck: repair what can be repaired. */
#define FLOR_FSCK_REPAIR 0x1u

/** Told how far a long operation got: DONE of TOTAL bytes. */
typedef void (*flor_progress_fn)(void *arg, uint64_t done, uint64_t total);

/**
 * Checks the project's records and checkpoints end to end, and with
 * FLOR_FSCK_REPAIR in FLAGS repairs what can be repaired (`flor fsck`).
 *
 * Checked: the database (SQLite's integrity_check and foreign_key_check,
 * the schema version, runs of this host still marked running whose
 * process is gone); every pack of the store, read from end to end (each
 * record's header and the checksums of its header and stored bytes); every
 * index against its pack (its header, each record's checksum, each naming
 * a sound record at its offset; a pack with records but no index); and
 * that every chunk of every checkpoint, and every base of a delta, is in
 * an index and names a sound record.  It takes the store's exclusive lock:
 * FLOR_EBUSY while a program is writing checkpoints.
 *
 * Repair, in this order: dead runs are marked killed; a damaged pack
 * header is rewritten; a missing or damaged index is rebuilt from the
 * records of its pack (written to a temporary file, synced, renamed, the
 * directory synced), which also brings back chunks that only the pack
 * still named.  Only then are the checkpoints that still cannot be read
 * dropped (their rows in checkpoints and checkpoint_objects), each listed.
 * Nothing in a pack is ever changed or removed (`flor gc` reclaims the
 * space).
 *
 * *OUT gets one row per problem: kind (database, run, pack, index, chunk,
 * checkpoint), file, run, object, iteration (NULL where they do not
 * apply), detail, and repaired (1 when the repair fixed it, or dropped the
 * checkpoint).  No row: no problem.  PROGRESS (may be NULL) is called with
 * ARG as the packs are read.
 *
 * @return 0 whatever was found; FLOR_EBUSY; FLOR_EINVAL for unknown
 *         flags; FLOR_EIO when a file cannot be read or a repair cannot
 *         be written (naming the file); FLOR_ENOMEM.
 */
FLOR_API int flor_project_fsck(flor_project *p, unsigned flags, flor_progress_fn progress,
                               void *arg, flor_table **out);

/* ------------------------------------------------------------------------
 * The remote: the checkpoint store copied to S3-compatible storage
 * (docs/remote.md)
 *
 * A project may have one remote, an S3 bucket and prefix.  A recording
 * process then copies ("spools") its checkpoints there on a thread of its
 * own, as they become durable locally; the database records which chunk is
 * in which uploaded object.  What is safely remote may be evicted from the
 * local store, by flor_project_evict() or by the remote's cache limit, and
 * replay and restore fetch what they need again (ranged GETs, checked
 * against the chunks' checksums).  A clone of the project on another
 * machine, with the project's database and the remote, replays runs it
 * never recorded.
 *
 * Credentials are never stored: they come from the AWS variables
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), or the
 * shared files (~/.aws/credentials and ~/.aws/config, AWS_PROFILE or the
 * remote's profile), as the AWS CLI reads them.  The environment overrides
 * the stored settings for one process: FLOR_REMOTE=s3://... (the empty
 * string: no remote), FLOR_S3_ENDPOINT, FLOR_S3_REGION,
 * FLOR_S3_PATH_STYLE=1 and FLOR_REMOTE_CACHE=SIZE.
 *
 * A remote that fails (unreachable, bad credentials, a missing bucket)
 * never fails a run: the checkpoints stay local, one warning says so, and
 * the next run or flor_project_push() uploads them.
 * ------------------------------------------------------------------------ */

/** Parses a size as flor's options and variables take it ("50G", "512M",
 *  "1.5T", "4096"; K, M, G, T are powers of 1024, an "iB" or "B" after them
 *  is allowed) into *OUT bytes.  @return 0, or FLOR_EINVAL naming S. */
FLOR_API int flor_parse_size(const char *s, int64_t *out);

/** A project's remote, as flor_project_remote_set() stores it. */
typedef struct flor_remote_settings {
    const char *url;      /**< s3://BUCKET or s3://BUCKET/PREFIX */
    const char *endpoint; /**< http(s)://HOST[:PORT]; NULL: the AWS settings'
                               (AWS_ENDPOINT_URL_S3, the profile's
                               endpoint_url), else AWS itself */
    const char *region;   /**< NULL: AWS_REGION, the profile's, us-east-1 */
    int path_style;       /**< 0 auto (path-style except on amazonaws.com),
                               1 path-style, 2 virtual-hosted */
    const char *profile;  /**< a profile of the shared files; NULL: AWS_PROFILE
                               or "default" */
    int64_t cache_bytes;  /**< the local store's limit: after a recording
                               process has spooled everything it wrote, packs
                               safely remote are evicted, oldest first, until
                               the store is under it; -1: no limit */
} flor_remote_settings;

/** Sets the project's remote (replacing one set before).  Checks the URL's
 *  form, not the server: flor_project_push() reaches it.
 *  @return 0, FLOR_EINVAL naming what is malformed. */
FLOR_API int flor_project_remote_set(flor_project *p, const flor_remote_settings *s);
/** Creates the remote's bucket (`flor remote add --create-bucket`); one
 *  that this account already owns is not an error.  FLOR_ENOTFOUND when the
 *  project has no remote; the server's errors. */
FLOR_API int flor_project_remote_create_bucket(flor_project *p);
/** Forgets the project's remote (what was uploaded stays there, and the
 *  catalogue of it stays in the database).  FLOR_ENOTFOUND when none. */
FLOR_API int flor_project_remote_remove(flor_project *p);
/** The remote in effect, zero or one row: url, endpoint, region,
 *  path_style, profile, cache (bytes, NULL: none), source ("project", or
 *  "FLOR_REMOTE" when the environment sets it), credentials (where they
 *  were found: "environment", "profile NAME", or "none found"; never a
 *  key). */
FLOR_API int flor_project_remote(flor_project *p, flor_table **out);

/**
 * Uploads every checkpoint chunk the remote does not have yet (`flor
 * push`): the records of each local pack that the catalogue lacks, as
 * objects PREFIX/segments/HASH.seg (byte ranges of the pack; multipart
 * uploads of 16 MiB parts past 16 MiB), each checked by a HEAD and then
 * recorded in the database in one transaction.  First it aborts the
 * multipart uploads that a process of this host killed while uploading
 * left on the server.  PROGRESS (may be NULL) is told the bytes uploaded.
 * Report (one row): segments, records, bytes (uploaded now), remote_bytes
 * (in all), local_only_chunks (chunks still only local: 0 after a
 * success), aborted_uploads.
 * @return 0; FLOR_ENOTFOUND when the project has no remote; the remote's
 *         errors (FLOR_EIO unreachable or failing, FLOR_EINVAL credentials
 *         or bucket), with what was uploaded before the failure recorded
 *         and nothing local changed.
 */
FLOR_API int flor_project_push(flor_project *p, flor_progress_fn progress, void *arg,
                               flor_table **out);

/**
 * Fetches into the local store the chunks that the checkpoints of runs
 * RUNS[N] (N 0: every run) need and the store lacks (`flor pull`), from
 * the remote, with ranged GETs (records next to each other in one request),
 * each record checked against its checksums before it is added.  Report
 * (one row): runs, checkpoints, chunks_fetched, bytes_fetched,
 * chunks_local (needed and already local).
 * @return 0; FLOR_ENOTFOUND when a run does not exist, or a needed chunk
 *         is neither local nor in the catalogue; FLOR_ECORRUPT naming the
 *         object and offset when the remote's bytes fail their checksums
 *         (nothing of that object is added); the remote's errors.
 */
FLOR_API int flor_project_pull(flor_project *p, const int64_t *runs, size_t n,
                               flor_progress_fn progress, void *arg, flor_table **out);

/**
 * Removes local packs whose every chunk is safely remote, oldest first,
 * until the store takes at most LIMIT_BYTES (0: every such pack), never a
 * pack a process is writing (`flor gc --evict`).  Report (one row):
 * dry_run, packs_evicted, packs_local_only (kept: they hold chunks not
 * yet remote), bytes_before, bytes_after.
 * @return 0; FLOR_EBUSY while a process writes checkpoints; FLOR_EINVAL
 *         for a negative limit.
 */
FLOR_API int flor_project_evict(flor_project *p, int64_t limit_bytes, bool dry_run,
                                flor_table **out);

/**
 * Where the checkpoint store's bytes are (`flor du`'s summary), one row per
 * place: place ("local", "remote", "local only"), files (packs, or
 * uploaded objects), chunks, bytes.  "local only" counts the chunks that
 * are local and not yet remote (what eviction must keep).
 */
FLOR_API int flor_project_du_places(flor_project *p, flor_table **out);

/**
 * Checks the remote against the catalogue (`flor fsck --remote`): every
 * uploaded object is there with its size (HEAD), and, with
 * FLOR_FSCK_READ_REMOTE, every chunk record in it is read back and checked
 * against its checksums and the chunk it should hold.  Rows as
 * flor_project_fsck's (kind "remote"); none when all is well.
 */
FLOR_API int flor_project_fsck_remote(flor_project *p, unsigned flags, flor_progress_fn progress,
                                      void *arg, flor_table **out);
/** With flor_project_fsck_remote: read every record back. */
#define FLOR_FSCK_READ_REMOTE 0x2u

/* ------------------------------------------------------------------------
 * The team's database: every checkout's runs in one PostgreSQL database
 * (docs/team.md)
 *
 * Each checkout's SQLite database (.flor/flor.db) stays its journal:
 * training writes only there and never waits on the network.  When the
 * project has a team database, each recording process copies the
 * journal's new rows there on a thread of its own (lowest priority, its
 * own connections) every second, and once more when the run ends; a
 * server that cannot be reached costs the run nothing (one warning; the
 * rows wait in the journal and go when it answers, or with
 * flor_project_team_sync()).  Every row is copied exactly once: it is
 * keyed there by the checkout's id (made the first time, kept in the
 * journal's meta table) and its local id, and the checkout's high-water
 * mark moves in the same transaction as the rows.  Runs, args, the loop
 * iterations of the logs and the logs travel; a replay's values travel
 * with the original run's, a resumed run's replaced rows are replaced
 * there too.
 *
 * The database is named by a libpq URL ("postgresql://USER@HOST:PORT/DB",
 * or key=value settings such as "service=team"); the password is never
 * stored by flor: libpq finds it in PGPASSWORD, ~/.pgpass (PGPASSFILE) or
 * a service file.  FLOR_TEAM_DB=URL overrides the project's setting for
 * one process (FLOR_TEAM_DB= turns it off).  flor makes its tables
 * (flor_*) in an empty database or schema, and refuses a database that
 * holds another program's tables.
 * ------------------------------------------------------------------------ */

/** Sets the project's team database to URL, after connecting to it and
 *  making or checking flor's tables there (so a wrong URL, password or
 *  database is told now, not by the next run).
 *  @return 0; FLOR_EINVAL for a malformed URL, a URL that holds a password
 *          (flor stores none), a refused login, a database of another
 *          program; FLOR_ENOTFOUND for a missing database or role; FLOR_EIO
 *          for a server that cannot be reached.  Messages name the server
 *          as postgresql://USER@HOST:PORT/DB, never a password. */
FLOR_API int flor_project_team_set(flor_project *p, const char *url);
/** Forgets the project's team database (what was copied stays there).
 *  FLOR_ENOTFOUND when none is set. */
FLOR_API int flor_project_team_remove(flor_project *p);
/** The team database in effect, zero or one row: url (a password written
 *  in it shown as ***), source ("project", or "FLOR_TEAM_DB"), checkout
 *  (this checkout's id; NULL before the first copy), host, path (where
 *  the copies come from), server ("ok", or why it cannot be reached: the
 *  row is still given), copied (this checkout's logs there), pending
 *  (this checkout's logs not there yet). */
FLOR_API int flor_project_team(flor_project *p, flor_table **out);
/** Copies now what the team's database lacks of this checkout's journal
 *  (`flor team sync`).  Report (one row): runs (run rows that changed
 *  there), logs (copied now), pending (0 unless the journal grew
 *  meanwhile).
 *  @return 0; FLOR_ENOTFOUND when the project has no team database; the
 *          server's errors as for flor_project_team_set(); FLOR_EINVAL
 *          when this checkout's id was copied before from another
 *          directory (a copied .flor: give the copy an id of its own with
 *          flor_project_team_new_id()).  What was copied before a failure
 *          stays copied, once. */
FLOR_API int flor_project_team_sync(flor_project *p, flor_table **out);
/** Gives this checkout a new id in the team's database: for a copy of a
 *  project's directory (with its .flor), whose rows would otherwise be
 *  taken for the original's.  Its runs are then copied again, as the new
 *  checkout's. */
FLOR_API int flor_project_team_new_id(flor_project *p);

/* ------------------------------------------------------------------------
 * Tables: the rows returned by the project calls
 * ------------------------------------------------------------------------ */

typedef enum flor_type {
    FLOR_NULL = 0,
    FLOR_INTEGER = 1,
    FLOR_REAL = 2,
    FLOR_TEXT = 3,
} flor_type;

FLOR_API size_t flor_table_ncols(const flor_table *t);
FLOR_API size_t flor_table_nrows(const flor_table *t);
FLOR_API const char *flor_table_colname(const flor_table *t, size_t col);
/** The type of one cell.  Out-of-range positions are FLOR_NULL. */
FLOR_API flor_type flor_table_type(const flor_table *t, size_t row, size_t col);
/** A cell's value; 0, 0.0 or NULL for a cell of another type. */
FLOR_API int64_t flor_table_int(const flor_table *t, size_t row, size_t col);
FLOR_API double flor_table_real(const flor_table *t, size_t row, size_t col);
FLOR_API const char *flor_table_text(const flor_table *t, size_t row, size_t col);
FLOR_API void flor_table_free(flor_table *t);

/* ------------------------------------------------------------------------
 * Code versions
 * ------------------------------------------------------------------------
 *
 * flor_init() commits the project's working tree, as it is when the run
 * starts, to the branch `flor.shadow`; that commit's id is the run's vid.
 * The snapshot holds the tracked files with their staged and unstaged
 * changes, and the untracked files that .gitignore (and the other ignore
 * rules) do not exclude.  flor builds it in a private in-memory index:
 * the user's HEAD, current branch, index file, stash and working files are
 * never modified, and nothing is ever lost between two commits of the
 * user's.
 *
 * - Parents.  A snapshot's first parent is the previous tip of
 *   flor.shadow, so `git log --first-parent flor.shadow` lists the runs,
 *   newest first; its second parent is the commit at the user's HEAD (when
 *   there is one), so `git diff VID^2 VID` shows what the run had that was
 *   not committed yet.  The message names the run:
 *   "flor run 3: train --kwargs lr=0.01", then its run id, tstamp,
 *   program and argv.
 * - Runs that start together each get their own snapshot: the branch is
 *   moved by compare-and-swap under git's ref lock, retried on the new
 *   tip.  Should flor.shadow be checked out by the user, or its lock file
 *   be left behind by a crash, flor does not move it: the snapshot is kept
 *   by the ref refs/flor/snapshots/VID instead, with a warning.
 * - Large files.  A file larger than 50 MiB (52,428,800 bytes) that is
 *   untracked, or changed since it was staged, is left out of the
 *   snapshot, as is a file that cannot be read; one warning names them.
 *   (A tracked one keeps the content staged in the index.)
 * - Cost.  Only files whose stat data (size, times, inode) changed since
 *   the repository's index or the previous snapshot are read: flor keeps
 *   the previous snapshot's stat data in `snapshot.index` in the data
 *   directory.  In a repository of 10,000 files a run start costs about
 *   0.05-0.1 s once the files have been seen (about 0.1 s when all of
 *   them are untracked); the first snapshot reads every file git's index
 *   has no trustworthy stat data for (bench/bench_git.c).
 *
 * A snapshot that cannot be made (a damaged repository, a full disk) is a
 * warning: the run is recorded with a NULL vid.  Outside git, vid is NULL.
 */

/**
 * Writes the code of run RUN -- the tree of its vid -- into DIR, as
 * `git checkout` would write it (symbolic links, executable bits and
 * checkout filters included).  DIR must not exist (it is created, with its
 * parents) or be an empty directory.  Only DIR is written.
 *
 * @return 0; FLOR_ENOTFOUND when there is no run RUN, when it has no code
 *         version (recorded outside git, or its snapshot failed), or when
 *         its vid is not in the repository (a clone without flor.shadow,
 *         or the branch was deleted and pruned); FLOR_EINVAL when DIR
 *         exists and is not an empty directory; FLOR_EIO when a file
 *         cannot be written (DIR may then hold part of the code).
 */
FLOR_API int flor_project_checkout(flor_project *p, int64_t run, const char *dir);

/**
 * What changed from run RUN1 to run RUN2, as text for a person:
 *
 *     args of run 1 -> run 2:
 *       lr: 0.5 -> 0.25
 *       name: "toy" -> "second"
 *       hidden: (none) -> 75
 *     code of run 1 (5e1f0c2a9b3d) -> run 2 (a07c4d11e2f8):
 *     diff --git a/train.c b/train.c
 *     ...
 *
 * The first part lists the args (in the order RUN1 read them, then those
 * only RUN2 has) whose value or type differs; "(none)" marks an arg a run
 * does not have; text is quoted.  The second part is the unified diff of
 * the two snapshots, as `git diff VID1 VID2` prints it (renames found).
 * A part with no difference is one line ending in ": same".
 *
 * @param[out] out  the text, NUL-terminated; release it with free()
 * @return 0; FLOR_ENOTFOUND when a run does not exist, has no code
 *         version, or its vid is not in the repository (see
 *         flor_project_checkout).
 */
FLOR_API int flor_project_diff(flor_project *p, int64_t run1, int64_t run2, char **out);

/* ------------------------------------------------------------------------
 * Hindsight statements across code versions
 * ------------------------------------------------------------------------
 *
 * A hindsight statement is a logging call added to the working tree since
 * the latest recorded code version (the vid of the newest run that has
 * one): flor_log(), flor_log_long(), flor_log_double() or flor_log_text()
 * in a C-family file (.c .h .cc .cpp .cxx .hh .hpp .hxx .cu .cuh .inl),
 * flor.log() in a Python file.  It starts on an added line, outside
 * comments and string literals, and goes on over the added lines that
 * follow until its brackets balance.  Its name is its first argument when
 * that is a string literal.  Its guard goes with it: an `if` added alone
 * on the line before it (`if (step % 100 == 0)`, or `if (...) {` with the
 * block up to its closing brace; in Python `if ...:`) is part of the
 * statement, as is one on the statement's own line.  To replay old runs with it, their code is
 * written out with the statement carried in (flor_project_carry); `flor
 * replay NAME...` does that for every selected run, builds, and replays.
 *
 * The flor loops around a statement are found in the text: FLOR_LOOP(var,
 * "name", n) and its block or statement; flor_loop_begin("name", n) up to
 * the flor_loop_end() at the same block depth, else the end of the block;
 * in Python, `for ... in flor.loop("name", ...):` and `with
 * flor.iteration("name", ...):` and the indented block after them.  A
 * statement inside a loop nested in the checkpointed loop needs that loop
 * probed (--probe) in a replay, or it would not run.
 */

/**
 * The hindsight statements, one row per statement in file order: file
 * (relative to the project root), line (where it starts in the working
 * file, 1-based), name (NULL when not a literal), loops (the flor loops
 * around it, outermost first, joined by "/"; NULL outside any), statement
 * (its text on one line), version (NULL; in a back-fill, the vid the
 * statement comes from).  With N > 0 names, only the statements logging
 * one of NAMES.
 *
 * Back-fill: when N > 0 and no statement logging one of NAMES was added
 * to the working tree, the statements are those that the version of the
 * newest run that recorded one of NAMES adds to the version of the
 * newest run before it (of another version) that recorded none; file and
 * line are then that version's.
 *
 * @return 0 (an empty table when there is none); FLOR_ENOTFOUND when no
 *         run has a code version, or the newest one's vid is not in the
 *         repository.
 */
FLOR_API int flor_project_statements(flor_project *p, const char *const *names, size_t n,
                                     flor_table **out);

/**
 * Writes the code of run RUN into DIR, as flor_project_checkout() does,
 * with the hindsight statements logging NAMES (all when N is 0) carried
 * in.  Each statement is merged into its file by git's three-way file
 * merge: base = the file in the latest recorded version, ours = the file
 * in RUN's version, theirs = base with that statement inserted and no
 * other change.  The other differences between the versions stay as RUN
 * had them.  In a back-fill (see flor_project_statements) the base is
 * the version the statements are added to.
 *
 * What a statement needs is carried with it: in a file that holds a
 * carried statement, each added block (consecutive added lines that edit
 * no line of the base) whose lines are all #include lines (C) or import /
 * from lines at the left margin (Python), or that has a line starting at
 * the left margin that declares a name the carried code uses (C: the
 * identifier just before the line's first ( = ; [ or {, as in "static
 * double param_norm(const float *w, int n)"; Python: def NAME, class
 * NAME, but not NAME = ...), repeated until nothing more is needed.  Nothing else
 * is carried.  The lines of one hunk merge together.
 *
 * DIR also gets, as symbolic links to the working tree's files, every
 * file that git ignores or does not track and that RUN's version does
 * not have, in the same place (the user's data: weights, datasets), but
 * not .git, the data directory, __pycache__, files with an execute bit,
 * or object files (.o .a .so .obj .dylib .gch .pyc .pyo).
 *
 * One row per statement: file, line (in the working file), name, status
 * ('carried' or 'conflict'), at (the line where it starts in DIR's file;
 * NULL for a conflict), loops (the flor loops around it there, as in
 * flor_project_statements), reason (why it conflicted: the code around it
 * differs in RUN's version, or the file is not in one of the versions),
 * kind ('statement', or 'helper' for a block carried because a statement
 * needs it; its name is NULL).  A statement or block that conflicts is
 * left out of DIR; the others are carried.
 *
 * @return 0, even with conflicts (see the rows); FLOR_ENOTFOUND when no
 *         statement logging NAMES was added, or RUN has no code version
 *         in the repository; FLOR_EINVAL when DIR exists and is not empty;
 *         FLOR_EIO when DIR cannot be written.
 */
FLOR_API int flor_project_carry(flor_project *p, int64_t run, const char *dir,
                                const char *const *names, size_t n, flor_table **out);

/* ------------------------------------------------------------------------
 * Replay orchestration: what `flor replay` and flor.replay() run
 * ------------------------------------------------------------------------
 *
 * A replay re-runs a recorded program with --replay_flor i/S in S
 * segments of its checkpointed loop, a few processes at a time (the
 * in-process side is flor_init's; see "Hindsight logging" above).  These
 * calls are the launcher that starts those processes:
 *
 *     flor_replay_options o = {.cmd = cmd, .ncmd = 2, .progress = stderr};
 *     flor_replay *r = NULL;
 *     if (flor_replay_new(p, &o, &r) == 0 && flor_replay_run(r) == 0) {
 *         print(flor_replay_summary(r));      // one row per segment / run
 *         status = flor_replay_report(r) ? 1 : 0;
 *     }
 *     flor_replay_free(r);
 *
 * Two modes, by the options:
 *
 *   - no names: one run (run, else the latest run of COMMAND's file name,
 *     looked up once for every segment) replayed by COMMAND ARGS
 *     --replay_flor i/S [--replay_run RUN] [--probe LOOP]... in the
 *     working directory.  Summary columns: segment, status (finished,
 *     failed, killed, cancelled), seconds, new_values, compared,
 *     divergences, restores.
 *   - names: hindsight logging across code versions: the statements
 *     logging NAMES (flor_project_statements) are carried into the code of
 *     each selected run's version (flor_project_carry) in a temporary
 *     directory, built with BUILD, and each run replayed there with
 *     FLOR_DIR set to the project's data directory.  COMMAND may be empty
 *     (each run is then started as it started itself, a .py script
 *     through $FLOR_PYTHON or python3); a path in COMMAND into the project
 *     means that file of the version.  Summary columns: run, vid, status
 *     (finished, failed, killed, cancelled, conflict, build failed,
 *     missing version, no code version, skipped), seconds, new_values,
 *     divergences, conflicts.  docs/cli.md, `flor replay`, tells the rest.
 *
 * Every segment's stdout and stderr go to log files in a temporary work
 * area ($TMPDIR/flor-replay.XXXXXX); the logs of what failed are kept and
 * named, the rest goes, also when the launching process is killed (a
 * janitor process takes the segments down and removes the area).  While
 * flor_replay_run runs, SIGINT, SIGTERM and SIGHUP are passed on to the
 * segments, which are waited for (a second signal kills them); the
 * signal is then in flor_replay_signal, for the caller to end as it would
 * have ended.  Everything the launcher has to say (progress, the
 * statements carried, failures with the end of their stderr, totals) is
 * written as lines "flor: ..." to PROGRESS; nothing when it is NULL.
 * Not thread-safe: one launch at a time per process.
 *
 * On Slurm (slurm): the segments are submitted as one job array, `sbatch
 * --parsable SBATCH... SCRIPT`, one array task per segment running the
 * same command line, in the same directory and with the same environment
 * as a local segment (throttled to JOBS at a time when JOBS is given).
 * The nodes must see the project's directory where this host sees it (a
 * shared file system): the database, the checkpoints, and the launch's
 * area, DATADIR/slurm/replay-XXXXXX, which holds the segments' logs,
 * what each task records of its process, host and exit status, and, with
 * names, the versions' code (built here).  sbatch takes the launcher's
 * environment (its default --export=ALL).  flor_replay_run then waits
 * for the array (the tasks' files every half second, squeue at intervals
 * growing from 1 s to 16 s) and reads the results as for a local launch:
 * the same summary and report.  A task that Slurm cancelled before it
 * started is 'cancelled'; one that started and left no exit status
 * (scancel, its time limit, its node) is 'killed'.  SIGINT, SIGTERM or
 * SIGHUP while it waits cancel the job (scancel), whose tasks are then
 * waited for.  Without names, no_wait makes flor_replay_run return once
 * the job is submitted (the summary stays NULL; flor_replay_job has the
 * job's id), and a later launch with follow set to that id waits for it
 * and reads its results.  The area goes once the results are read, but
 * for the logs of what failed.  A run of several processes started by
 * flor itself (FLOR_LAUNCHER=local) cannot be replayed on Slurm.
 */

typedef struct flor_replay flor_replay;

typedef struct flor_replay_options {
    char *const *cmd;          /* COMMAND ARGS..., NCMD words (argv[0] found in PATH) */
    size_t ncmd;
    const char *const *names;  /* the names whose statements to replay; 0: one run */
    size_t nnames;
    const char *run;           /* without names: the run, by id or tstamp (NULL: the
                                * latest of COMMAND) */
    const char *const *probes; /* nested loops to run rather than skip */
    size_t nprobes;
    long jobs;                 /* at most this many processes at a time; 0: the number
                                * of online CPUs */
    long segments;             /* segments per run; 0: JOBS without names, else enough
                                * to keep JOBS processes busy */
    const char *where;         /* with names: an SQL condition over the runs' columns
                                * and one column per arg */
    const char *build;         /* with names: a shell command that builds a version,
                                * run in its directory */
    bool force;                /* with names: also the runs that have every name */
    FILE *progress;            /* where the launcher talks (stderr), or NULL */
    bool slurm;                /* run the segments as one Slurm job array (sbatch)
                                * instead of here; see above */
    char *const *sbatch;       /* with slurm: options for sbatch, NSBATCH words */
    size_t nsbatch;
    bool no_wait;              /* with slurm, without names: return once the job is
                                * submitted */
    const char *follow;        /* the job id of a replay submitted with slurm (and
                                * no_wait): wait for it and read its results; no
                                * other option goes with it */
} flor_replay_options;

/**
 * Checks O and makes a launch of the project P's runs in *OUT (freed by
 * flor_replay_free).  O's strings and arrays must outlive *OUT; COMMAND
 * is copied.  Nothing runs yet.
 *
 * @return 0; FLOR_EUSAGE when the options do not go together (run with
 *         names; where, build or force without; no COMMAND and no names;
 *         --replay_flor or --replay_run in COMMAND's args; sbatch or
 *         no_wait without slurm; no_wait with names; follow with
 *         anything);
 *         FLOR_EINVAL for a WHERE that is not one SQL condition, or jobs,
 *         segments out of range; FLOR_ENOMEM.
 */
FLOR_API int flor_replay_new(flor_project *p, const flor_replay_options *o, flor_replay **out);

/**
 * What flor_replay_new checks of O first, without a project: for a
 * command line to report its usage errors before it opens the project.
 *
 * @return 0, FLOR_EUSAGE or FLOR_EINVAL, as flor_replay_new.
 */
FLOR_API int flor_replay_check(const flor_replay_options *o);

typedef enum flor_replay_plan_format {
    FLOR_PLAN_BOTH = 1,     /* both, with a note on each */
    FLOR_PLAN_PARALLEL = 2, /* GNU parallel commands */
    FLOR_PLAN_SLURM = 3,    /* a Slurm job array script */
} flor_replay_plan_format;

/**
 * Writes to OUT the segments of a launch without names instead of running
 * them: as GNU parallel commands, as a Slurm job array script, or both.
 *
 * @return 0; FLOR_EUSAGE with names; FLOR_ENOTFOUND for a run that is
 *         not there; FLOR_ENOMEM.
 */
FLOR_API int flor_replay_plan(flor_replay *r, flor_replay_plan_format format, FILE *out);

/**
 * Runs the launch: pins the run, or selects the runs and writes, builds
 * their versions; runs the segments; reads back what they recorded.
 * Segments that fail do not make it fail (see flor_replay_report).
 *
 * @return 0; FLOR_ENOTFOUND when there is nothing to replay (no such run,
 *         no run of the program, no statement logging a name, COMMAND not
 *         runnable; on Slurm: sbatch not in PATH, no replay job FOLLOW in
 *         the project); FLOR_EINVAL for a WHERE the database rejects, or
 *         when sbatch refuses the job or squeue fails (with what they
 *         said; a job submitted still runs and can be followed); FLOR_EIO
 *         when the work area cannot be made; FLOR_ENOMEM.
 */
FLOR_API int flor_replay_run(flor_replay *r);

/** On Slurm: the id of the job array flor_replay_run submitted (or
 *  followed), owned by R; NULL otherwise. */
FLOR_API const char *flor_replay_job(const flor_replay *r);

/** The summary table (see the modes above), owned by R; NULL before
 *  flor_replay_run, when it was interrupted with names, or when it
 *  returned without waiting for a Slurm job (no_wait). */
FLOR_API const flor_table *flor_replay_summary(const flor_replay *r);

/**
 * Writes to PROGRESS what comes after the summary: the totals, the first
 * divergence as a warning, each failure with the end of its stderr.
 *
 * @return the number of segments (without names) or runs (with names)
 *         that did not finish; 0 when all did.
 */
FLOR_API long flor_replay_report(flor_replay *r);

/**
 * With names: what the launch did with each selected run, one row per run
 * in run order, owned by R: run, tstamp, vid (shortened to 12), status (as
 * in the summary: finished, failed, killed, cancelled, conflict, build
 * failed, missing version, no code version, skipped), segments (how many
 * segments it was replayed in; 0 when it was not), seconds, new_values,
 * divergences (NULL when it was not replayed), conflicts ("file:line
 * name; ..."), error (why it did not finish: the first error its segments
 * recorded in the replays table, else how the segment's process ended;
 * the build's failure; the conflicts; why the version is missing; NULL
 * when it finished or was skipped).  NULL without names, before
 * flor_replay_run, or when it was interrupted.
 */
FLOR_API const flor_table *flor_replay_runs(const flor_replay *r);

/** The signal (SIGINT, ...) that interrupted flor_replay_run, or 0. */
FLOR_API int flor_replay_signal(const flor_replay *r);

/** Removes the work area (keeping the logs of what failed, unless
 *  interrupted) and frees R.  NULL is ignored. */
FLOR_API void flor_replay_free(flor_replay *r);

/**
 * The run SPEC names in *RUN: its run_id (a decimal number), else its
 * tstamp, as `flor runs` shows them.
 *
 * @return 0; FLOR_ENOTFOUND when there is no such run.
 */
FLOR_API int flor_project_find_run(flor_project *p, const char *spec, int64_t *run);

/**
 * The programs the project recorded, one row per file name, oldest first:
 * column program, the argv[0] of its latest run (its file name when the
 * argv is not known).  What flor.replay() replays.
 */
FLOR_API int flor_project_programs(flor_project *p, flor_table **out);

/**
 * "flor: warning: MESSAGE" on stderr, unless FLOR_QUIET is set: the
 * library's own warning line, for bindings (the Python module) that
 * warn as flor does.
 */
FLOR_API void flor_warn(const char *fmt, ...);


#ifdef __cplusplus
}

/* ------------------------------------------------------------------------
 * C++ (g++, clang++, and nvcc, which compiles host code as C++)
 * ------------------------------------------------------------------------ */

/**
 * In C++ the same header gives overloads where C has _Generic macros, and
 * a range form of a loop:
 *
 *     #include <flor.h>
 *     int main(int argc, char **argv) {
 *         flor_init(&argc, &argv);
 *         long   epochs = flor_arg("epochs", 5L);
 *         double lr     = flor_arg("lr", 1e-3);
 *         for (long epoch : flor::loop("epoch", epochs)) {
 *             for (long step : flor::loop("step", nbatches)) { ... flor_log("loss", loss); }
 *             flor_log("acc", evaluate());
 *         }
 *         return flor_finish();
 *     }
 *
 * flor_arg and flor_log accept what their C forms accept (a float default
 * returns a float; text as const char *, so pass s.c_str() for a
 * std::string).  flor::loop opens the loop when the range-for starts and
 * closes it when the range-for ends, by break, return or exception; an
 * exception closes it as flor_loop_abort() does (C++17), so the iteration
 * it left is not checkpointed.  FLOR_LOOP works in C++ as well.
 *
 * CUDA programs: flor checkpoints host memory.  Register a pinned host
 * buffer (cudaMallocHost) as the checkpoint of each device array, and
 * copy device -> host into it at the end of every iteration of the
 * checkpointed loop (cudaMemcpyAsync, then cudaStreamSynchronize before
 * flor_loop_next): flor takes its copy from the pinned buffer in the
 * background.  In a replay, copy host -> device after each restore, that
 * is, at the start of every iteration, or register the arrays with
 * flor_checkpoint_ops, whose save and load callbacks do the two copies.
 */
inline int flor_arg(const char *name, int dflt) { return flor_arg_int_v(name, dflt); }
inline long flor_arg(const char *name, long dflt) { return flor_arg_long_v(name, dflt); }
inline double flor_arg(const char *name, double dflt) { return flor_arg_double_v(name, dflt); }
inline float flor_arg(const char *name, float dflt)
{
    return static_cast<float>(flor_arg_double_v(name, static_cast<double>(dflt)));
}
inline const char *flor_arg(const char *name, const char *dflt)
{
    return flor_arg_text_v(name, dflt);
}
inline bool flor_arg(const char *name, bool dflt) { return flor_arg_bool_v(name, dflt); }

inline int flor_log(const char *name, int v) { return flor_log_long(name, v); }
inline int flor_log(const char *name, long v) { return flor_log_long(name, v); }
inline int flor_log(const char *name, long long v) { return flor_log_long(name, v); }
inline int flor_log(const char *name, unsigned v) { return flor_log_long(name, v); }
inline int flor_log(const char *name, unsigned long v)
{
    return flor_log_long(name, static_cast<long long>(v));
}
inline int flor_log(const char *name, unsigned long long v)
{
    return flor_log_long(name, static_cast<long long>(v));
}
inline int flor_log(const char *name, float v) { return flor_log_double(name, v); }
inline int flor_log(const char *name, double v) { return flor_log_double(name, v); }
inline int flor_log(const char *name, const char *v) { return flor_log_text(name, v); }

#if __cplusplus >= 201703L
#include <exception>
#endif

namespace flor {

/* for (long i : flor::loop("step", n)) { ... }: see above. */
class loop {
  public:
    loop(const char *name, long n) : l_(flor_loop_begin(name, n)) {}
    ~loop()
    {
#if __cplusplus >= 201703L
        if (std::uncaught_exceptions() > uncaught_) {
            flor_loop_abort(&l_);
            return;
        }
#endif
        flor_loop_end(&l_);
    }
    loop(const loop &) = delete;
    loop &operator=(const loop &) = delete;

    class iterator {
      public:
        explicit iterator(flor_loop *l) : l_(l), i_(-1) { advance(); }
        iterator() : l_(nullptr), i_(-1) {}
        long operator*() const { return i_; }
        iterator &operator++()
        {
            advance();
            return *this;
        }
        bool operator!=(const iterator &o) const { return l_ != o.l_; }

      private:
        void advance()
        {
            if (l_ && !flor_loop_next(l_, &i_))
                l_ = nullptr;
        }
        flor_loop *l_;
        long i_;
    };
    iterator begin() { return iterator(&l_); }
    iterator end() { return iterator(); }
    /* The underlying loop, for flor_loop_abort() and the like. */
    flor_loop *get() { return &l_; }

  private:
    flor_loop l_;
#if __cplusplus >= 201703L
    int uncaught_ = std::uncaught_exceptions();
#endif
};

} /* namespace flor */
#endif /* __cplusplus */

#endif /* FLOR_H */
