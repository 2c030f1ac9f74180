/*
 * replay_pool.c -- the segments of `flor replay` as child processes.
 *
 * Each segment is forked and exec'd in a process group of its own, with
 * its output going to two log files, so that the terminal's Ctrl-C
 * reaches flor alone; flor passes the signal on and waits, which lets
 * every segment record how it ended.  Signal handlers only write a byte
 * into a pipe (the self-pipe trick), so the loop sleeps in poll() until a
 * child exits, a signal arrives or the progress line is due.
 */
#include "cli.h"
#include "replay.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const int handled[] = {SIGINT, SIGTERM, SIGHUP, SIGCHLD};
#define NHANDLED (int)(sizeof handled / sizeof handled[0])

static int wake[2] = {-1, -1};
static volatile sig_atomic_t got_signal, nsignals;

typedef struct pool {
    replay_job *jobs;
    int n, maxrun;
    int next, running, done;
    int forwarded; /* signals passed on: 0, 1, or 2 once SIGKILL was sent */
    int tty;
    const char *noun; /* what the jobs are, plural: "segments" */
    pid_t launcher;   /* flor's own pid */
    double t0;
    struct sigaction old[NHANDLED];
} pool;

double replay_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *signal_name(int sig)
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

/* ---- the work area and its janitor ------------------------------------------------
 *
 * The work area, $TMPDIR/flor-replay.XXXXXX, names its owner in a file
 * "owner": the launcher's pid and the start time of its process (so a
 * reused pid is not taken for it).  A tiny janitor process, forked when
 * the area is made, reads a pipe from the launcher: "+PGID" when a job's
 * process group starts, "-PGID" when it is reaped, "done" when the
 * launcher has cleaned up.  End of file without "done" means the launcher
 * died (even by SIGKILL): the janitor kills the groups still running and
 * removes the area.  A new launcher also removes the areas of owners that
 * are gone (a janitor killed with its launcher). */

static int janitor_fd = -1; /* the launcher's end of the pipe */
static pid_t janitor_pid;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void replay_remove_tree(const char *dir)
{
    if (dir)
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The start time of process PID (field 22 of /proc/PID/stat), or 0. */
static unsigned long long proc_start(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long start = 0;
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    if (p)
        start = strtoull(p + 1, NULL, 10);
    return start;
}

/* Removes the areas under TMP whose owner is gone. */
static void sweep_stale(const char *tmp)
{
    DIR *d = opendir(tmp);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "flor-replay.", 12) != 0)
            continue;
        char *owner = cli_printf("%s/%s/owner", tmp, e->d_name);
        FILE *f = owner ? fopen(owner, "r") : NULL;
        long pid = 0;
        unsigned long long start = 0;
        int n = f ? fscanf(f, "%ld %llu", &pid, &start) : 0;
        if (f)
            fclose(f);
        if (n == 2 && pid > 0 && proc_start(pid) != start) {
            char *dir = cli_printf("%s/%s", tmp, e->d_name);
            replay_remove_tree(dir);
            free(dir);
        }
        free(owner);
    }
    closedir(d);
}

static void janitor(int in, const char *dir)
{
    static const int quiet[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP};
    for (size_t i = 0; i < sizeof quiet / sizeof *quiet; i++)
        signal(quiet[i], SIG_IGN);
    int null = open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3 && null >= 0; fd++)
        dup2(null, fd);
    for (int fd = 3; fd < 1024; fd++)
        if (fd != in)
            close(fd);
    pid_t *groups = NULL;
    size_t n = 0, cap = 0;
    char line[64];
    size_t len = 0;
    for (;;) {
        char c;
        ssize_t r = read(in, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* the launcher is gone */
        if (c != '\n') {
            if (len < sizeof line - 1)
                line[len++] = c;
            continue;
        }
        line[len] = '\0';
        len = 0;
        if (strcmp(line, "done") == 0)
            _exit(0);
        pid_t g = (pid_t)atol(line + 1);
        if (line[0] == '+' && g > 0) {
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                pid_t *v = realloc(groups, ncap * sizeof *v);
                if (!v)
                    continue;
                groups = v;
                cap = ncap;
            }
            groups[n++] = g;
        } else if (line[0] == '-') {
            for (size_t k = 0; k < n; k++)
                if (groups[k] == g)
                    groups[k] = groups[--n];
        }
    }
    for (size_t k = 0; k < n; k++)
        kill(-groups[k], SIGKILL);
    replay_remove_tree(dir);
    _exit(0);
}

