/*
 * session.c -- the process's one session (flor__R): the run being
 * recorded or replayed, and the two checks every training call shares.
 * The lowest file of the record path that knows the run; it calls only
 * the db layer below it.
 */
#include "record/record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

flor__run flor__R;

/* A problem that makes the record untrustworthy though nothing was lost
 * (a registration error): kept, and the run ends as failed. */
void flor__run_taint(const char *reason)
{
    if (!flor__R.on || flor__R.replay || !flor__R.db)
        return;
    if (!flor__R.tainted++)
        snprintf(flor__R.taint_msg, sizeof flor__R.taint_msg, "%s", reason);
    flor__runs_note_reason(flor__R.db, flor__R.run_id, reason);
}

void flor_run_fail(const char *reason)
{
    if (reason)
        flor__run_taint(reason);
}

void flor__session_reset(void)
{
    flor__run *R = &flor__R;
    flor__place_release(&R->place);
    flor__kwargs_release();
    for (size_t d = 0; d < sizeof R->stack / sizeof R->stack[0]; d++)
        free(R->stack[d].text); /* the loops' text values (flor_loop_value_text) */
    char *ckpt_loop = R->ckpt_loop; /* the program's settings outlive a run */
    long every_n = R->every_n;
    double every_s = R->every_s;
    memset(R, 0, sizeof *R);
    R->ckpt_loop = ckpt_loop;
    R->every_n = every_n;
    R->every_s = every_s;
    R->ckpt_depth = -1;
}

int flor__check_thread(void)
{
    if (!pthread_equal(pthread_self(), flor__R.owner))
        return flor__err(FLOR_EUSAGE, "called from a thread other than flor_init's");
    return 0;
}
