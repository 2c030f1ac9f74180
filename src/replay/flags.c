/*
 * flags.c -- the replay's flags: --replay_flor [PID/N], --replay_every N[:R],
 * --replay_run RUN, --probe LOOPS (and their FLOR_* environment forms),
 * and flor__P, the replay's state, which only the replay files use.
 */
#include "replay/replay.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

flor__replay flor__P;

int flor__replay_requested(void) { return flor__P.on; }

/* A whole decimal number, digits only (no sign, no blank), into *OUT;
 * -1 when S is not one or it is out of range. */
static int whole_number(const char *s, size_t len, long *out)
{
    if (len == 0 || len > 18)
        return -1;
    long v = 0;
    for (size_t k = 0; k < len; k++) {
        if (!isdigit((unsigned char)s[k]))
            return -1;
        v = v * 10 + (s[k] - '0');
    }
    *out = v;
    return 0;
}

static int parse_segment(const char *s)
{
    const char *slash = strchr(s, '/');
    long pid, n;
    if (!slash || whole_number(s, (size_t)(slash - s), &pid) != 0 ||
        whole_number(slash + 1, strlen(slash + 1), &n) != 0)
        return flor__err(FLOR_EINVAL, "--replay_flor '%s': expected PID/N, two whole numbers "
                                      "such as 0/4 (N at most 999999999999999999)", s);
    if (n < 1 || pid >= n)
        return flor__err(FLOR_EINVAL, "--replay_flor %s: expected PID/N with 0 <= PID < N", s);
    flor__P.seg_pid = pid;
    flor__P.seg_n = n;
    return 0;
}

/* Whether the word after --replay_flor is its value: anything but a
 * flag ("--..."), so that a malformed segment ("-1/3", "abc", " 1/3") is
 * an error rather than an argument passed on to the program. */
static int is_segment(const char *s)
{
    return strncmp(s, "--", 2) != 0;
}

static int add_probe(const char *list)
{
    char *copy = flor__strdup(list);
    if (!copy)
        return flor__err(FLOR_ENOMEM, "out of memory");
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (flor__P.nprobe == (int)(sizeof flor__P.probe / sizeof *flor__P.probe))
            break;
        flor__P.probe[flor__P.nprobe++] = flor__strdup(tok);
    }
    free(copy);
    return 0;
}

/* --replay_every N or N:R: the new statements need iterations i of the
 * checkpointed loop with i % N == R only. */
static int parse_every(const char *what, const char *s)
{
    const char *colon = strchr(s, ':');
    size_t nlen = colon ? (size_t)(colon - s) : strlen(s);
    long n, r = 0;
    if (whole_number(s, nlen, &n) != 0 || n < 1 ||
        (colon && (whole_number(colon + 1, strlen(colon + 1), &r) != 0 || r >= n)))
        return flor__err(FLOR_EINVAL, "%s '%s': expected N or N:R, whole numbers with N >= 1 "
                                      "and R < N (iterations i with i %% N == R)", what, s);
    flor__P.every_n = n;
    flor__P.every_r = r;
    return 0;
}

int flor__replay_parse(int *argc, char ***argvp)
{
    char **argv = *argvp;
    const char *env = getenv("FLOR_REPLAY");
    if (env && *env && strcmp(env, "0") != 0) {
        flor__P.on = 1;
        flor__P.seg_n = 1;
        if (strchr(env, '/') && parse_segment(env) != 0)
            return flor__err_wrap(FLOR_EINVAL, "FLOR_REPLAY");
    }
    const char *run = getenv("FLOR_REPLAY_RUN");
    if (run && *run)
        flor__P.run_spec = flor__strdup(run);
    const char *every = getenv("FLOR_REPLAY_EVERY");
    if (every && *every && parse_every("FLOR_REPLAY_EVERY", every) != 0)
        return FLOR_EINVAL;
    const char *probe = getenv("FLOR_PROBE");
    if (probe && *probe)
        add_probe(probe);
    for (int i = 1; i < *argc;) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--replay_flor") == 0) {
            flor__P.on = 1;
            if (!flor__P.seg_n)
                flor__P.seg_n = 1;
            if (i + 1 < *argc && is_segment(argv[i + 1])) {
                int rc = parse_segment(argv[i + 1]);
                if (rc)
                    return rc;
                flor__argv_remove(argc, argv, i, 2);
            } else {
                flor__argv_remove(argc, argv, i, 1);
            }
        } else if (strcmp(argv[i], "--replay_every") == 0) {
            if (i + 1 >= *argc)
                return flor__err(FLOR_EINVAL, "%s: expected a value after it", argv[i]);
            int rc = parse_every("--replay_every", argv[i + 1]);
            if (rc)
                return rc;
            flor__argv_remove(argc, argv, i, 2);
        } else if (strcmp(argv[i], "--replay_run") == 0 || strcmp(argv[i], "--probe") == 0) {
            if (i + 1 >= *argc)
                return flor__err(FLOR_EINVAL, "%s: expected a value after it", argv[i]);
            if (argv[i][2] == 'r') {
                free(flor__P.run_spec);
                flor__P.run_spec = flor__strdup(argv[i + 1]);
            } else {
                add_probe(argv[i + 1]);
            }
            flor__argv_remove(argc, argv, i, 2);
        } else {
            i++;
        }
    }
    if (flor__P.on && !flor__P.seg_n)
        flor__P.seg_n = 1;
    return 0;
}

int flor__replay_probed(const char *loop)
{
    for (int i = 0; i < flor__P.nprobe; i++)
        if (strcmp(flor__P.probe[i], loop) == 0)
            return 1;
    return 0;
}

int flor_probe(const char *loop)
{
    flor__err_clear();
    if (!loop || !*loop)
        return flor__err(FLOR_EINVAL, "flor_probe: expected a loop name");
    if (flor__replay_probed(loop))
        return 0;
    if (flor__P.nprobe == (int)(sizeof flor__P.probe / sizeof *flor__P.probe))
        return 0; /* as --probe: the first 16 */
    char *copy = flor__strdup(loop);
    if (!copy)
        return flor__err(FLOR_ENOMEM, "out of memory");
    flor__P.probe[flor__P.nprobe++] = copy;
    return 0;
}
