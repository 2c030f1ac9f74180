/*
 * local_ranks.c -- the built-in launcher of a replay's ranks on this host
 * (FLOR_LAUNCHER=local, or a run whose ranks were started with torchrun's
 * variables by hand): a job's process becomes the parent of N copies of
 * its command, rank i with the variables torchrun gives its workers.
 */
#include "replay/launch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* A TCP port of 127.0.0.1 free now, for the ranks' store; 0 if none. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void set_long(const char *name, long v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%ld", v);
    setenv(name, buf, 1);
}

/* Rank RANK of WORLD: torchrun's variables, then ARGV; never returns. */
static void exec_rank(char *const *argv, long rank, long world, int port)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* ends with the job's process */
    set_long("RANK", rank);
    set_long("LOCAL_RANK", rank);
    set_long("GROUP_RANK", 0);
    set_long("WORLD_SIZE", world);
    set_long("LOCAL_WORLD_SIZE", world);
    setenv("MASTER_ADDR", "127.0.0.1", 1);
    set_long("MASTER_PORT", port);
    unsetenv("TORCHELASTIC_RUN_ID");
    execvp(argv[0], argv);
    dprintf(2, "flor: cannot run '%s': %s\n", argv[0], strerror(errno));
    _exit(127);
}

_Noreturn void flor__local_ranks(char *const *argv, long world)
{
    int port = free_port();
    if (!port) {
        dprintf(2, "flor: no free TCP port on 127.0.0.1 for the ranks: %s\n", strerror(errno));
        _exit(127);
    }
    pid_t *pids = calloc((size_t)world, sizeof *pids);
    if (!pids) {
        dprintf(2, "flor: out of memory\n");
        _exit(127);
    }
    long started = 0;
    for (; started < world; started++) {
        pid_t pid = fork();
        if (pid == 0)
            exec_rank(argv, started, world, port);
        if (pid < 0) {
            dprintf(2, "flor: cannot start rank %ld: %s\n", started, strerror(errno));
            break;
        }
        pids[started] = pid;
    }
    /* the ranks are in this process's group, which is where the replay's
     * launcher sends a signal: this process only waits for them */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    int first = 0; /* the first failure, as waitpid says */
    if (started < world) {
        first = 127 << 8;
        for (long k = 0; k < started; k++) /* they would wait for the missing ranks */
            kill(pids[k], SIGTERM);
    }
    for (long left = started; left > 0;) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0)
            break;
        long i = 0;
        while (i < started && pids[i] != pid)
            i++;
        if (i == started)
            continue;
        pids[i] = 0;
        left--;
        bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!ok && !first) {
            first = status;
            /* ranks that wait for the failed one would wait for ever */
            for (long k = 0; k < started; k++)
                if (pids[k] > 0)
                    kill(pids[k], SIGTERM);
        }
    }
    if (first && WIFSIGNALED(first)) {
        signal(WTERMSIG(first), SIG_DFL);
        raise(WTERMSIG(first));
    }
    _exit(!first ? 0 : WIFEXITED(first) ? WEXITSTATUS(first) : 1);
}
