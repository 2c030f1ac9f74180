/*
 * slurm.c -- a replay's jobs as one Slurm job array instead of the local
 * process pool: `flor replay --slurm`, flor_replay_options.slurm.
 *
 * The launch's area is a directory under the project's data directory,
 * DATADIR/slurm/replay-XXXXXX, which the nodes see where they see the
 * project (a shared file system).  It holds the script sbatch gets
 * (job.sh: task I runs job I, in the job's directory, with its
 * environment, its stdout and stderr into the job's log files), Slurm's
 * own output of each task (task-I.out, .err: made when the task starts),
 * the job's process and host (task-I.pid: "PID HOST") and how it ended
 * (task-I.rc: "STATUS T0 T1", the shell's exit status and the wall-clock
 * times, written once it has exited).  The launcher waits until every
 * task has its .rc or the job has left squeue, and fills the jobs from
 * those files; segments.c and versions.c then read the results as after
 * a local launch.  For one run, the launch file ("JOB RUN SEGMENTS BASE")
 * lets a later launch follow the job (no_wait, then follow).  The area
 * goes once the results are read, but for the logs of what failed.
 */
#include "replay/launch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- Slurm's commands -------------------------------------------------------------- */

/* What FD gives until its end, malloc'd and NUL-terminated ("" when out of
 * memory). */
static char *slurp(int fd)
{
    flor__buf b = {0};
    char chunk[4096];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        flor__buf_add(&b, chunk, (size_t)n);
    }
    if (flor__buf_add(&b, "", 1) != 0) {
        flor__buf_release(&b);
        return calloc(1, 1);
    }
    return b.p;
}

/* Runs ARGV (argv[0] looked up in PATH) with stdin from /dev/null, in a
 * process group of its own (a Ctrl-C at the terminal is flor's to handle,
 * not squeue's); its stdout and stderr into *OUT and *ERR (malloc'd), its
 * wait status into *STATUS.  0, or an errno when it could not start
 * (ENOENT: not in PATH). */
static int run_tool(char *const *argv, char **out, char **err, int *status)
{
    int po[2], pe[2];
    *out = *err = NULL;
    if (pipe2(po, O_CLOEXEC) != 0)
        return errno;
    if (pipe2(pe, O_CLOEXEC) != 0) {
        int e = errno;
        close(po[0]);
        close(po[1]);
        return e;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&at, 0);
    pid_t pid;
    int e = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(po[1]);
    close(pe[1]);
    if (!e) { /* their outputs are short: a job id, a line of squeue's, an error */
        *out = slurp(po[0]);
        *err = slurp(pe[0]);
    }
    close(po[0]);
    close(pe[0]);
    if (e)
        return e;
    while (waitpid(pid, status, 0) < 0)
        if (errno != EINTR) {
            *status = 127 << 8;
            break;
        }
    return 0;
}

/* TEXT on one line: its newlines as "; ", without the last. */
static char *one_line(char *text)
{
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
        text[--n] = '\0';
    for (char *c = text; *c; c++)
        if (*c == '\n')
            *c = ' ';
    return text;
}

/* Runs Slurm's command ARGV; *OUT (malloc'd) is its stdout when it ran
 * and exited 0.  Otherwise a flor error that names WHAT (the command as
 * the user would type it) and says what it said; *EXIT is then its exit
 * status, or -1 when it could not start. */
static int slurm_cmd(char *const *argv, const char *what, char **out, int *exit)
{
    char *err = NULL;
    int status = 0, e = run_tool(argv, out, &err, &status), rc = 0;
    *exit = -1;
    if (e == ENOENT)
        rc = flor__err(FLOR_ENOTFOUND, "cannot run '%s': no such program in PATH (a replay on "
                                       "Slurm needs Slurm's commands here: Debian's slurm-client)",
                       argv[0]);
    else if (e)
        rc = flor__err(FLOR_EIO, "cannot run '%s': %s", argv[0], strerror(e));
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        *exit = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        rc = flor__err(FLOR_EINVAL, "%s failed (exit status %d): %s", what, *exit,
                       *one_line(err) ? err : "it said nothing");
    }
    free(err);
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* ---- the area ------------------------------------------------------------------------ */

/* PATH's first line into BUF; false when it cannot be read. */
static bool read_line(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "r");
    bool ok = f && fgets(buf, (int)n, f);
    if (f)
        fclose(f);
    return ok;
}

static char *task_file(const flor_replay *r, long i, const char *ext)
{
    return flor__printf("%s/task-%ld.%s", r->dir, i, ext);
}

