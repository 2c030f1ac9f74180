/*
 * main.c -- the flor command: global options (--format, -h, --version),
 * the table of commands, argument splitting and error reporting.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
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
    &cli_cmd_replay,
    &cli_cmd_help,
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

const cli_command *cli_find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

void cli_print_overview(FILE *out)
{
    fputs("usage: flor [--format FMT] <command> [<args>]\n"
          "       flor --version\n"
          "\n"
          "Reads the runs that libflor recorded in the project around the working\n"
          "directory (the git repository that contains it).\n"
          "\n"
          "commands:\n",
          out);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %s\n", commands[i]->summary);
    fputs("\n"
          "options, accepted before or after the command:\n"
          "  --format FMT  table, csv or json (default: table on a terminal, csv\n"
          "                otherwise)\n"
          "  -h, --help    show the usage of flor, or of the command\n"
          "  --version     print flor's version\n"
          "\n"
          "exit status:\n"
          "  0  success\n"
          "  1  error: the message is on stderr, as \"flor: MESSAGE\"\n"
          "  2  usage error: unknown command or option, missing or extra argument\n"
          "\n"
          "See 'flor help COMMAND' for the usage of one command.\n",
          out);
}

int cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("flor: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_ERROR;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("flor: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "see 'flor help %s'\n", cmd);
    else
        fputs("see 'flor help'\n", stderr);
    return CLI_USAGE;
}

int cli_show(cli_getter get, void *arg, const cli_opts *opts)
{
    flor_project *p = NULL;
    flor_table *t = NULL;
    if (flor_project_open(&p, NULL) != 0)
        return cli_error("%s", flor_errmsg());
    int rc = get(p, arg, &t) != 0 ? cli_error("%s", flor_errmsg()) : cli_print_table(t, opts);
    flor_table_free(t);
    flor_project_free(p);
    return rc;
}

int cli_operands(const cli_command *cmd, int argc, char **argv, char **ops, int *nops)
{
    int only_operands = 0;
    *nops = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_operands && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
            fputs(cmd->help, stdout);
            return CLI_OK;
        }
        if (!only_operands && strcmp(a, "--") == 0)
            only_operands = 1;
        else if (!only_operands && a[0] == '-' && a[1])
            return cli_usage_error(cmd->name, "unknown option '%s'", a);
        else
            ops[(*nops)++] = argv[i];
    }
    return CLI_CONTINUE;
}

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
    cli_opts opts = {CLI_AUTO};
    int rc = take_global_options(&argc, argv, &opts);
    if (rc != CLI_CONTINUE)
        return rc;
    if (argc < 2) {
        cli_print_overview(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
        cli_print_overview(stdout);
        return CLI_OK;
    }
    if (strcmp(name, "--version") == 0) {
        printf("flor %s\n", FLOR_VERSION);
        return CLI_OK;
    }
    if (name[0] == '-')
        return cli_usage_error(NULL, "unknown option '%s'", name);
    const cli_command *cmd = cli_find(name);
    if (!cmd)
        return cli_usage_error(NULL, "'%s' is not a flor command", name);
    rc = cmd->run(argc - 1, argv + 1, &opts);
    if (fflush(stdout) != 0 || ferror(stdout))
        return cli_error("cannot write the output: %s", strerror(errno));
    return rc;
}
