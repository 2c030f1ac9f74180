/*
 * jobs.c -- the launcher's jobs, run as a process pool: the segments
 * (and builds) of a replay as child processes, a few at a time.
 *
 * Each segment is forked and exec'd in a process group of its own, with
 * its output going to two log files, so that the terminal's Ctrl-C
 * reaches the launcher alone; it passes the signal on and waits, which lets
 * every segment record how it ended.  Signal handlers only write a byte
 * into a pipe (the self-pipe trick), so the loop sleeps in poll() until a
 * child exits, a signal arrives or the progress line is due.
 */
#include "replay/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static const int handled[] = {SIGINT, SIGTERM, SIGHUP, SIGCHLD};
#define NHANDLED (int)(sizeof handled / sizeof handled[0])

static int wake[2] = {-1, -1};
static volatile sig_atomic_t got_signal, nsignals;

typedef struct pool {
    flor__job *jobs;
    int n, maxrun;
    int next, running, done;
    int forwarded; /* signals passed on: 0, 1, or 2 once SIGKILL was sent */
    int tty;
    const char *noun; /* what the jobs are, plural: "segments" */
    FILE *progress;   /* where the progress goes, or NULL */
    pid_t launcher;   /* flor's own pid */
    double t0;
    struct sigaction old[NHANDLED];
} pool;

const char *flor__signal_name(int sig)
{
    static char buf[32];
    switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    case SIGKILL: return "SIGKILL";
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGPIPE: return "SIGPIPE";
    default:
        snprintf(buf, sizeof buf, "signal %d", sig);
        return buf;
    }
}

void flor__job_release(flor__job *j)
{
    free(j->argv);
    free((char *)j->label);
    free(j->out_path);
    free(j->err_path);
    free(j->host);
    j->argv = NULL;
    j->label = j->out_path = j->err_path = j->host = NULL;
}

const char *flor__job_describe(const flor__job *j, char *buf, size_t n)
{
    if (j->state == FLOR__JOB_CANCELLED)
        snprintf(buf, n, "not started");
    else if (j->state == FLOR__JOB_VANISHED)
        snprintf(buf, n, "ended without an exit status: cancelled or killed by Slurm "
                         "(scancel, its time limit, its node)");
    else if (j->spawn_errno)
        snprintf(buf, n, "could not start: %s", strerror(j->spawn_errno));
    else if (WIFSIGNALED(j->wstatus))
        snprintf(buf, n, "killed by %s", flor__signal_name(WTERMSIG(j->wstatus)));
    else if (WEXITSTATUS(j->wstatus) != 0)
        snprintf(buf, n, "exit status %d", WEXITSTATUS(j->wstatus));
    else
        snprintf(buf, n, "finished");
    return buf;
}

bool flor__job_ok(const flor__job *j)
{
    return j->state == FLOR__JOB_DONE && !j->spawn_errno && WIFEXITED(j->wstatus) &&
           WEXITSTATUS(j->wstatus) == 0;
}

/* ---- signals ---------------------------------------------------------------- */

static void on_signal(int sig)
{
    int saved = errno;
    if (sig != SIGCHLD) {
        got_signal = sig;
        nsignals++;
    }
    char c = 0;
    if (write(wake[1], &c, 1) < 0) {
        /* the pipe is full: poll() will wake up anyway */
    }
    errno = saved;
}

static int install_handlers(pool *pl)
{
    got_signal = nsignals = 0;
    if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0)
        return flor__err(FLOR_EIO, "cannot create a pipe: %s", strerror(errno));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < NHANDLED; i++) {
        sigaction(handled[i], NULL, &pl->old[i]);
        if (pl->old[i].sa_handler == SIG_IGN && handled[i] != SIGCHLD)
            continue; /* ignored, as under nohup or in a background job: stays so */
        sa.sa_flags = SA_RESTART | (handled[i] == SIGCHLD ? SA_NOCLDSTOP : 0);
        sigaction(handled[i], &sa, NULL);
    }
    return 0;
}