int flor__slurm_area(flor_replay *r)
{
    char *top = flor__printf("%s/slurm", flor_project_dir(r->p));
    if (!top)
        return flor__err(FLOR_ENOMEM, "out of memory");
    if (mkdir(top, 0777) != 0 && errno != EEXIST) {
        int rc = flor__err(FLOR_EIO, "cannot create '%s' for the replay's Slurm job: %s", top,
                           strerror(errno));
        free(top);
        return rc;
    }
    r->dir = flor__printf("%s/replay-XXXXXX", top);
    free(top);
    if (!r->dir)
        return flor__err(FLOR_ENOMEM, "out of memory");
    if (!mkdtemp(r->dir)) {
        int rc = flor__err(FLOR_EIO, "cannot create '%s' for the replay's Slurm job: %s",
                           r->dir, strerror(errno));
        free(r->dir);
        r->dir = NULL;
        return rc;
    }
    return 0;
}

/* The job array script of the N JOBS: task I runs job I. */
static int put_script(FILE *f, const flor_replay *r, const flor__job *jobs, long n,
                      const char *cwd)
{
    fprintf(f, "#!/bin/sh\n#SBATCH --job-name=flor-replay\n#SBATCH --array=0-%ld", n - 1);
    if (r->a.jobs_given)
        fprintf(f, "%%%ld", r->a.jobs);
    fputs("\n#SBATCH --output=", f);
    flor__put_word(f, r->dir);
    fputs("/task-%a.out\n#SBATCH --error=", f);
    flor__put_word(f, r->dir);
    fprintf(f, "/task-%%a.err\n# flor replay --slurm: %ld task%s, each a segment of a run, whose "
               "replay writes into\n#   %s\n# on the file system this host shares with the "
               "nodes.\narea=",
            n, n == 1 ? "" : "s", flor_project_dir(r->p));
    flor__put_word(f, r->dir);
    fputs("\ntask=\"$area/task-$SLURM_ARRAY_TASK_ID\"\nt0=$(date +%s.%N)\n"
          "case \"$SLURM_ARRAY_TASK_ID\" in\n", f);
    for (long i = 0; i < n; i++) {
        const flor__job *j = &jobs[i];
        if (j->local_ranks > 1)
            return flor__err(FLOR_EINVAL, "%s: a run of several processes started by flor "
                                          "itself (FLOR_LAUNCHER=local) cannot be replayed on "
                                          "Slurm; set FLOR_LAUNCHER to a launcher, as in "
                                          "FLOR_LAUNCHER='srun -n {n}'",
                             j->label);
        fprintf(f, "%ld) { cd ", i);
        flor__put_word(f, j->cwd ? j->cwd : cwd);
        fputs(" && ", f);
        if (j->env && *j->env)
            fputs("env ", f);
        for (char *const *e = j->env; e && *e; e++) {
            flor__put_word(f, *e);
            fputc(' ', f);
        }
        /* the segment's process: its pid and host first */
        fputs("sh -c 'echo \"$$ $(uname -n)\" >\"$0.pid\" && exec \"$@\"' \"$task\"", f);
        for (char **w = j->argv; *w; w++) {
            fputc(' ', f);
            flor__put_word(f, *w);
        }
        fputs("; } >", f);
        flor__put_word(f, j->out_path);
        fputs(" 2>", f);
        flor__put_word(f, j->err_path);
        fputs(" ;;\n", f);
    }
    fputs("*) echo \"flor: this replay has no task $SLURM_ARRAY_TASK_ID\" >&2; false ;;\nesac\n"
          "rc=$?\necho \"$rc $t0 $(date +%s.%N)\" >\"$task.rc.tmp\" && mv \"$task.rc.tmp\" "
          "\"$task.rc\"\nexit $rc\n", f);
    return 0;
}

static int write_script(flor_replay *r, const flor__job *jobs, long n, const char *path)
{
    char *cwd = getcwd(NULL, 0);
    if (!cwd)
        return flor__err(FLOR_EIO, "cannot find the working directory: %s", strerror(errno));
    FILE *f = fopen(path, "w");
    int rc = f ? put_script(f, r, jobs, n, cwd)
               : flor__err(FLOR_EIO, "cannot write '%s': %s", path, strerror(errno));
    if (f && fclose(f) != 0 && !rc)
        rc = flor__err(FLOR_EIO, "cannot write '%s': %s", path, strerror(errno));
    if (rc && f)
        unlink(path); /* nothing was submitted: the area is left as it was */
    free(cwd);
    return rc;
}

