/*
 * cmd_serve.c -- `flor serve`: the project as a web page (runs table,
 * curves, a run's page), served read-only by libmicrohttpd until Ctrl-C.
 * This file: the options, where the page's files are, the daemon's life.
 */
#include "cli.h"
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_PORT 8808
/* Connections served at once, each by a thread of its own: a request
 * that reads a million values does not hold up the page's files asked for
 * on another connection (a pool of threads would: each serves its share
 * of the connections in turn). */
#define MAX_CONNECTIONS 64u

static const char help[] =
    "usage: flor serve [--port N] [--bind ADDR --token TOKEN] [--web DIR]\n"
    "                  [--cache-mb N]\n"
    "\n"
    "Serves the project around the working directory as a web page: the runs\n"
    "table (the columns of flor dataframe, with status and duration), the\n"
    "curves of any value logged in a loop, one line per selected run (values\n"
    "computed by a replay drawn dashed, divergences marked), and each run's\n"
    "args, checkpoints, replays and code diff.  The page follows runs that are\n"
    "still recording.  Prints the address, then serves until Ctrl-C.\n"
    "\n"
    "The server is read-only: it answers GET and HEAD, and reads the project\n"
    "only through read-only calls.\n"
    "\n"
    "options:\n"
    "  --port N       the TCP port (default 8808; 0: any free port)\n"
    "  --bind ADDR    the address to listen on (default 127.0.0.1).  Any\n"
    "                 address but a loopback one needs --token\n"
    "  --token TOKEN  the access token every request must carry (?token=TOKEN\n"
    "                 once; the page keeps it in a cookie): 8 or more letters,\n"
    "                 digits, '-', '_', '.', '~'.  FLOR_SERVE_TOKEN gives it\n"
    "                 too, out of the process list\n"
    "  --web DIR      the page's files (default: FLOR_WEB_DIR, else web/ beside\n"
    "                 the flor binary, else ../share/flor/web from it)\n"
    "  --cache-mb N   memory for answers kept while the project is unchanged\n"
    "                 (default 256; 0: none).  The page's first answers are\n"
    "                 read ahead when the server starts and once the project\n"
    "                 has been unchanged for a second after a change\n"
    "\n"
    "examples:\n"
    "  flor serve\n"
    "  flor serve --port 0\n"
    "  FLOR_SERVE_TOKEN=$(openssl rand -hex 16) flor serve --bind 0.0.0.0\n";

#define DEFAULT_CACHE_MB 256u
#define MAX_CACHE_MB (1u << 20) /* a terabyte */

typedef struct serve_opts {
    unsigned port, cache_mb;
    const char *bind, *token, *web;
} serve_opts;

static bool has_index(const char *dir)
{
    char *index = cli_printf("%s/index.html", dir);
    bool ok = index && access(index, R_OK) == 0;
    free(index);
    return ok;
}

char *serve_find_root(const char *flag)
{
    const char *env = getenv("FLOR_WEB_DIR");
    const char *given = flag ? flag : env && *env ? env : NULL;
    if (given) {
        char *real = realpath(given, NULL);
        if (real && has_index(real))
            return real;
        free(real);
        cli_error("%s '%s': expected a directory with the page's index.html",
                  flag ? "--web" : "FLOR_WEB_DIR", given);
        return NULL;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        const char *dir = dirname(exe);
        static const char *const tries[] = {"%s/web", "%s/../share/flor/web"};
        for (size_t i = 0; i < 2; i++) {
            char *path = cli_printf(tries[i], dir);
            char *real = path ? realpath(path, NULL) : NULL;
            free(path);
            if (real && has_index(real))
                return real;
            free(real);
        }
    }
    cli_error("cannot find the page's files (index.html): build them with make, or give "
              "--web DIR or FLOR_WEB_DIR");
    return NULL;
}

static int parse_port(const char *text, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (!*text || *end || errno || v > 65535 || *text == '-')
        return cli_usage_error("serve", "--port '%s': expected a port number from 0 to 65535",
                               text);
    *out = (unsigned)v;
    return CLI_CONTINUE;
}

static int parse_cache(const char *text, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (!*text || *end || errno || v > MAX_CACHE_MB || *text == '-')
        return cli_usage_error("serve", "--cache-mb '%s': expected a number of megabytes from 0 "
                                        "to %u",
                               text, MAX_CACHE_MB);
    *out = (unsigned)v;
    return CLI_CONTINUE;
}

