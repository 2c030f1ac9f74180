/*
 * test_launch.c -- the replay launcher's parts that need no processes:
 * which options go together (flor_replay_check), the segments' command
 * lines, the program name a COMMAND records under, the runs and replays
 * lookups, and the summary of a launch that never ran.
 */
#include "check.h"
#include "../../src/internal.h"
#include "../../src/replay/launch.h"

#include <stdlib.h>
#include <sys/stat.h>

static char dir[256];  /* a scratch project */
static char data[300]; /* its data directory, FLOR_DIR */

/* A project whose database has runs 1 ('train', tstamp t1) and 2
 * ('train.py', tstamp t2), and no replays. */
static flor_project *new_project(void)
{
    snprintf(dir, sizeof dir, "/tmp/flor-unit-launch-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(data, sizeof data, "%s/.flor", dir);
    if (mkdir(data, 0777) != 0)
        abort();
    setenv("FLOR_DIR", data, 1);
    sqlite3 *db = NULL;
    if (flor__db_open(data, 1, 0, &db) != 0)
        return NULL;
    int rc = flor__db_exec(db, "INSERT INTO runs(projid, tstamp, filename, argv, host, pid,"
                               " status, start_time) VALUES ('p', 't1', 'train', '[\"./train\"]',"
                               " 'h', 1, 'finished', 0), ('p', 't2', 'train.py',"
                               " '[\"train.py\"]', 'h', 1, 'finished', 0)");
    sqlite3_close(db);
    flor_project *p = NULL;
    return rc == 0 && flor_project_open(&p, dir) == 0 ? p : NULL;
}

static void remove_project(flor_project *p)
{
    char cmd[512];
    flor_project_free(p);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        abort();
    unsetenv("FLOR_DIR");
}

static void test_options_of_one_form_are_not_for_the_other(void)
{
    char *cmd[] = {"./train", "--replay_flor"};
    const char *names[] = {"loss"};
    flor_replay_options o = {.cmd = cmd, .ncmd = 1};
    CHECK_EQ_INT(flor_replay_check(&o), 0);
    o.ncmd = 0;
    CHECK_EQ_INT(flor_replay_check(&o), FLOR_EUSAGE); /* no program, no names */
    CHECK(strstr(flor_errmsg(), "missing the program") != NULL);
    o.names = names;
    o.nnames = 1;
    CHECK_EQ_INT(flor_replay_check(&o), 0); /* each run's own program */
    o.run = "3";
    CHECK_EQ_INT(flor_replay_check(&o), FLOR_EUSAGE);
    CHECK(strstr(flor_errmsg(), "--run is for") != NULL);
    o.run = NULL;
    o.where = "lr < (";
    CHECK_EQ_INT(flor_replay_check(&o), FLOR_EINVAL);
    CHECK(strncmp(flor_errmsg(), "--where 'lr < (': ", 18) == 0);
    o = (flor_replay_options){.cmd = cmd, .ncmd = 1, .build = "make"};
    CHECK_EQ_INT(flor_replay_check(&o), FLOR_EUSAGE);
    CHECK(strstr(flor_errmsg(), "--build needs the NAMEs") != NULL);
    o = (flor_replay_options){.cmd = cmd, .ncmd = 2};
    CHECK_EQ_INT(flor_replay_check(&o), FLOR_EUSAGE);
    CHECK(strstr(flor_errmsg(), "'--replay_flor' is for flor replay to add") != NULL);
    o = (flor_replay_options){.cmd = cmd, .ncmd = 1, .jobs = 5000};
    CHECK_EQ_INT(flor_replay_check(&o), FLOR_EINVAL);
}

static void test_segment_command_lines(void)
{
    char *cmd[] = {"python3", "train.py", "--data", "small"};
    const char *probes[] = {"step"};
    flor__launch_args a = {.cmd = cmd, .ncmd = 4, .probes = probes, .nprobes = 1};
    char **v = flor__segment_argv(&a, 7, 2, 4);
    const char *want[] = {"python3", "train.py", "--data", "small", "--replay_flor", "2/4",
                          "--replay_run", "7", "--probe", "step", NULL};
    for (int i = 0; want[i]; i++)
        CHECK_EQ_STR(v[i], want[i]);
    CHECK(v[10] == NULL);
    free(v);
    v = flor__segment_argv(&a, 0, 0, 1); /* no run pinned: the segment picks */
    CHECK_EQ_STR(v[5], "0/1");
    CHECK_EQ_STR(v[6], "--probe");
    free(v);
    CHECK_EQ_STR(flor__program_name(cmd, 4), "train.py");
    char *plain[] = {"/opt/bin/train", "x.py"}, *flags[] = {"python3", "-u"};
    CHECK_EQ_STR(flor__program_name(plain, 2), "train");
    CHECK_EQ_STR(flor__program_name(flags, 2), "python3");
}

static void test_runs_by_id_tstamp_and_program(void)
{
    flor_project *p = new_project();
    CHECK(p != NULL);
    if (!p)
        return;
    int64_t run = -1;
    CHECK_EQ_INT(flor_project_find_run(p, "2", &run), 0);
    CHECK_EQ_INT(run, 2);
    CHECK_EQ_INT(flor_project_find_run(p, "t1", &run), 0);
    CHECK_EQ_INT(run, 1);
    CHECK_EQ_INT(flor_project_find_run(p, "9", &run), FLOR_ENOTFOUND);
    CHECK(strstr(flor_errmsg(), "no run '9' in project") != NULL);
    CHECK_EQ_INT(flor__runs_latest_of(p->db, "train.py", &run), 0);
    CHECK_EQ_INT(run, 2);
    CHECK_EQ_INT(flor__runs_latest_of(p->db, "other", &run), 0);
    CHECK_EQ_INT(run, 0);
    flor_table *t = NULL;
    CHECK_EQ_INT(flor_project_programs(p, &t), 0);
    CHECK_EQ_INT(flor_table_nrows(t), 2);
    CHECK_EQ_STR(flor_table_text(t, 0, 0), "./train");
    CHECK_EQ_STR(flor_table_text(t, 1, 0), "train.py");
    flor_table_free(t);
    int64_t last = -1;
    CHECK_EQ_INT(flor__replays_last_id(p->db, &last), 0);
    CHECK_EQ_INT(last, 0);
    remove_project(p);
}

static void test_a_launch_that_never_ran(void)
{
    flor_project *p = new_project();
    CHECK(p != NULL);
    if (!p)
        return;
    char *cmd[] = {"./train"};
    flor_replay_options o = {.cmd = cmd, .ncmd = 1, .jobs = 2};
    flor_replay *r = NULL;
    CHECK_EQ_INT(flor_replay_new(p, &o, &r), 0);
    CHECK(flor_replay_summary(r) == NULL);
    CHECK(flor_replay_runs(r) == NULL); /* and without names, never */
    CHECK_EQ_INT(flor_replay_report(r), 0);
    CHECK_EQ_INT(flor_replay_signal(r), 0);
    CHECK_EQ_INT(r->a.segments, 2); /* the default: one per job */
    flor_replay_free(r);
    remove_project(p);
}

int main(void)
{
    RUN(test_options_of_one_form_are_not_for_the_other);
    RUN(test_segment_command_lines);
    RUN(test_runs_by_id_tstamp_and_program);
    RUN(test_a_launch_that_never_ran);
    return check_summary();
}