/* ---- submitting ------------------------------------------------------------------------ */

/* sbatch --parsable OPTIONS SCRIPT; the job id into R->job. */
static int submit(flor_replay *r, const char *script)
{
    const flor__launch_args *a = &r->a;
    char **argv = calloc((size_t)a->nsbatch + 4, sizeof *argv);
    flor__buf what = {0};
    if (!argv)
        return flor__err(FLOR_ENOMEM, "out of memory");
    int n = 0;
    argv[n++] = "sbatch";
    argv[n++] = "--parsable";
    flor__buf_printf(&what, "sbatch");
    for (int i = 0; i < a->nsbatch; i++) {
        argv[n++] = a->sbatch[i];
        flor__buf_printf(&what, " %s", a->sbatch[i]);
    }
    argv[n++] = (char *)script;
    flor__buf_printf(&what, " %s", script);
    char *out = NULL;
    int exit;
    int rc = slurm_cmd(argv, what.p ? what.p : "sbatch", &out, &exit);
    free(argv);
    flor__buf_release(&what);
    if (rc)
        return rc;
    /* "JOB" or "JOB;CLUSTER" */
    size_t len = strspn(out, "0123456789");
    if (len == 0 || len > 20) {
        rc = flor__err(FLOR_EIO, "sbatch printed no job id, but '%s'", one_line(out));
        free(out);
        return rc;
    }
    out[len] = '\0';
    r->job = out;
    return 0;
}

/* ---- waiting --------------------------------------------------------------------------- */

static const int stops[] = {SIGINT, SIGTERM, SIGHUP};
#define NSTOPS (int)(sizeof stops / sizeof stops[0])
static volatile sig_atomic_t stop_signal;

static void on_stop(int sig) { stop_signal = sig; }

/* Whether job R->job has tasks that squeue still shows (pending, running,
 * ending). */
static int job_active(const flor_replay *r, bool *active)
{
    char *argv[] = {"squeue", "-h", "-j", r->job, "-o", "%i", NULL}, *out = NULL;
    char what[64];
    snprintf(what, sizeof what, "squeue -j %s", r->job);
    int exit, rc = slurm_cmd(argv, what, &out, &exit);
    if (rc && exit >= 0 && strstr(flor_errmsg(), "Invalid job id")) {
        flor__err_clear(); /* gone from the controller's memory: ended long ago */
        *active = false;
        return 0;
    }
    if (rc)
        return flor__err_wrap(rc, "cannot follow Slurm job %s (flor replay --follow %s "
                                  "picks it up later)",
                              r->job, r->job);
    *active = out[strspn(out, " \t\n")] != '\0';
    free(out);
    return 0;
}

static long count_ended(const flor_replay *r, long n)
{
    long ended = 0;
    for (long i = 0; i < n; i++) {
        char *rc = task_file(r, i, "rc");
        ended += rc && access(rc, F_OK) == 0;
        free(rc);
    }
    return ended;
}

/* Cancels the job, on a signal: its tasks end (the segments record that
 * they were killed), and the wait goes on until they have. */
static void cancel(flor_replay *r, int sig)
{
    char *argv[] = {"scancel", r->job, NULL}, *out = NULL, what[64];
    snprintf(what, sizeof what, "scancel %s", r->job);
    int exit;
    r->signal = sig;
    if (slurm_cmd(argv, what, &out, &exit) != 0)
        flor__launch_say(r, "interrupted (%s), but %s", flor__signal_name(sig), flor_errmsg());
    else
        flor__launch_say(r, "interrupted (%s): cancelled Slurm job %s; waiting for its tasks "
                            "to end", flor__signal_name(sig), r->job);
    free(out);
    flor__err_clear();
}

/* Until every task has ended, or the job has left the queue.  The tasks'
 * files are looked at every half second; squeue, which asks the
 * controller, after 1 s, then at intervals that double up to 16 s (and
 * again 1 s after a cancel). */