static void restore_handlers(pool *pl)
{
    for (int i = 0; i < NHANDLED; i++)
        sigaction(handled[i], &pl->old[i], NULL);
    close(wake[0]);
    close(wake[1]);
    wake[0] = wake[1] = -1;
}

/* ---- progress ---------------------------------------------------------------- */

static void draw(const pool *pl)
{
    if (pl->tty && pl->progress)
        fprintf(pl->progress, "\rreplay: %d/%d %s done, %d running, %.1f s\033[K", pl->done, pl->n,
                pl->noun, pl->running, flor__mono() - pl->t0);
}

/* A line for a job that ended: every job off a terminal, failures only on one. */
static void report_end(const pool *pl, const flor__job *j)
{
    char why[160];
    flor__job_describe(j, why, sizeof why);
    int ok = strcmp(why, "finished") == 0;
    if ((pl->tty && ok) || !pl->progress)
        return;
    int killed = strncmp(why, "killed", 6) == 0;
    fprintf(pl->progress, "%sreplay: %s %s%s, %.1f s (%d/%d done)\n", pl->tty ? "\r\033[K" : "",
            j->label, ok || killed ? "" : "failed: ", why, j->t1 - j->t0, pl->done, pl->n);
}

/* ---- processes ---------------------------------------------------------------- */

static void child(const pool *pl, const flor__job *j, int out, int err, const sigset_t *mask)
{
    for (int i = 0; i < NHANDLED; i++) /* what flor itself was started with */
        sigaction(handled[i], &pl->old[i], NULL);
    sigprocmask(SIG_SETMASK, mask, NULL);
    setpgid(0, 0);
    /* killed with flor, even by SIGKILL (flor forks from its one thread);
     * the janitor kills the rest of the group */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != pl->launcher)
        _exit(127); /* flor died before prctl() */
    int in = open("/dev/null", O_RDONLY);
    if (in > 0) {
        dup2(in, 0);
        close(in);
    }
    dup2(out, 1);
    dup2(err, 2);
    for (char *const *e = j->env; e && *e; e++)
        putenv(*e);
    if (j->cwd && chdir(j->cwd) != 0) {
        dprintf(2, "flor: cannot enter '%s': %s\n", j->cwd, strerror(errno));
        _exit(127);
    }
    if (j->local_ranks > 1)
        flor__local_ranks(j->argv, j->local_ranks);
    execvp(j->argv[0], j->argv);
    dprintf(2, "flor: cannot run '%s': %s\n", j->argv[0], strerror(errno));
    _exit(127);
}

static void ended(pool *pl, flor__job *j)
{
    j->t1 = flor__mono();
    j->state = FLOR__JOB_DONE;
    pl->done++;
    report_end(pl, j);
}

static void spawn(pool *pl, flor__job *j)
{
    int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
    int out = open(j->out_path, flags, 0644), err = out < 0 ? -1 : open(j->err_path, flags, 0644);
    j->t0 = flor__mono();
    pid_t pid = -1;
    if (out >= 0 && err >= 0) {
        sigset_t block, old;
        sigemptyset(&block);
        for (int i = 0; i < NHANDLED; i++)
            sigaddset(&block, handled[i]);
        sigprocmask(SIG_BLOCK, &block, &old); /* the child must not run our handler */
        pid = fork();
        if (pid == 0)
            child(pl, j, out, err, &old);
        j->spawn_errno = pid < 0 ? errno : 0;
        if (pid > 0) {
            setpgid(pid, pid);
            flor__workarea_track('+', pid);
        }
        sigprocmask(SIG_SETMASK, &old, NULL);
    } else {
        j->spawn_errno = errno;
    }
    if (out >= 0)
        close(out);
    if (err >= 0)
        close(err);
    if (pid < 0) {
        ended(pl, j);
        return;
    }
    j->pid = pid;
    j->state = FLOR__JOB_RUNNING;
    pl->running++;
}