static void janitor_say(const char *fmt, long v)
{
    if (janitor_fd < 0)
        return;
    char msg[64];
    int len = snprintf(msg, sizeof msg, fmt, v);
    if (write(janitor_fd, msg, (size_t)len) < 0) {
        /* the janitor is gone: nothing more to tell it */
    }
}

/* Makes the area from TEMPLATE (in place) with its owner file: LAUNCHER.
 * 0, or an errno. */
static int make_area(char *template, long launcher)
{
    if (!mkdtemp(template))
        return errno;
    char *owner = cli_printf("%s/owner", template);
    FILE *f = owner ? fopen(owner, "w") : NULL;
    if (f) {
        fprintf(f, "%ld %llu\n", launcher, proc_start(launcher));
        fclose(f);
    }
    free(owner);
    return 0;
}

/* The janitor makes the area itself, so that there is no moment when it
 * exists without someone to remove it: the launcher may die at any time. */
static int area_with_janitor(char *template)
{
    int cmd[2], reply[2];
    if (pipe2(cmd, O_CLOEXEC) != 0)
        return errno;
    if (pipe2(reply, O_CLOEXEC) != 0) {
        int e = errno;
        close(cmd[0]);
        close(cmd[1]);
        return e;
    }
    long launcher = (long)getpid();
    pid_t pid = fork();
    if (pid == 0) {
        close(cmd[1]);
        close(reply[0]);
        int e = make_area(template, launcher);
        char c = e ? 1 : 0; /* then the name mkdtemp() chose, as long as TEMPLATE */
        if (write(reply[1], &c, 1) != 1 || e ||
            write(reply[1], template, strlen(template)) != (ssize_t)strlen(template))
            _exit(0); /* the launcher sees EOF and cleans nothing; the sweep will */
        close(reply[1]);
        janitor(cmd[0], template);
    }
    int e = pid < 0 ? errno : 0;
    close(cmd[0]);
    close(reply[1]);
    char c = 1;
    size_t len = strlen(template), got = 0;
    if (pid > 0 && read(reply[0], &c, 1) != 1)
        c = 1;
    while (!c && got < len) {
        ssize_t r = read(reply[0], template + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            c = 1;
        else
            got += (size_t)r;
    }
    close(reply[0]);
    if (pid < 0 || c) {
        close(cmd[1]);
        if (pid > 0)
            waitpid(pid, NULL, 0);
        return e ? e : EIO;
    }
    janitor_fd = cmd[1];
    janitor_pid = pid;
    return 0;
}

char *replay_work_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    sweep_stale(tmp);
    char *dir = cli_printf("%s/flor-replay.XXXXXX", tmp);
    if (!dir) {
        errno = ENOMEM;
        return NULL;
    }
    int e = area_with_janitor(dir);
    if (e) { /* no janitor: the next launch removes the area if flor dies */
        memcpy(dir + strlen(dir) - 6, "XXXXXX", 6);
        e = make_area(dir, (long)getpid());
    }
    if (e) {
        free(dir);
        errno = e;
        return NULL;
    }
    return dir;
}

void replay_work_done(const char *dir, bool remove_all)
{
    if (dir) {
        char *owner = cli_printf("%s/owner", dir);
        if (owner)
            unlink(owner);
        free(owner);
        if (remove_all)
            replay_remove_tree(dir);
        else
            rmdir(dir);
    }
    if (janitor_fd >= 0) {
        janitor_say("done\n", 0);
        close(janitor_fd);
        janitor_fd = -1;
        waitpid(janitor_pid, NULL, 0);
    }
}

void replay_job_release(replay_job *j)
{
    free(j->argv);
    free((char *)j->label);
    free(j->out_path);
    free(j->err_path);
    j->argv = NULL;
    j->label = j->out_path = j->err_path = NULL;
}

