/*
 * workarea.c -- the temporary directory of a replay launch and its janitor.
 *
 * The work area, $TMPDIR/flor-replay.XXXXXX, names its owner in a file
 * "owner": the launcher's pid and the start time of its process (so a
 * reused pid is not taken for it).  A tiny janitor process, forked when
 * the area is made, reads a pipe from the launcher: "+PGID" when a job's
 * process group starts, "-PGID" when it is reaped, "done" when the
 * launcher has cleaned up.  End of file without "done" means the launcher
 * died (even by SIGKILL): the janitor kills the groups still running and
 * removes the area.  A new launcher also removes the areas of owners that
 * are gone (a janitor killed with its launcher).
 */
#include "replay/launch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int janitor_fd = -1; /* the launcher's end of the pipe */
static pid_t janitor_pid;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void flor__remove_tree(const char *dir)
{
    if (dir)
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The start time of process PID (field 22 of /proc/PID/stat), or 0. */
static unsigned long long proc_start(long pid)
{
    char buf[1024];
    const char *fields = flor__proc_stat(pid, buf, sizeof buf);
    return fields ? flor__proc_stat_field(fields, 22) : 0;
}

/* Removes the areas under TMP whose owner is gone. */
static void sweep_stale(const char *tmp)
{
    DIR *d = opendir(tmp);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "flor-replay.", 12) != 0)
            continue;
        char *owner = flor__printf("%s/%s/owner", tmp, e->d_name);
        FILE *f = owner ? fopen(owner, "r") : NULL;
        long pid = 0;
        unsigned long long start = 0;
        int n = f ? fscanf(f, "%ld %llu", &pid, &start) : 0;
        if (f)
            fclose(f);
        if (n == 2 && pid > 0 && proc_start(pid) != start) {
            char *dir = flor__printf("%s/%s", tmp, e->d_name);
            flor__remove_tree(dir);
            free(dir);
        }
        free(owner);
    }
    closedir(d);
}

static void janitor(int in, const char *dir)
{
    static const int quiet[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTSTP};
    for (size_t i = 0; i < sizeof quiet / sizeof *quiet; i++)
        signal(quiet[i], SIG_IGN);
    int null = open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3 && null >= 0; fd++)
        dup2(null, fd);
    for (int fd = 3; fd < 1024; fd++)
        if (fd != in)
            close(fd);
    pid_t *groups = NULL;
    size_t n = 0, cap = 0;
    char line[64];
    size_t len = 0;
    for (;;) {
        char c;
        ssize_t r = read(in, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* the launcher is gone */
        if (c != '\n') {
            if (len < sizeof line - 1)
                line[len++] = c;
            continue;
        }
        line[len] = '\0';
        len = 0;
        if (strcmp(line, "done") == 0)
            _exit(0);
        pid_t g = (pid_t)atol(line + 1);
        if (line[0] == '+' && g > 0) {
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                pid_t *v = realloc(groups, ncap * sizeof *v);
                if (!v)
                    continue;
                groups = v;
                cap = ncap;
            }
            groups[n++] = g;
        } else if (line[0] == '-') {
            for (size_t k = 0; k < n; k++)
                if (groups[k] == g)
                    groups[k] = groups[--n];
        }
    }
    for (size_t k = 0; k < n; k++)
        kill(-groups[k], SIGKILL);
    flor__remove_tree(dir);
    _exit(0);
}

static void janitor_say(const char *msg)
{
    if (janitor_fd < 0)
        return;
    if (write(janitor_fd, msg, strlen(msg)) < 0) {
        /* the janitor is gone: nothing more to tell it */
    }
}

/* Makes the area from TEMPLATE (in place) with its owner file: LAUNCHER.
 * 0, or an errno. */
static int make_area(char *template, long launcher)
{
    if (!mkdtemp(template))
        return errno;
    char *owner = flor__printf("%s/owner", template);
    FILE *f = owner ? fopen(owner, "w") : NULL;
    if (f) {
        fprintf(f, "%ld %llu\n", launcher, proc_start(launcher));
        fclose(f);
    }
    free(owner);
    return 0;
}

/* The janitor makes the area itself, so that there is no moment when it
 * exists without someone to remove it: the launcher may die at any time. */
static int area_with_janitor(char *template)
{
    int cmd[2], reply[2];
    if (pipe2(cmd, O_CLOEXEC) != 0)
        return errno;
    if (pipe2(reply, O_CLOEXEC) != 0) {
        int e = errno;
        close(cmd[0]);
        close(cmd[1]);
        return e;
    }
    long launcher = (long)getpid();
    pid_t pid = fork();
    if (pid == 0) {
        close(cmd[1]);
        close(reply[0]);
        int e = make_area(template, launcher);
        char c = e ? 1 : 0; /* then the name mkdtemp() chose, as long as TEMPLATE */
        if (write(reply[1], &c, 1) != 1 || e ||
            write(reply[1], template, strlen(template)) != (ssize_t)strlen(template))
            _exit(0); /* the launcher sees EOF and cleans nothing; the sweep will */
        close(reply[1]);
        janitor(cmd[0], template);
    }
    int e = pid < 0 ? errno : 0;
    close(cmd[0]);
    close(reply[1]);
    char c = 1;
    size_t len = strlen(template), got = 0;
    if (pid > 0 && read(reply[0], &c, 1) != 1)
        c = 1;
    while (!c && got < len) {
        ssize_t r = read(reply[0], template + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            c = 1;
        else
            got += (size_t)r;
    }
    close(reply[0]);
    if (pid < 0 || c) {
        close(cmd[1]);
        if (pid > 0)
            waitpid(pid, NULL, 0);
        return e ? e : EIO;
    }
    janitor_fd = cmd[1];
    janitor_pid = pid;
    return 0;
}

char *flor__workarea_new(void)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    sweep_stale(tmp);
    char *dir = flor__printf("%s/flor-replay.XXXXXX", tmp);
    if (!dir) {
        errno = ENOMEM;
        return NULL;
    }
    int e = area_with_janitor(dir);
    if (e) { /* no janitor: the next launch removes the area if flor dies */
        memcpy(dir + strlen(dir) - 6, "XXXXXX", 6);
        e = make_area(dir, (long)getpid());
    }
    if (e) {
        free(dir);
        errno = e;
        return NULL;
    }
    return dir;
}

void flor__workarea_done(const char *dir, bool remove_all)
{
    if (dir) {
        char *owner = flor__printf("%s/owner", dir);
        if (owner)
            unlink(owner);
        free(owner);
        if (remove_all)
            flor__remove_tree(dir);
        else
            rmdir(dir);
    }
    if (janitor_fd >= 0) {
        janitor_say("done\n");
        close(janitor_fd);
        janitor_fd = -1;
        waitpid(janitor_pid, NULL, 0);
    }
}


void flor__workarea_track(char sign, pid_t pgid)
{
    char msg[64];
    snprintf(msg, sizeof msg, "%c%ld\n", sign, (long)pgid);
    janitor_say(msg);
}
