/*
 * operands.c -- a command's own arguments: -h/--help, `--`, unknown
 * options, and the check that the operands left are as many as the
 * command takes.  Most commands' run() is one call of cli_run_operands.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

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

/* CLI_CONTINUE when N operands (OPS) suit ARITY, else the usage error of
 * CMD, reported. */
static int check_arity(const cli_command *cmd, const cli_arity *arity, char **ops, int n)
{
    if (n < arity->min)
        return cli_usage_error(cmd->name, "%s", arity->missing[n]);
    if (arity->max >= 0 && n > arity->max) {
        if (arity->too_many)
            return cli_usage_error(cmd->name, "%s", arity->too_many);
        return cli_usage_error(cmd->name, "unexpected argument '%s'", ops[arity->max]);
    }
    return CLI_CONTINUE;
}

int cli_run_operands(const cli_command *cmd, const cli_arity *arity, cli_action act, void *arg,
                     int argc, char **argv, const cli_opts *opts)
{
    char **ops = malloc((size_t)argc * sizeof *ops);
    if (!ops)
        return cli_error("out of memory");
    int n, rc = cli_operands(cmd, argc, argv, ops, &n);
    if (rc == CLI_CONTINUE)
        rc = check_arity(cmd, arity, ops, n);
    if (rc == CLI_CONTINUE)
        rc = act(ops, n, arg, opts);
    free(ops);
    return rc;
}

int cli_take_flag(int *argc, char **argv, const char *flag)
{
    int found = 0, kept = 1, i = 1;
    for (; i < *argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], flag) == 0)
            found = 1;
        else
            argv[kept++] = argv[i];
    }
    while (i < *argc)
        argv[kept++] = argv[i++];
    argv[kept] = NULL;
    *argc = kept;
    return found;
}
