/*
 * series.h -- the curves of one logged name: for each run, the values the
 * name took inside loops, in the order of their loop positions, which of
 * them a replay computed (hindsight values) and where a replay's value
 * differed from the recorded one.  flor serve sends them (as JSON, or as
 * binary arrays) and flor plot draws them; both read them here, streamed
 * by flor_project_series.
 */
#ifndef FLOR_CLI_SERIES_H
#define FLOR_CLI_SERIES_H

#include <flor.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cli_series {
    int64_t run;
    size_t n;          /* points; point i is at loop position i */
    double *y;         /* the values; NaN where a value is NaN or not a number */
    unsigned char *replay; /* replay[i]: 1 when a replay computed value i */
    size_t ndiv;
    size_t *div;       /* the positions at which a replay diverged, ascending */
} cli_series;

typedef struct cli_series_set {
    size_t count;
    cli_series *s; /* ordered by run */
} cli_series_set;

/* Most runs one request may name (flor serve's runs=, flor plot --runs). */
#define CLI_SERIES_MAX_RUNS 100000

/* What cli_series_each hands out, in order: for each run, begin, its
 * points, end.  DIVERGENCES: how many replays diverged from the record at
 * the point (0 almost always).  A non-zero return stops the read and is
 * cli_series_each's. */
typedef struct cli_series_visitor {
    int (*begin)(void *arg, int64_t run);
    int (*point)(void *arg, const flor_point *pt, unsigned divergences);
    int (*end)(void *arg, int64_t run);
    void *arg;
} cli_series_visitor;

/* Streams the series of NAME (RUNS, NRUNS, WHERE: as cli_series_read) to
 * V, without holding them. */
int cli_series_each(flor_project *p, const char *name, const int64_t *runs, size_t nruns,
                    const char *where, const cli_series_visitor *v);

/* The series of NAME in runs RUNS[0..NRUNS-1] (NRUNS 0: every run that
 * logged NAME in a loop), or only in the runs that match WHERE, an SQL
 * condition on the columns of `runs` (NULL: no condition; checked with
 * flor_sql_condition_check).  Runs without a value of NAME are left out.
 * Returns 0 or a FLOR_E* code with flor_errmsg's message. */
int cli_series_read(flor_project *p, const char *name, const int64_t *runs, size_t nruns,
                    const char *where, cli_series_set *out);
void cli_series_release(cli_series_set *set);

/* NAME quoted as an SQL string literal ('it''s'), or NULL when out of memory. */
char *cli_sql_quote(const char *name);

#endif