static int wait_job(flor_replay *r, long n, const char *noun)
{
    struct sigaction sa, old[NSTOPS];
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    for (int i = 0; i < NSTOPS; i++) {
        sigaction(stops[i], NULL, &old[i]);
        if (old[i].sa_handler != SIG_IGN) /* ignored, as under nohup: stays so */
            sigaction(stops[i], &sa, NULL);
    }
    long shown = 0;
    int rc = 0;
    double interval = 1, next = flor__mono();
    for (;;) {
        long ended = count_ended(r, n);
        if (ended != shown)
            flor__launch_say(r, "Slurm job %s: %ld of %ld %s ended", r->job, ended, n, noun);
        shown = ended;
        if (ended == n)
            break;
        if (stop_signal && !r->signal) {
            cancel(r, stop_signal);
            interval = 1;
            next = flor__mono() + interval;
        }
        if (flor__mono() >= next) {
            bool active = true;
            if ((rc = job_active(r, &active)) != 0 || !active)
                break;
            next = flor__mono() + interval;
            interval = interval < 16 ? interval * 2 : 16;
        }
        nanosleep(&(struct timespec){0, 500000000}, NULL);
    }
    for (int i = 0; i < NSTOPS; i++)
        sigaction(stops[i], &old[i], NULL);
    return rc;
}

/* ---- the results ----------------------------------------------------------------------- */

static void write_launch(const flor_replay *r, const char *line);

/* Task I's job, from what it left in the area. */
static int fill_job(flor_replay *r, long i, flor__job *j)
{
    char *pid = task_file(r, i, "pid"), *rc = task_file(r, i, "rc");
    char *started = task_file(r, i, "out"); /* Slurm makes it when the task starts */
    char line[512], host[256];
    long p = 0;
    int status = 0;
    double t0 = 0, t1 = 0;
    if (pid && read_line(pid, line, sizeof line) && sscanf(line, "%ld %255s", &p, host) == 2) {
        j->pid = (pid_t)p;
        j->host = flor__strdup(host);
    }
    if (rc && read_line(rc, line, sizeof line) &&
        sscanf(line, "%d %lf %lf", &status, &t0, &t1) == 3) {
        j->state = FLOR__JOB_DONE;
        /* the shell's status: 128 + N for a process killed by signal N */
        j->wstatus = status > 128 && status < 128 + 65 ? status - 128 : (status & 0xff) << 8;
        j->t0 = t0;
        j->t1 = t1;
    } else if (started && access(started, F_OK) == 0) {
        j->state = FLOR__JOB_VANISHED;
        j->wstatus = SIGKILL;
    } else {
        j->state = FLOR__JOB_CANCELLED;
    }
    int bad = !pid || !rc || !started;
    free(pid);
    free(rc);
    free(started);
    return bad ? flor__err(FLOR_ENOMEM, "out of memory") : 0;
}

/* The N JOBS from the area; those that did not run get the times of
 * those that did. */
static int fill_jobs(flor_replay *r, flor__job *jobs, long n)
{
    int rc = 0;
    double first = 0, last = 0;
    for (long i = 0; !rc && i < n; i++) {
        flor__job *j = &jobs[i];
        rc = fill_job(r, i, j);
        if (j->state == FLOR__JOB_DONE && (first == 0 || j->t0 < first))
            first = j->t0;
        if (j->state == FLOR__JOB_DONE && j->t1 > last)
            last = j->t1;
    }
    for (long i = 0; i < n; i++)
        if (jobs[i].state != FLOR__JOB_DONE) {
            jobs[i].t0 = first;
            jobs[i].t1 = jobs[i].state == FLOR__JOB_VANISHED ? last : first;
        }
    return rc;
}

int flor__slurm_jobs(flor_replay *r, flor__job *jobs, long n, const char *what,
                     const char *launch)
{
    char *script = flor__printf("%s/job.sh", r->dir);
    int rc = script ? write_script(r, jobs, n, script) : flor__err(FLOR_ENOMEM, "out of memory");
    if (!rc)
        rc = submit(r, script);
    free(script);
    if (rc)
        return rc;
    flor__launch_say(r, "submitted %s as Slurm job %s (logs in %s)", what, r->job, r->dir);
    if (launch)
        write_launch(r, launch);
    if (r->a.no_wait) {
        flor__launch_say(r, "follow it with: flor replay --follow %s", r->job);
        return 0;
    }
    rc = wait_job(r, n, "segments");
    return rc ? rc : fill_jobs(r, jobs, n);
}

/* The launch, "JOB " then LINE, for a later launch to follow the job. */
static void write_launch(const flor_replay *r, const char *line)
{
    char *path = flor__printf("%s/launch", r->dir);
    FILE *f = path ? fopen(path, "w") : NULL;
    if (f) {
        fprintf(f, "%s %s\n", r->job, line);
        if (fclose(f) != 0)
            f = NULL;
    }
    free(path);
    if (!f) /* the job runs and records all the same; only --follow cannot find it */
        flor__launch_say(r, "warning: cannot write the launch of Slurm job %s in %s: %s",
                         r->job, r->dir, strerror(errno));
}

