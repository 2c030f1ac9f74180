/*
 * cmd_help.c -- `flor help [COMMAND]`: the overview, or one command's usage.
 */
#include "cli.h"

static const char help[] =
    "usage: flor help [COMMAND]\n"
    "\n"
    "Prints the overview of flor, or the usage of COMMAND (what\n"
    "`flor COMMAND -h` prints).\n";

static int act(char **ops, int n, void *arg, const cli_opts *opts)
{
    (void)arg;
    if (n == 0) {
        cli_print_overview(opts, stdout);
        return CLI_OK;
    }
    const cli_command *cmd = cli_find(opts, ops[0]);
    if (!cmd)
        return cli_usage_error(NULL, "'%s' is not a flor command", ops[0]);
    fputs(cmd->help, stdout);
    return CLI_OK;
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    static const cli_arity arity = {0, 1, NULL, "too many arguments"};
    return cli_run_operands(&cli_cmd_help, &arity, act, NULL, argc, argv, opts);
}

const cli_command cli_cmd_help = {
    "help", run, "help [COMMAND]       the usage of flor, or of one command", help,
};
