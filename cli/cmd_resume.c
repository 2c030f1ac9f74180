/*
 * cmd_resume.c -- `flor resume`: the continuations of killed or failed
 * runs (flor_project_resumes), and `flor resume RUN`, which starts the
 * run's program again with FLOR_RESUME=RUN so that it continues the run
 * from its last complete checkpoint (flor.h, flor_init, "Resume").
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char help[] =
    "usage: flor resume [--format FMT]\n"
    "       flor resume [--force] RUN [-- COMMAND [ARGS...]]\n"
    "\n"
    "Without RUN, lists the continuations of resumed runs, oldest first:\n"
    "resume, run, loop, from_iteration (the checkpoint restored; the loop\n"
    "went on at the next iteration), prev_status and prev_pid (the run's\n"
    "status and process before), host, pid, status, started, ended,\n"
    "superseded (how many logs of the earlier process were moved to\n"
    "superseded_logs), restore_ms, first_step_ms (from flor_init to the first\n"
    "resumed iteration) and vid (the code it ran).\n"
    "\n"
    "With RUN (its id or tstamp), continues that killed or failed run from\n"
    "its last complete checkpoint: runs COMMAND ARGS (default: the run's\n"
    "recorded argv less its --kwargs, from the working directory) with\n"
    "FLOR_RESUME=RUN in its\n"
    "environment, as `PROGRAM --resume_flor=RUN` would, and exits with its\n"
    "exit status.  The program refuses a finished run, a run being recorded\n"
    "now, a run without a checkpoint, and -- unless --force -- a run whose\n"
    "code differs from the working tree's (a resume runs the current code):\n"
    "a file git tracks, or an untracked file named like source code (*.c,\n"
    "*.h, *.py, Makefile, ...), that changed, appeared or is gone.  Untracked\n"
    "data the program wrote (checkpoints, *.bin, logs, plots) is not code.\n"
    "\n"
    "exit status: the program's (128 + N when signal N ended it); 1 when RUN\n"
    "is not found or the program cannot be started; 2 for a usage error.\n";

/* The words of run RUN's recorded argv, NULL-terminated, into *OUT. */
static int recorded_argv(flor_project *p, int64_t run, flor_table **t, char ***out)
{
    if (flor_project_run_argv(p, run, t) != 0)
        return cli_error("%s", flor_errmsg());
    size_t n = flor_table_nrows(*t);
    if (n == 0)
        return cli_error("run %lld has no recorded argv: give the command after '--'",
                         (long long)run);
    char **v = calloc(n + 1, sizeof *v);
    if (!v)
        return cli_error("out of memory");
    /* its --kwargs are the run's recorded args already, which a resume
     * continues with: they are left out */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char *w = (char *)flor_table_text(*t, i, 0);
        if (strcmp(w, "--kwargs") == 0) {
            while (i + 1 < n && strchr(flor_table_text(*t, i + 1, 0), '=') &&
                   strncmp(flor_table_text(*t, i + 1, 0), "--", 2) != 0)
                i++;
            continue;
        }
        v[k++] = w;
    }
    *out = v;
    return CLI_OK;
}

/* Runs CMD with FLOR_RESUME=RUN; its exit status. */
static int launch(char **cmd, int64_t run, int force)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return cli_error("cannot start '%s': %s", cmd[0], strerror(errno));
    if (pid == 0) {
        char id[32];
        snprintf(id, sizeof id, "%lld", (long long)run);
        setenv("FLOR_RESUME", id, 1);
        if (force)
            setenv("FLOR_RESUME_FORCE", "1", 1);
        unsetenv("FLOR_REPLAY");
        execvp(cmd[0], cmd);
        fprintf(stderr, "flor: cannot start '%s': %s\n", cmd[0], strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return cli_error("cannot wait for '%s': %s", cmd[0], strerror(errno));
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    int rc = WEXITSTATUS(status);
    return rc == 127 ? CLI_ERROR : rc;
}

static int resume(const char *spec, char **cmd, int force)
{
    flor_project *p;
    if (cli_open(&p) != CLI_CONTINUE)
        return CLI_ERROR;
    int64_t run = 0;
    flor_table *t = NULL;
    char **recorded = NULL;
    int rc = cli_find_run(p, spec, &run);
    if (rc == CLI_OK && !cmd && (rc = recorded_argv(p, run, &t, &recorded)) == CLI_OK)
        cmd = recorded;
    flor_project_free(p); /* the program opens the project itself */
    if (rc == CLI_OK)
        rc = launch(cmd, run, force);
    free(recorded);
    flor_table_free(t);
    return rc;
}

static int list(const cli_opts *opts)
{
    flor_project *p;
    flor_table *t = NULL;
    if (cli_open(&p) != CLI_CONTINUE)
        return CLI_ERROR;
    int rc = flor_project_resumes(p, 0, &t) != 0 ? cli_error("%s", flor_errmsg())
                                                  : cli_print_table(t, opts);
    flor_table_free(t);
    flor_project_free(p);
    return rc;
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    const char *spec = NULL;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(help, stdout);
            return CLI_OK;
        }
        if (strcmp(a, "--") == 0) {
            if (!spec)
                return cli_usage_error("resume", "expected RUN before '--'");
            if (i + 1 == argc)
                return cli_usage_error("resume", "expected a command after '--'");
            return resume(spec, argv + i + 1, force);
        }
        if (strcmp(a, "--force") == 0)
            force = 1;
        else if (a[0] == '-' && a[1])
            return cli_usage_error("resume", "unknown option '%s'", a);
        else if (spec)
            return cli_usage_error("resume", "unexpected argument '%s'", a);
        else
            spec = a;
    }
    if (!spec) {
        if (force)
            return cli_usage_error("resume", "--force needs RUN");
        return list(opts);
    }
    return resume(spec, NULL, force);
}

const cli_command cli_cmd_resume = {
    "resume", run, "resume [RUN]         continue a killed or failed run; list resumes", help,
};