/* One run's segments, with the launch for --follow, and the results. */
int flor__slurm_run(flor_replay *r)
{
    flor__launch_args *a = &r->a;
    char what[96], launch[96];
    snprintf(what, sizeof what, "%ld segment%s of run %lld", a->segments,
             a->segments == 1 ? "" : "s", (long long)r->run);
    snprintf(launch, sizeof launch, "%lld %ld %lld", (long long)r->run, a->segments,
             (long long)r->base);
    int rc = flor__slurm_jobs(r, r->jobs, r->njobs, what, launch);
    return rc || a->no_wait ? rc : flor__segments_summarize(r);
}

/* The segments of a launch that was not waited for, as jobs to fill. */
static int bare_jobs(flor_replay *r)
{
    long n = r->a.segments;
    if (!(r->jobs = calloc((size_t)n, sizeof *r->jobs)))
        return flor__err(FLOR_ENOMEM, "out of memory");
    r->njobs = n;
    for (long i = 0; i < n; i++) {
        flor__job *j = &r->jobs[i];
        j->out_path = flor__printf("%s/segment-%ld.out", r->dir, i);
        j->err_path = flor__printf("%s/segment-%ld.err", r->dir, i);
        j->label = flor__printf("segment %ld/%ld", i, n);
        if (!j->out_path || !j->err_path || !j->label)
            return flor__err(FLOR_ENOMEM, "out of memory");
    }
    return 0;
}

int flor__slurm_follow(flor_replay *r)
{
    const char *job = r->a.follow;
    if (!*job || job[strspn(job, "0123456789")] || strlen(job) > 20)
        return flor__err(FLOR_EINVAL, "--follow '%s': expected the job id of a Slurm replay, "
                                      "as flor replay --slurm --no-wait printed it", job);
    char *top = flor__printf("%s/slurm", flor_project_dir(r->p));
    DIR *d = top ? opendir(top) : NULL;
    struct dirent *e;
    while (d && !r->dir && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "replay-", 7) != 0)
            continue;
        char *launch = flor__printf("%s/%s/launch", top, e->d_name), line[256], id[32];
        long long run = 0, base = 0;
        long nseg = 0;
        if (launch && read_line(launch, line, sizeof line) &&
            sscanf(line, "%31s %lld %ld %lld", id, &run, &nseg, &base) == 4 &&
            strcmp(id, job) == 0 && nseg > 0) {
            r->dir = flor__printf("%s/%s", top, e->d_name);
            r->job = flor__strdup(job);
            r->run = run;
            r->base = base;
            r->a.segments = nseg;
        }
        free(launch);
    }
    if (d)
        closedir(d);
    int rc = 0;
    if (!r->dir)
        rc = flor__err(FLOR_ENOTFOUND, "--follow %s: no Slurm replay with that job id in '%s' "
                                       "(its results were read already, or it was submitted "
                                       "from another project)",
                       job, top ? top : flor_project_dir(r->p));
    else if (!r->job)
        rc = flor__err(FLOR_ENOMEM, "out of memory");
    free(top);
    if (!rc)
        rc = bare_jobs(r);
    if (rc)
        return rc;
    flor__launch_say(r, "following Slurm job %s: %ld segment%s of run %lld", r->job,
                     r->a.segments, r->a.segments == 1 ? "" : "s", (long long)r->run);
    rc = wait_job(r, r->njobs, "segments");
    if (!rc)
        rc = fill_jobs(r, r->jobs, r->njobs);
    return rc ? rc : flor__segments_summarize(r);
}

void flor__slurm_release(flor_replay *r, long n, bool read)
{
    static const char *const own[] = {"pid", "rc", "rc.tmp", "out", "err"};
    if (r->job && r->dir && read) {
        for (long i = 0; i < n; i++)
            for (size_t k = 0; k < sizeof own / sizeof *own; k++) {
                char *f = task_file(r, i, own[k]);
                struct stat st;
                /* Slurm's own words on a task (a cancellation) stay */
                if (f && (k < 3 || (stat(f, &st) == 0 && st.st_size == 0)))
                    unlink(f);
                free(f);
            }
        char *script = flor__printf("%s/job.sh", r->dir), *launch = flor__printf("%s/launch", r->dir);
        if (script)
            unlink(script);
        if (launch)
            unlink(launch);
        free(script);
        free(launch);
        rmdir(r->dir);
        char *top = flor__printf("%s/slurm", flor_project_dir(r->p));
        if (top)
            rmdir(top);
        free(top);
    }
    free(r->job);
    r->job = NULL;
}