static void reap(pool *pl)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < pl->n; i++) {
            flor__job *j = &pl->jobs[i];
            if (j->state == FLOR__JOB_RUNNING && j->pid == pid) {
                flor__workarea_track('-', pid);
                j->wstatus = status;
                pl->running--;
                ended(pl, j);
                break;
            }
        }
    }
}

/* After a signal: no more starts, and the signal (SIGKILL the second
 * time) goes to every running job's process group. */
static void forward(pool *pl)
{
    int want = nsignals >= 2 ? 2 : nsignals;
    if (want <= pl->forwarded)
        return;
    int sig = want >= 2 ? SIGKILL : got_signal;
    for (int i = pl->next; i < pl->n; i++)
        pl->jobs[i].state = FLOR__JOB_CANCELLED;
    pl->next = pl->n;
    if (pl->tty && pl->progress)
        fputs("\r\033[K", pl->progress);
    if (pl->running > 0 && pl->forwarded == 0 && pl->progress)
        fprintf(pl->progress, "flor: interrupted: %s passed on to the %d running %s; waiting for "
                        "them (again to kill them)\n",
                flor__signal_name(sig), pl->running, pl->noun);
    for (int i = 0; i < pl->n; i++)
        if (pl->jobs[i].state == FLOR__JOB_RUNNING && kill(-pl->jobs[i].pid, sig) != 0)
            kill(pl->jobs[i].pid, sig);
    pl->forwarded = want;
}

static void sleep_until_event(const pool *pl)
{
    struct pollfd fd = {wake[0], POLLIN, 0};
    if (poll(&fd, 1, pl->tty ? 100 : -1) > 0) {
        char buf[64];
        while (read(wake[0], buf, sizeof buf) > 0)
            ;
    }
}

int flor__pool_run(flor__job *jobs, int n, int maxrun, const char *noun, FILE *progress)
{
    pool pl = {.jobs = jobs, .n = n, .maxrun = maxrun, .noun = noun, .progress = progress,
               .tty = progress && isatty(fileno(progress)), .launcher = getpid()};
    if (install_handlers(&pl) != 0)
        return -1;
    pl.t0 = flor__mono();
    for (;;) {
        forward(&pl);
        reap(&pl);
        while (pl.running < pl.maxrun && pl.next < pl.n)
            spawn(&pl, &jobs[pl.next++]);
        if (pl.running == 0 && pl.next >= pl.n)
            break;
        draw(&pl);
        sleep_until_event(&pl);
    }
    if (pl.tty && progress)
        fputs("\r\033[K", progress);
    restore_handlers(&pl);
    return got_signal;
}

/* The last lines (at most 5) of a failed job's stderr, indented, after
 * the name of its log file. */
void flor__job_print_tail(const flor__job *j, FILE *out)
{
    if (!out)
        return;
    char buf[2048];
    size_t n = 0;
    long from = 0;
    FILE *f = fopen(j->err_path, "rb");
    if (f) {
        long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : 0;
        from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
        fseek(f, from, SEEK_SET);
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
    }
    while (n > 0 && buf[n - 1] == '\n')
        n--;
    buf[n] = '\0';
    char *start = buf + n;
    for (int lines = 0; start > buf && lines < 5;)
        if (*--start == '\n' && ++lines == 5)
            start++;
    if (from > 0 && start == buf) /* a partial first line */
        start += strcspn(start, "\n") + (start[strcspn(start, "\n")] ? 1 : 0);
    if (!*start) {
        fprintf(out, "flor: its stderr, %s, is empty; its stdout is in %s\n", j->err_path,
                j->out_path);
        return;
    }
    fprintf(out, "flor: its stderr, in %s, ends with:\n", j->err_path);
    for (char *line = start; line;) {
        char *nl = strchr(line, '\n');
        fprintf(out, "    %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
        line = nl ? nl + 1 : NULL;
    }
}
