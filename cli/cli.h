/*
 * cli.h -- what the files of the flor command share: the command table,
 * the global options, argument parsing, error reporting and the output
 * of a flor_table.  The command uses only the public API, flor.h.
 */
#ifndef FLOR_CLI_H
#define FLOR_CLI_H

#include <flor.h>

#include <stdio.h>

/* Exit statuses, documented in `flor help` and docs/cli.md. */
enum { CLI_OK = 0, CLI_ERROR = 1, CLI_USAGE = 2 };

/* Returned by cli_operands() when the command should go on. */
#define CLI_CONTINUE (-1)

typedef enum cli_format { CLI_AUTO, CLI_TABLE, CLI_CSV, CLI_JSON } cli_format;

typedef struct cli_opts {
    cli_format format; /* --format; CLI_AUTO: a table on a terminal, CSV otherwise */
} cli_opts;

typedef struct cli_command {
    const char *name;
    /* ARGV[0] is the command's name; global options are already removed.
     * Returns the exit status. */
    int (*run)(int argc, char **argv, const cli_opts *opts);
    const char *summary; /* "NAME ARGS  what it does", one line of `flor help` */
    const char *help;    /* the usage text that -h prints */
} cli_command;

extern const cli_command cli_cmd_dataframe, cli_cmd_query, cli_cmd_runs, cli_cmd_help;
extern const cli_command cli_cmd_checkout, cli_cmd_diff;
extern const cli_command cli_cmd_checkpoints, cli_cmd_du, cli_cmd_gc, cli_cmd_replay;
extern const cli_command cli_cmd_fsck;

/* The flor command: ARGV as main() gets it; returns the exit status.  The
 * `flor` binary's main() (flor.c) and `python -m flor` call it. */
int flor_cli_main(int argc, char **argv);

/* The command named NAME, or NULL. */
const cli_command *cli_find(const char *name);
/* The text of `flor help` (and `flor -h`). */
void cli_print_overview(FILE *out);

/* Splits ARGV[1..] of CMD into operands, stored in OPS (room for ARGC
 * pointers), handling -h/--help and `--`.  Returns CLI_CONTINUE, or the
 * exit status when the command should stop (help printed, usage error). */
int cli_operands(const cli_command *cmd, int argc, char **argv, char **ops, int *nops);

/* "flor: MESSAGE" on stderr; returns CLI_ERROR. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "flor: MESSAGE" and "see 'flor help CMD'" on stderr; returns CLI_USAGE.
 * CMD NULL: the hint is `flor help`. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Gets a table out of the project P; 0 or a FLOR_E* code. */
typedef int (*cli_getter)(flor_project *p, void *arg, flor_table **out);

/* Opens the project around the working directory, calls GET(p, ARG, &t)
 * and prints t.  Returns the exit status; errors are reported. */
int cli_show(cli_getter get, void *arg, const cli_opts *opts);

/* Prints T to stdout in the chosen format; returns the exit status. */
int cli_print_table(const flor_table *t, const cli_opts *opts);

/* printf into a new string; NULL when out of memory.  The caller frees it. */
char *cli_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The run id in TEXT, a positive decimal integer: CLI_CONTINUE, or a usage
 * error of command CMD (reported). */
int cli_parse_run_id(const char *cmd, const char *text, int64_t *run);

/* The id of the run SPEC names: its id, or its tstamp.  Returns 0, or
 * CLI_ERROR when there is no such run (reported). */
int cli_find_run(flor_project *p, const char *spec, int64_t *run);

/* The text of a real: the shortest of %.15g, %.16g, %.17g that reads back
 * as the same double, with ".0" added when it would read as an integer.
 * BUF holds at least 32 bytes. */
const char *cli_format_real(double v, char *buf);

#endif /* FLOR_CLI_H */
