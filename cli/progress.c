/*
 * progress.c -- progress lines of long transfers on stderr: shown on a
 * terminal (or when FLOR_PROGRESS=1), unless FLOR_QUIET is set, from one
 * second on, at most a few times a second.
 */
#include "cli.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void cli_progress_init(cli_progress *pr, const char *what)
{
    const char *q = getenv("FLOR_QUIET"), *f = getenv("FLOR_PROGRESS");
    pr->on = !(q && *q) && (isatty(2) || (f && *f == '1'));
    pr->what = what;
    pr->start = now();
    pr->last = 0;
    pr->shown = 0;
}

void cli_progress_show(void *arg, uint64_t done, uint64_t total)
{
    cli_progress *pr = arg;
    double t = now();
    if (!pr->on || t - pr->start < 1 || t - pr->last < 0.25)
        return;
    pr->last = t;
    pr->shown = 1;
    double mib = (double)done / (1 << 20);
    fprintf(stderr, "%sflor %s: %.1f of %.1f MiB, %.1f MiB/s\n", isatty(2) ? "\r\033[K" : "",
            pr->what, mib, (double)total / (1 << 20), mib / (t - pr->start));
    fflush(stderr);
}
