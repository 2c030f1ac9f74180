/*
 * batchplan.c -- flor_replay_plan: the segments of a replay printed as GNU
 * parallel commands and as a Slurm job array script, to run elsewhere
 * (on nodes that share the project's file system) instead of here.
 */
#include "replay/launch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void flor__put_word(FILE *f, const char *word)
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
            flor__put_word(f, v[i]);
    }
}

static void plan_note(FILE *f, const flor__launch_args *a, int64_t run, flor_project *p)
{
    fprintf(f, "# flor replay: %ld segment%s", a->segments, a->segments == 1 ? "" : "s");
    if (run)
        fprintf(f, " of run %lld", (long long)run);
    fputs(" of ", f);
    flor__put_word(f, a->cmd[0]);
    fprintf(f, ".\n# Every segment writes into the project's database,\n#   %s/flor.db\n"
               "# so run them on this machine, or on nodes that share its file system.\n",
            flor_project_dir(p));
}

static int plan_parallel(FILE *f, const flor__launch_args *a, int64_t run, const char *cwd)
{
    fputs("cd ", f);
    flor__put_word(f, cwd);
    fprintf(f, " &&\nparallel -j %ld :::", a->jobs);
    for (long i = 0; i < a->segments; i++) {
        char **v = flor__segment_argv(a, run, i, a->segments), *line = NULL;
        size_t n = 0;
        FILE *m = v ? open_memstream(&line, &n) : NULL;
        if (!m) {
            free(v);
            return flor__err(FLOR_ENOMEM, "out of memory");
        }
        put_command(m, v, -1, NULL);
        fclose(m);
        fputs(" \\\n  ", f);
        flor__put_word(f, line);
        free(line);
        free(v);
    }
    fputc('\n', f);
    return 0;
}

static int plan_slurm(FILE *f, const flor__launch_args *a, int64_t run, const char *cwd,
                      flor_project *p, bool note)
{
    char **v = flor__segment_argv(a, run, 0, a->segments);
    if (!v)
        return flor__err(FLOR_ENOMEM, "out of memory");
    fprintf(f, "#!/bin/sh\n#SBATCH --job-name=flor-replay\n#SBATCH --array=0-%ld",
            a->segments - 1);
    if (a->jobs_given)
        fprintf(f, "%%%ld", a->jobs);
    fputc('\n', f);
    if (note)
        plan_note(f, a, run, p);
    fputs("cd ", f);
    flor__put_word(f, cwd);
    fputs(" || exit 1\nexec ", f);
    char raw[64];
    snprintf(raw, sizeof raw, "\"${SLURM_ARRAY_TASK_ID}/%ld\"", a->segments);
    put_command(f, v, a->ncmd + 1, raw);
    fputc('\n', f);
    free(v);
    return 0;
}

int flor_replay_plan(flor_replay *r, flor_replay_plan_format format, FILE *out)
{
    flor__err_clear();
    if (r->a.nnames)
        return flor__err(FLOR_EUSAGE, "--plan is not available with NAME");
    if (format < FLOR_PLAN_BOTH || format > FLOR_PLAN_SLURM)
        return flor__err(FLOR_EINVAL, "flor_replay_plan: no such format %d", (int)format);
    const flor__launch_args *a = &r->a;
    flor_project *p = r->p;
    int64_t run = 0;
    char *cwd = getcwd(NULL, 0);
    if (!cwd)
        return flor__err(FLOR_EIO, "cannot find the working directory: %s", strerror(errno));
    int rc = flor__pin_run(r, &run);
    if (rc == 0 && format == FLOR_PLAN_SLURM) {
        rc = plan_slurm(out, a, run, cwd, p, true);
    } else if (rc == 0) {
        plan_note(out, a, run, p);
        if (format == FLOR_PLAN_BOTH)
            fputs("\n# (a) GNU parallel (--plan=parallel prints it alone)\n", out);
        rc = plan_parallel(out, a, run, cwd);
        if (rc == 0 && format == FLOR_PLAN_BOTH) {
            fputs("\n# (b) a Slurm job array (--plan=slurm prints it alone)\n", out);
            rc = plan_slurm(out, a, run, cwd, p, false);
        }
    }
    free(cwd);
    return rc;
}
