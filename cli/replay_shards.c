/*
 * replay_shards.c -- the segments of `flor replay` as command lines: the
 * run they all replay, the argv of each, and --plan, which prints them
 * for GNU parallel and for a Slurm job array instead of running them.
 */
#include "cli.h"
#include "replay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char **replay_segment_argv(const replay_args *a, int64_t run, long i, long nseg)
{
    int nwords = a->ncmd + 2 + (run ? 2 : 0) + 2 * a->nprobes, w = 0;
    char **v = malloc((size_t)(nwords + 1) * sizeof *v + 64);
    if (!v)
        return NULL;
    char *seg = (char *)(v + nwords + 1), *id = seg + 32;
    snprintf(seg, 32, "%ld/%ld", i, nseg);
    snprintf(id, 32, "%lld", (long long)run);
    for (int k = 0; k < a->ncmd; k++)
        v[w++] = a->cmd[k];
    v[w++] = "--replay_flor";
    v[w++] = seg;
    if (run) {
        v[w++] = "--replay_run";
        v[w++] = id;
    }
    for (int k = 0; k < a->nprobes; k++) {
        v[w++] = "--probe";
        v[w++] = (char *)a->probes[k];
    }
    v[w] = NULL;
    return v;
}

/* Without --run, the run the library would pick itself (the latest of
 * the same file name), looked up once so that a recording that starts
 * meanwhile does not split the segments between two runs. */
static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

const char *replay_program_name(char *const *cmd, int ncmd)
{
    const char *prog = base_name(cmd[0]);
    if (strncmp(prog, "python", 6) == 0 && ncmd > 1 && cmd[1][0] != '-')
        return base_name(cmd[1]);
    return prog;
}

int replay_pin_run(flor_project *p, const replay_args *a, int64_t *run)
{
    if (a->run)
        return cli_find_run(p, a->run, run);
    char *q = cli_sql_quote(replay_program_name(a->cmd, a->ncmd));
    char *sql = q ? malloc(strlen(q) + 80) : NULL;
    int rc = CLI_ERROR;
    if (sql) {
        sprintf(sql, "SELECT max(run_id) FROM runs WHERE filename = %s", q);
        rc = cli_query_int(p, sql, run);
    } else {
        cli_error("out of memory");
    }
    free(sql);
    free(q);
    return rc;
}

/* ---- --plan ----------------------------------------------------------------------- */

/* WORD as one shell word: bare when it is made of safe characters only,
 * else in single quotes (a quote inside becomes '\''). */
static void put_word(FILE *f, const char *word)
{
    if (*word && !word[strspn(word, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789_@%+=:,./-")]) {
        fputs(word, f);
        return;
    }
    fputc('\'', f);
    for (; *word; word++)
        fputs(*word == '\'' ? "'\\''" : (char[]){*word, 0}, f);
    fputc('\'', f);
}

/* The words of V, quoted, with the segment word (at SEG) printed as RAW
 * when RAW is not NULL. */
static void put_command(FILE *f, char **v, int seg, const char *raw)
{
    for (int i = 0; v[i]; i++) {
        if (i)
            fputc(' ', f);
        if (i == seg && raw)
            fputs(raw, f);
        else
            put_word(f, v[i]);
    }
}

static void plan_note(FILE *f, const replay_args *a, int64_t run, flor_project *p)
{
    fprintf(f, "# flor replay: %ld segment%s", a->segments, a->segments == 1 ? "" : "s");
    if (run)
        fprintf(f, " of run %lld", (long long)run);
    fputs(" of ", f);
    put_word(f, a->cmd[0]);
    fprintf(f, ".\n# Every segment writes into the project's database,\n#   %s/flor.db\n"
               "# so run them on this machine, or on nodes that share its file system.\n",
            flor_project_dir(p));
}

static int plan_parallel(FILE *f, const replay_args *a, int64_t run, const char *cwd)
{
    fputs("cd ", f);
    put_word(f, cwd);
    fprintf(f, " &&\nparallel -j %ld :::", a->jobs);
    for (long i = 0; i < a->segments; i++) {
        char **v = replay_segment_argv(a, run, i, a->segments), *line = NULL;
        size_t n = 0;
        FILE *m = v ? open_memstream(&line, &n) : NULL;
        if (!m) {
            free(v);
            return cli_error("out of memory");
        }
        put_command(m, v, -1, NULL);
        fclose(m);
        fputs(" \\\n  ", f);
        put_word(f, line);
        free(line);
        free(v);
    }
    fputc('\n', f);
    return CLI_OK;
}

static int plan_slurm(FILE *f, const replay_args *a, int64_t run, const char *cwd,
                      flor_project *p, bool note)
{
    char **v = replay_segment_argv(a, run, 0, a->segments);
    if (!v)
        return cli_error("out of memory");
    fprintf(f, "#!/bin/sh\n#SBATCH --job-name=flor-replay\n#SBATCH --array=0-%ld",
            a->segments - 1);
    if (a->jobs_given)
        fprintf(f, "%%%ld", a->jobs);
    fputc('\n', f);
    if (note)
        plan_note(f, a, run, p);
    fputs("cd ", f);
    put_word(f, cwd);
    fputs(" || exit 1\nexec ", f);
    char raw[64];
    snprintf(raw, sizeof raw, "\"${SLURM_ARRAY_TASK_ID}/%ld\"", a->segments);
    put_command(f, v, a->ncmd + 1, raw);
    fputc('\n', f);
    free(v);
    return CLI_OK;
}

int replay_plan(flor_project *p, const replay_args *a)
{
    int64_t run = 0;
    char *cwd = getcwd(NULL, 0);
    if (!cwd)
        return cli_error("cannot find the working directory: %s", strerror(errno));
    int rc = replay_pin_run(p, a, &run);
    if (rc == CLI_OK && a->plan == PLAN_SLURM) {
        rc = plan_slurm(stdout, a, run, cwd, p, true);
    } else if (rc == CLI_OK) {
        plan_note(stdout, a, run, p);
        if (a->plan == PLAN_BOTH)
            fputs("\n# (a) GNU parallel (--plan=parallel prints it alone)\n", stdout);
        rc = plan_parallel(stdout, a, run, cwd);
        if (rc == CLI_OK && a->plan == PLAN_BOTH) {
            fputs("\n# (b) a Slurm job array (--plan=slurm prints it alone)\n", stdout);
            rc = plan_slurm(stdout, a, run, cwd, p, false);
        }
    }
    free(cwd);
    return rc;
}
