/*
 * launcher.c -- flor.h's replay orchestration: flor_replay_check/new/run/
 * summary/report/signal/free.  The work is done by
 * segments.c (one run) and versions.c (NAME... across code versions);
 * see launch.h for the files.
 */
#include "replay/launch.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The options of one form of the command are not for the other; the
 * replay flags are flor's to add. */
int flor_replay_check(const flor_replay_options *o)
{
    flor__err_clear();
    if (!o || (o->ncmd && !o->cmd) || (o->nnames && !o->names) || (o->nprobes && !o->probes))
        return flor__err(FLOR_EINVAL, "flor_replay_check: no options, or a count without "
                                      "its array");
    if (o->ncmd > INT_MAX / 4 || o->nnames > INT_MAX / 4 || o->nprobes > INT_MAX / 4)
        return flor__err(FLOR_EINVAL, "too many words in the replay's options");
    if (o->jobs < 0 || o->jobs > 4096 || o->segments < 0 || o->segments > 1000000)
        return flor__err(FLOR_EINVAL, "jobs must be from 1 to 4096 and segments from 1 to "
                                      "1000000 (0: the default)");
    if (o->nnames) {
        if (o->run)
            return flor__err(FLOR_EUSAGE, "--run is for replaying one run without NAME; choose "
                                          "runs with --where, as in --where 'run_id = 3'");
    } else if (o->where || o->build || o->force) {
        const char *opt = o->where ? "--where" : o->build ? "--build" : "--force";
        return flor__err(FLOR_EUSAGE, "%s needs the NAMEs of the statements to replay, as in "
                                      "'flor replay loss_norm %s ...'",
                         opt, opt);
    }
    if (o->follow) {
        if (o->ncmd || o->nnames || o->run || o->slurm || o->nsbatch || o->no_wait ||
            o->segments || o->nprobes)
            return flor__err(FLOR_EUSAGE, "--follow JOB takes no other options and no COMMAND: "
                                          "the job has them");
        return 0;
    }
    if (o->nsbatch && !o->sbatch)
        return flor__err(FLOR_EINVAL, "flor_replay_check: a count without its array");
    if ((o->nsbatch || o->no_wait) && !o->slurm)
        return flor__err(FLOR_EUSAGE, "%s is for a replay on Slurm: add --slurm",
                         o->no_wait ? "--no-wait" : "sbatch's options");
    if (o->no_wait && o->nnames)
        return flor__err(FLOR_EUSAGE, "--no-wait is for one run: with NAME, flor waits for the "
                                      "job to report on every run");
    if (o->nsbatch > INT_MAX / 4)
        return flor__err(FLOR_EINVAL, "too many words in the replay's options");
    if (o->where && flor_sql_condition_check(o->where) != 0)
        return flor__err_wrap(FLOR_EINVAL, "--where '%s'", o->where);
    if (o->ncmd == 0 && o->nnames)
        return 0; /* each run's own program */
    if (o->ncmd == 0)
        return flor__err(FLOR_EUSAGE, "missing the program to replay: flor replay [OPTIONS] -- "
                                      "COMMAND [ARGS...]");
    for (size_t i = 1; i < o->ncmd; i++)
        if (strcmp(o->cmd[i], "--replay_flor") == 0 || strcmp(o->cmd[i], "--replay_run") == 0)
            return flor__err(FLOR_EUSAGE, "'%s' is for flor replay to add; choose the run with "
                                          "--run and the segments with --segments",
                             o->cmd[i]);
    return 0;
}

int flor_replay_new(flor_project *p, const flor_replay_options *o, flor_replay **out)
{
    *out = NULL;
    int rc = flor_replay_check(o);
    if (rc)
        return rc;
    flor_replay *r = calloc(1, sizeof *r);
    char **cmd = r ? calloc(o->ncmd + 1, sizeof *cmd) : NULL;
    if (!cmd) {
        free(r);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    r->p = p;
    r->progress = o->progress;
    r->cmd_copy = cmd;
    for (size_t i = 0; i < o->ncmd; i++)
        if (!(cmd[i] = flor__strdup(o->cmd[i]))) {
            flor_replay_free(r);
            return flor__err(FLOR_ENOMEM, "out of memory");
        }
    flor__launch_args *a = &r->a;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    a->jobs_given = o->jobs > 0;
    a->jobs = o->jobs > 0 ? o->jobs : cpus > 0 ? cpus : 1;
    /* with names: from the number of runs */
    a->segments = o->segments || o->nnames ? o->segments : a->jobs;
    a->run = o->run;
    a->probes = o->probes;
    a->nprobes = (int)o->nprobes; /* checked: at most INT_MAX / 4 */
    a->cmd = cmd;
    a->ncmd = (int)o->ncmd;
    a->names = o->names;
    a->nnames = (int)o->nnames;
    a->where = o->where;
    a->build = o->build;
    a->force = o->force;
    a->slurm = o->slurm;
    a->no_wait = o->no_wait;
    a->sbatch = o->sbatch;
    a->nsbatch = (int)o->nsbatch; /* checked: at most INT_MAX / 4 */
    a->follow = o->follow;
    *out = r;
    return 0;
}

int flor_replay_run(flor_replay *r)
{
    flor__err_clear();
    if (r->ran)
        return flor__err(FLOR_EUSAGE, "flor_replay_run: this launch has run already");
    r->ran = true;
    int rc = r->a.follow   ? flor__slurm_follow(r)
             : r->a.nnames ? flor__versions_run(r)
                           : flor__segments_run(r);
    /* the values recomputed, to the team's database with their runs' */
    if (rc == 0 && !(r->a.slurm && r->a.no_wait))
        flor__team_copy_after(r->p, "the replayed values");
    return rc;
}

const char *flor_replay_job(const flor_replay *r) { return r ? r->job : NULL; }

const flor_table *flor_replay_summary(const flor_replay *r) { return r ? r->summary : NULL; }

const flor_table *flor_replay_runs(const flor_replay *r) { return r ? r->runs : NULL; }

long flor_replay_report(flor_replay *r)
{
    if (!r->summary)
        return 0;
    if (r->a.nnames)
        flor__versions_report(r);
    else
        flor__segments_report(r);
    return r->not_finished;
}

int flor_replay_signal(const flor_replay *r) { return r ? r->signal : 0; }

void flor_replay_free(flor_replay *r)
{
    if (!r)
        return;
    if (r->a.nnames)
        flor__versions_release(r);
    else
        flor__segments_release(r);
    flor_table_free(r->summary);
    flor_table_free(r->runs);
    for (char **c = r->cmd_copy; c && *c; c++)
        free(*c);
    free(r->cmd_copy);
    free(r);
}
