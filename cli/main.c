/*
 * main.c -- the flor command: the table of commands, the global options
 * (--format, -h, --version) and the dispatch to one command (cmd_*.c).
 * Nothing calls into this file; the helpers the commands share are in the
 * other files of cli/ (see cli.h).
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const cli_command *const commands[] = {
    &cli_cmd_dataframe,
    &cli_cmd_query,
    &cli_cmd_runs,
    &cli_cmd_checkout,
    &cli_cmd_diff,
    &cli_cmd_checkpoints,
    &cli_cmd_du,
    &cli_cmd_gc,
    &cli_cmd_fsck,
    &cli_cmd_remote,
    &cli_cmd_push,
    &cli_cmd_pull,
    &cli_cmd_team,
    &cli_cmd_replay,
    &cli_cmd_resume,
    &cli_cmd_serve,
    &cli_cmd_plot,
    &cli_cmd_help,
    NULL,
};

static int parse_format(const char *value, cli_opts *opts)
{
    static const struct {
        const char *name;
        cli_format format;
    } formats[] = {{"table", CLI_TABLE}, {"csv", CLI_CSV}, {"json", CLI_JSON}};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (strcmp(value, formats[i].name) == 0) {
            opts->format = formats[i].format;
            return CLI_CONTINUE;
        }
    return cli_usage_error(NULL, "unknown format '%s' (expected table, csv or json)", value);
}

/* Takes --format out of ARGV wherever it stands (up to `--`), compacting
 * ARGV; returns CLI_CONTINUE or a usage error's status. */
static int take_global_options(int *argc, char **argv, cli_opts *opts)
{
    int out = 1, rc = CLI_CONTINUE, i;
    for (i = 1; i < *argc && rc == CLI_CONTINUE; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            break;
        if (strcmp(a, "--format") == 0) {
            if (i + 1 >= *argc)
                return cli_usage_error(NULL, "option '--format' needs a value");
            rc = parse_format(argv[++i], opts);
        } else if (strncmp(a, "--format=", 9) == 0) {
            rc = parse_format(a + 9, opts);
        } else {
            argv[out++] = argv[i];
        }
    }
    while (i < *argc)
        argv[out++] = argv[i++];
    argv[out] = NULL;
    *argc = out;
    return rc;
}

int flor_cli_main(int argc, char **argv)
{
    cli_opts opts = {CLI_AUTO, commands};
    int rc = take_global_options(&argc, argv, &opts);
    if (rc != CLI_CONTINUE)
        return rc;
    if (argc < 2) {
        cli_print_overview(&opts, stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
        cli_print_overview(&opts, stdout);
        return CLI_OK;
    }
    if (strcmp(name, "--version") == 0) {
        printf("flor %s\n", FLOR_VERSION);
        return CLI_OK;
    }
    if (name[0] == '-')
        return cli_usage_error(NULL, "unknown option '%s'", name);
    const cli_command *cmd = cli_find(&opts, name);
    if (!cmd)
        return cli_usage_error(NULL, "'%s' is not a flor command", name);
    rc = cmd->run(argc - 1, argv + 1, &opts);
    if (fflush(stdout) != 0 || ferror(stdout))
        return cli_error("cannot write the output: %s", strerror(errno));
    return rc;
}
