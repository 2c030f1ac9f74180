/*
 * cmd_help.c -- `flor help [COMMAND]`: the overview, or one command's usage.
 */
#include "cli.h"

#include <stdlib.h>

static const char help[] =
    "usage: flor help [COMMAND]\n"
    "\n"
    "Prints the overview of flor, or the usage of COMMAND (what\n"
    "`flor COMMAND -h` prints).\n";

static int show(int n, char **ops)
{
    if (n > 1)
        return cli_usage_error("help", "too many arguments");
    if (n == 0) {
        cli_print_overview(stdout);
        return CLI_OK;
    }
    const cli_command *cmd = cli_find(ops[0]);
    if (!cmd)
        return cli_usage_error(NULL, "'%s' is not a flor command", ops[0]);
    fputs(cmd->help, stdout);
    return CLI_OK;
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    (void)opts;
    char **ops = malloc((size_t)argc * sizeof *ops);
    if (!ops)
        return cli_error("out of memory");
    int n, rc = cli_operands(&cli_cmd_help, argc, argv, ops, &n);
    if (rc == CLI_CONTINUE)
        rc = show(n, ops);
    free(ops);
    return rc;
}

const cli_command cli_cmd_help = {
    "help", run, "help [COMMAND]       the usage of flor, or of one command", help,
};
