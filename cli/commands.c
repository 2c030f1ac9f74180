/*
 * commands.c -- the command table as `flor help` shows it: finding a
 * command by name and printing the overview.  The table itself is main.c's
 * and arrives here in cli_opts, so that `flor help` (a command) reads it
 * without calling up into main.c.
 */
#include "cli.h"

#include <string.h>

const cli_command *cli_find(const cli_opts *opts, const char *name)
{
    for (const cli_command *const *c = opts->commands; *c; c++)
        if (strcmp((*c)->name, name) == 0)
            return *c;
    return NULL;
}

void cli_print_overview(const cli_opts *opts, FILE *out)
{
    fputs("usage: flor [--format FMT] <command> [<args>]\n"
          "       flor --version\n"
          "\n"
          "Reads the runs that libflor recorded in the project around the working\n"
          "directory (the git repository that contains it).\n"
          "\n"
          "commands:\n",
          out);
    for (const cli_command *const *c = opts->commands; *c; c++)
        fprintf(out, "  %s\n", (*c)->summary);
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