static int parse(int argc, char **argv, serve_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(help, stdout);
            return CLI_OK;
        }
        bool port = strcmp(a, "--port") == 0, cache = strcmp(a, "--cache-mb") == 0;
        const char **slot = strcmp(a, "--bind") == 0    ? &o->bind
                            : strcmp(a, "--token") == 0 ? &o->token
                            : strcmp(a, "--web") == 0   ? &o->web
                                                        : NULL;
        if (!slot && !port && !cache)
            return cli_usage_error("serve", "unexpected argument '%s'", a);
        if (i + 1 >= argc)
            return cli_usage_error("serve", "%s needs a value", a);
        if (slot) {
            *slot = argv[++i];
            continue;
        }
        int rc = port ? parse_port(argv[++i], &o->port) : parse_cache(argv[++i], &o->cache_mb);
        if (rc != CLI_CONTINUE)
            return rc;
    }
    return CLI_CONTINUE;
}

/* ADDR as a socket address with PORT; false when it is not an IP address. */
static bool parse_addr(const char *addr, unsigned port, struct sockaddr_storage *ss,
                       bool *v6, bool *loopback)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (strcmp(addr, "localhost") == 0)
        addr = "127.0.0.1";
    if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *v6 = false;
        *loopback = (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
        return true;
    }
    if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *v6 = true;
        *loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
        return true;
    }
    return false;
}

static int serve(const serve_opts *o)
{
    struct sockaddr_storage ss;
    bool v6, loopback;
    const char *bind = o->bind ? o->bind : "127.0.0.1";
    if (!parse_addr(bind, o->port, &ss, &v6, &loopback))
        return cli_usage_error("serve", "--bind '%s': expected an IPv4 or IPv6 address", bind);
    const char *token = o->token ? o->token : getenv("FLOR_SERVE_TOKEN");
    if (token && !*token)
        token = NULL;
    if (token && (strlen(token) < 8 || token[strspn(token, "abcdefghijklmnopqrstuvwxyz"
                                                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                            "0123456789-_.~")]))
        return cli_usage_error("serve",
                               "the token: expected at least 8 letters, digits, '-', '_', '.' "
                               "or '~'");
    if (!loopback && !token)
        return cli_usage_error("serve",
                               "--bind %s is not a loopback address: refusing to serve the "
                               "project to the network without --token (or FLOR_SERVE_TOKEN)",
                               bind);
    char *root = serve_find_root(o->web);
    if (!root)
        return CLI_ERROR;
    serve_ctx ctx = {.root = root, .token = token, .port = o->port};
    if (o->cache_mb && !(ctx.cache = serve_cache_new((size_t)o->cache_mb << 20))) {
        free(root);
        return cli_error("out of memory");
    }
    pthread_mutex_init(&ctx.lock, NULL);

    /* Ctrl-C and SIGTERM reach this thread's sigwait, not the server's. */
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, &old);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | (v6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d =
        MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, serve_request, &ctx,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                         MHD_OPTION_CONNECTION_LIMIT, MAX_CONNECTIONS,
                         MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_END);
    int rc = CLI_OK;
    if (!d) {
        rc = cli_error("cannot listen on %s port %u: %s", bind, o->port,
                       errno ? strerror(errno) : "libmicrohttpd failed to start");
    } else {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        ctx.port = info ? info->port : o->port;
        const char *host = loopback ? (v6 ? "[::1]" : "127.0.0.1") : bind;
        printf("flor serve: http://%s%s%s:%u/%s%s\n", v6 && !loopback ? "[" : "", host,
               v6 && !loopback ? "]" : "", ctx.port, token ? "?token=" : "",
               token ? token : "");
        fflush(stdout);
        serve_cache_start(&ctx);
        int sig;
        sigwait(&stop, &sig);
        MHD_stop_daemon(d);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    serve_cache_free(ctx.cache); /* stops the reading ahead, which uses the project */
    flor_project_free(ctx.project);
    pthread_mutex_destroy(&ctx.lock);
    free(root);
    return rc;
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    (void)opts;
    serve_opts o = {.port = DEFAULT_PORT, .cache_mb = DEFAULT_CACHE_MB};
    int rc = parse(argc, argv, &o);
    return rc != CLI_CONTINUE ? rc : serve(&o);
}

const cli_command cli_cmd_serve = {
    "serve", run, "serve [--port N]     the project as a web page with plots (read-only)", help,
};
