/*
 * cmd_remote.c -- `flor remote`: shows, sets or removes the project's
 * remote, the S3 bucket its checkpoints are copied to
 * (flor_project_remote, _remote_set, _remote_remove).
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: flor remote [--format FMT]\n"
    "       flor remote add s3://BUCKET[/PREFIX] [--endpoint URL] [--region R]\n"
    "                       [--path-style | --virtual-hosted] [--profile NAME]\n"
    "                       [--cache SIZE] [--create-bucket]\n"
    "       flor remote remove\n"
    "\n"
    "The project's remote: an S3 bucket (AWS, Ceph RGW, MinIO, ...) that\n"
    "recording programs copy their checkpoints to, in the background, as they\n"
    "are written.  Then 'flor gc --evict' frees the local disk, replays fetch\n"
    "what they need, and a clone of the project elsewhere (with its flor.db)\n"
    "replays runs it never recorded.\n"
    "\n"
    "Without a subcommand, shows the remote in effect: url, endpoint, region,\n"
    "path_style, profile, cache, source (project or FLOR_REMOTE) and\n"
    "credentials (where they were found; never a key).\n"
    "\n"
    "add options:\n"
    "  --endpoint URL   http(s)://HOST[:PORT] of an S3-compatible server\n"
    "                   (default: the AWS settings, else AWS itself)\n"
    "  --region R       the signing region (default: AWS_REGION, the\n"
    "                   profile's, us-east-1)\n"
    "  --path-style     http://HOST/BUCKET/KEY addressing (the default for any\n"
    "                   endpoint but AWS's); --virtual-hosted: BUCKET.HOST\n"
    "  --profile NAME   the credentials' profile in ~/.aws/credentials\n"
    "  --cache SIZE     keep the local store under SIZE (e.g. 50G): after a\n"
    "                   run has copied everything, evict what is remote\n"
    "  --create-bucket  create the bucket (one you already own is fine)\n"
    "\n"
    "Credentials are never stored: they come from AWS_ACCESS_KEY_ID and\n"
    "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or the shared files\n"
    "(~/.aws/credentials, ~/.aws/config; AWS_PROFILE).  For one process,\n"
    "FLOR_REMOTE=s3://... overrides the remote (FLOR_REMOTE= turns it off),\n"
    "and FLOR_S3_ENDPOINT, FLOR_S3_REGION, FLOR_S3_PATH_STYLE=1 and\n"
    "FLOR_REMOTE_CACHE=SIZE its settings.\n";

static int value(int argc, char **argv, int *i, const char **out)
{
    const char *a = argv[*i], *eq = strchr(a, '=');
    if (eq) {
        *out = eq + 1;
        return CLI_CONTINUE;
    }
    if (*i + 1 >= argc)
        return cli_usage_error("remote", "option '%s' needs a value", a);
    *out = argv[++*i];
    return CLI_CONTINUE;
}

static int is_opt(const char *a, const char *name)
{
    size_t n = strlen(name);
    return strncmp(a, name, n) == 0 && (a[n] == 0 || a[n] == '=');
}

/* SIZE of --cache: bytes, as flor_parse_size() reads them. */
static int parse_size(const char *s, int64_t *out)
{
    if (flor_parse_size(s, out) != 0)
        return cli_usage_error("remote", "--cache expects a size such as 50G or 512M, not '%s'", s);
    return CLI_CONTINUE;
}

static int add(flor_project *p, int argc, char **argv)
{
    flor_remote_settings s = {.cache_bytes = -1};
    int create = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int rc = CLI_CONTINUE;
        if (is_opt(a, "--endpoint"))
            rc = value(argc, argv, &i, &s.endpoint);
        else if (is_opt(a, "--region"))
            rc = value(argc, argv, &i, &s.region);
        else if (is_opt(a, "--profile"))
            rc = value(argc, argv, &i, &s.profile);
        else if (strcmp(a, "--path-style") == 0)
            s.path_style = 1;
        else if (strcmp(a, "--virtual-hosted") == 0)
            s.path_style = 2;
        else if (strcmp(a, "--create-bucket") == 0)
            create = 1;
        else if (is_opt(a, "--cache")) {
            const char *v = NULL;
            rc = value(argc, argv, &i, &v);
            if (rc == CLI_CONTINUE)
                rc = parse_size(v, &s.cache_bytes);
        } else if (a[0] == '-')
            return cli_usage_error("remote", "unknown option '%s'", a);
        else if (s.url)
            return cli_usage_error("remote", "unexpected argument '%s'", a);
        else
            s.url = a;
        if (rc != CLI_CONTINUE)
            return rc;
    }
    if (!s.url)
        return cli_usage_error("remote", "add needs a URL, s3://BUCKET[/PREFIX]");
    if (flor_project_remote_set(p, &s) != 0)
        return cli_error("%s", flor_errmsg());
    if (create && flor_project_remote_create_bucket(p) != 0)
        return cli_error("%s", flor_errmsg());
    return CLI_OK;
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(help, stdout);
            return CLI_OK;
        }
    const char *sub = argc > 1 ? argv[1] : NULL;
    if (sub && strcmp(sub, "add") != 0 && strcmp(sub, "remove") != 0)
        return cli_usage_error("remote", "unknown subcommand '%s' (add or remove)", sub);
    if (sub && strcmp(sub, "remove") == 0 && argc > 2)
        return cli_usage_error("remote", "unexpected argument '%s'", argv[2]);
    flor_project *p;
    if (sub && strcmp(sub, "add") == 0) { /* before the first run too */
        if (flor_project_create(&p, NULL) != 0)
            return cli_error("%s", flor_errmsg());
    } else if (cli_open(&p) != CLI_CONTINUE) {
        return CLI_ERROR;
    }
    int status;
    if (!sub) {
        flor_table *t = NULL;
        status = flor_project_remote(p, &t) != 0 ? cli_error("%s", flor_errmsg())
                                                 : cli_print_table(t, opts);
        flor_table_free(t);
    } else if (strcmp(sub, "add") == 0) {
        status = add(p, argc, argv);
    } else {
        status = flor_project_remote_remove(p) != 0 ? cli_error("%s", flor_errmsg()) : CLI_OK;
    }
    flor_project_free(p);
    return status;
}

const cli_command cli_cmd_remote = {
    "remote", run, "remote [add URL]     the S3 bucket checkpoints are copied to", help,
};
