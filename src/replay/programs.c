/*
 * programs.c -- what a replay starts from, as flor.h offers it: the run
 * a command line names (flor_project_find_run) and the programs the
 * project recorded (flor_project_programs), over db/runs.c.
 */
#include "replay/launch.h"

int flor_project_find_run(flor_project *p, const char *spec, int64_t *run)
{
    flor__err_clear();
    int rc = flor__runs_find(p->db, spec, run);
    if (rc == 0 && *run == 0)
        rc = flor__err(FLOR_ENOTFOUND, "no run '%s' in project '%s' (give a run id or a tstamp, "
                                       "as 'flor runs' shows them)",
                       spec, flor_project_id(p));
    return rc;
}

int flor_project_programs(flor_project *p, flor_table **out)
{
    flor__err_clear();
    return flor__runs_programs(p->db, out);
}