const char *replay_describe(const replay_job *j, char *buf, size_t n)
{
    if (j->state == JOB_CANCELLED)
        snprintf(buf, n, "not started");
    else if (j->spawn_errno)
        snprintf(buf, n, "could not start: %s", strerror(j->spawn_errno));
    else if (WIFSIGNALED(j->wstatus))
        snprintf(buf, n, "killed by %s", signal_name(WTERMSIG(j->wstatus)));
    else if (WEXITSTATUS(j->wstatus) != 0)
        snprintf(buf, n, "exit status %d", WEXITSTATUS(j->wstatus));
    else
        snprintf(buf, n, "finished");
    return buf;
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
        return cli_error("cannot create a pipe: %s", strerror(errno));
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
    if (pl->tty)
        fprintf(stderr, "\rreplay: %d/%d %s done, %d running, %.1f s\033[K", pl->done, pl->n,
                pl->noun, pl->running, replay_now() - pl->t0);
}

/* A line for a job that ended: every job off a terminal, failures only on one. */
static void report_end(const pool *pl, const replay_job *j)
{
    char why[160];
    replay_describe(j, why, sizeof why);
    int ok = strcmp(why, "finished") == 0;
    if (pl->tty && ok)
        return;
    int killed = strncmp(why, "killed", 6) == 0;
    fprintf(stderr, "%sreplay: %s %s%s, %.1f s (%d/%d done)\n", pl->tty ? "\r\033[K" : "",
            j->label, ok || killed ? "" : "failed: ", why, j->t1 - j->t0, pl->done, pl->n);
}

/* ---- processes ---------------------------------------------------------------- */

static void child(const pool *pl, const replay_job *j, int out, int err, const sigset_t *mask)
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
    execvp(j->argv[0], j->argv);
    dprintf(2, "flor: cannot run '%s': %s\n", j->argv[0], strerror(errno));
    _exit(127);
}

static void ended(pool *pl, replay_job *j)
{
    j->t1 = replay_now();
    j->state = JOB_DONE;
    pl->done++;
    report_end(pl, j);
}

static void spawn(pool *pl, replay_job *j)
{
    int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
    int out = open(j->out_path, flags, 0644), err = out < 0 ? -1 : open(j->err_path, flags, 0644);
    j->t0 = replay_now();
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
            janitor_say("+%ld\n", (long)pid);
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
    j->state = JOB_RUNNING;
    pl->running++;
}

static void reap(pool *pl)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < pl->n; i++) {
            replay_job *j = &pl->jobs[i];
            if (j->state == JOB_RUNNING && j->pid == pid) {
                janitor_say("-%ld\n", (long)pid);
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
        pl->jobs[i].state = JOB_CANCELLED;
    pl->next = pl->n;
    if (pl->tty)
        fputs("\r\033[K", stderr);
    if (pl->running > 0 && pl->forwarded == 0)
        fprintf(stderr, "flor: interrupted: %s passed on to the %d running %s; waiting for "
                        "them (again to kill them)\n",
                signal_name(sig), pl->running, pl->noun);
    for (int i = 0; i < pl->n; i++)
        if (pl->jobs[i].state == JOB_RUNNING && kill(-pl->jobs[i].pid, sig) != 0)
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

int replay_pool_run(replay_job *jobs, int n, int maxrun, const char *noun)
{
    pool pl = {.jobs = jobs, .n = n, .maxrun = maxrun, .tty = isatty(STDERR_FILENO),
               .noun = noun, .launcher = getpid()};
    if (install_handlers(&pl) != 0)
        return -1;
    pl.t0 = replay_now();
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
    if (pl.tty)
        fputs("\r\033[K", stderr);
    restore_handlers(&pl);
    return got_signal;
}

/* The last lines (at most 5) of a failed job's stderr, indented, after
 * the name of its log file. */
void replay_print_tail(const replay_job *j)
{
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
        fprintf(stderr, "flor: its stderr, %s, is empty; its stdout is in %s\n", j->err_path,
                j->out_path);
        return;
    }
    fprintf(stderr, "flor: its stderr, in %s, ends with:\n", j->err_path);
    for (char *line = start; line;) {
        char *nl = strchr(line, '\n');
        fprintf(stderr, "    %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
        line = nl ? nl + 1 : NULL;
    }
}
