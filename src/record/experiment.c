/*
 * experiment.c -- the seed's `--flor NAME [EPSILON]`: NAME becomes the
 * run's projid (the experiment name; with no NAME, that of the latest run
 * of the same program), EPSILON the overhead budget of its checkpoints,
 * and ~/.flor/NAME a symbolic link to the project's data directory, where
 * the seed's `ls ~/.flor/NAME` looks for the checkpoints.
 */
#include "record/record.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int given;  /* --flor was on the command line */
static char *name; /* its NAME, NULL when left blank */

/* Whether S reads as a number: a digit, or a sign or '.' then a digit. */
static int numeric(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    if (*s == '.')
        s++;
    return *s >= '0' && *s <= '9';
}

static int parse_epsilon(const char *nm, const char *s)
{
    char *end;
    errno = 0;
    double e = strtod(s, &end);
    if (*end || errno || !(e > 0 && e < 1))
        return flor__err(FLOR_EINVAL, "--flor %s %s: expected EPSILON, a number between 0 and 1 "
                                      "(the overhead budget, such as 0.05)", nm, s);
    flor__policy_budget_set(e);
    return 0;
}

int flor__experiment_parse(int *argc, char ***argvp)
{
    char **argv = *argvp;
    for (int i = 1; i < *argc;) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--flor") != 0) {
            i++;
            continue;
        }
        given = 1;
        int n = 1;
        if (i + 1 < *argc && argv[i + 1][0] != '-') {
            const char *nm = argv[i + 1];
            if (!*nm || strchr(nm, '/') || strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
                return flor__err(FLOR_EINVAL, "--flor '%s': expected NAME, an experiment name "
                                              "(not empty, '.' or '..', and without '/')", nm);
            free(name);
            if (!(name = flor__strdup(nm)))
                return flor__err(FLOR_ENOMEM, "out of memory");
            n = 2;
            if (i + 2 < *argc && numeric(argv[i + 2])) {
                int rc = parse_epsilon(nm, argv[i + 2]);
                if (rc)
                    return rc;
                n = 3;
            }
        }
        flor__argv_remove(argc, argv, i, n);
    }
    return 0;
}

/* ~/.flor/NAME -> DATADIR: made when missing, moved when it links
 * elsewhere, and never put in place of a file or directory of the user. */
static void link_home(const char *nm, const char *datadir)
{
    const char *home = getenv("HOME");
    if (!home || !*home)
        return;
    char *dir = flor__printf("%s/.flor", home);
    char *link = flor__printf("%s/.flor/%s", home, nm);
    struct stat st;
    char cur[PATH_MAX];
    ssize_t len;
    if (!dir || !link)
        goto out;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        flor__warn("cannot make %s: %s (the run is recorded in %s)", dir, strerror(errno), datadir);
        goto out;
    }
    if (lstat(link, &st) == 0) {
        if (!S_ISLNK(st.st_mode)) {
            flor__warn("%s is not a link flor made: left as it is (the run is recorded in %s)",
                       link, datadir);
            goto out;
        }
        len = readlink(link, cur, sizeof cur - 1);
        if (len >= 0 && (size_t)len == strlen(datadir) && memcmp(cur, datadir, (size_t)len) == 0)
            goto out;
        unlink(link); /* another project's experiment of that name: this one is the latest */
    }
    if (symlink(datadir, link) != 0 && errno != EEXIST)
        flor__warn("cannot link %s to %s: %s", link, datadir, strerror(errno));
out:
    free(dir);
    free(link);
}

int flor__experiment_apply(flor__run *R, const char *filename, int rank)
{
    if (!given)
        return 0;
    char *nm = NULL;
    if (name) {
        nm = flor__strdup(name);
    } else {
        int rc = flor__runs_latest_projid(R->db, filename, &nm);
        if (rc)
            return rc;
        if (!nm) /* no previous run: the project's own name */
            nm = flor__strdup(R->place.projid);
    }
    if (!nm)
        return flor__err(FLOR_ENOMEM, "out of memory");
    free(R->place.projid);
    R->place.projid = nm;
    if (rank == 0)
        link_home(nm, R->place.datadir);
    return 0;
}
