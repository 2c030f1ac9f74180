/*
 * cli.h -- what the files of the flor command share: the command table,
 * the global options, argument parsing, error reporting and the output
 * of a flor_table.  The command uses only the public API, flor.h.
 *
 * Calls go one way: main.c (global options, dispatch) -> cmd_*.c (one
 * command each) -> the helpers: commands.c (the overview, lookup in the
 * table), operands.c (a command's arguments), project.c (opening the
 * project, printing one of its tables), output.c (printing a table),
 * lookup.c (small reads), report.c (errors).  A helper never calls a
 * command or main.c; the command table reaches `flor help` through
 * cli_opts, not through a symbol of main.c.
 */
#ifndef FLOR_CLI_H
#define FLOR_CLI_H

#include <flor.h>

#include <stdbool.h>
#include <stdio.h>

/* Exit statuses, documented in `flor help` and docs/cli.md. */
enum { CLI_OK = 0, CLI_ERROR = 1, CLI_USAGE = 2 };

/* Returned by cli_operands() when the command should go on. */
#define CLI_CONTINUE (-1)

typedef enum cli_format { CLI_AUTO, CLI_TABLE, CLI_CSV, CLI_JSON } cli_format;

typedef struct cli_command cli_command;

typedef struct cli_opts {
    cli_format format; /* --format; CLI_AUTO: a table on a terminal, CSV otherwise */
    /* The command table, NULL-terminated, in the order of `flor help`; set
     * by main.c, read by cli_find and cli_print_overview. */
    const cli_command *const *commands;
} cli_opts;

struct cli_command {
    const char *name;
    /* ARGV[0] is the command's name; global options are already removed.
     * Returns the exit status. */
    int (*run)(int argc, char **argv, const cli_opts *opts);
    const char *summary; /* "NAME ARGS  what it does", one line of `flor help` */
    const char *help;    /* the usage text that -h prints */
};

extern const cli_command cli_cmd_dataframe, cli_cmd_query, cli_cmd_runs, cli_cmd_help;
extern const cli_command cli_cmd_checkout, cli_cmd_diff;
extern const cli_command cli_cmd_checkpoints, cli_cmd_du, cli_cmd_gc, cli_cmd_replay;
extern const cli_command cli_cmd_resume;
extern const cli_command cli_cmd_fsck;
extern const cli_command cli_cmd_remote, cli_cmd_push, cli_cmd_pull, cli_cmd_team;
extern const cli_command cli_cmd_serve, cli_cmd_plot;

/* The flor command: ARGV as main() gets it; returns the exit status.  The
 * `flor` binary's main() (flor.c) and `python -m flor` call it. */
int flor_cli_main(int argc, char **argv);

/* commands.c */

/* The command of OPTS->commands named NAME, or NULL. */
const cli_command *cli_find(const cli_opts *opts, const char *name);
/* The text of `flor help` (and `flor -h`), listing OPTS->commands. */
void cli_print_overview(const cli_opts *opts, FILE *out);

/* operands.c */

/* Splits ARGV[1..] of CMD into operands, stored in OPS (room for ARGC
 * pointers), handling -h/--help and `--`.  Returns CLI_CONTINUE, or the
 * exit status when the command should stop (help printed, usage error). */
int cli_operands(const cli_command *cmd, int argc, char **argv, char **ops, int *nops);

/* How many operands a command takes, and what it says when they are not. */
typedef struct cli_arity {
    int min, max;               /* max < 0: no limit */
    const char *const *missing; /* missing[n]: the message when n < min were given */
    const char *too_many;       /* the message when more than max were given; NULL:
                                   "unexpected argument 'X'", X the first extra one */
} cli_arity;

/* Removes every FLAG ("--local") from ARGV[1..] before a "--", keeping
 * the order, and returns whether there was one. */
int cli_take_flag(int *argc, char **argv, const char *flag);

/* What a command does with its operands OPS[0..N-1] (ARG: what else it
 * parsed); returns the exit status. */
typedef int (*cli_action)(char **ops, int n, void *arg, const cli_opts *opts);

/* The usual run() of a command CMD: splits ARGV with cli_operands, checks
 * the operands against ARITY (a usage error of CMD otherwise) and returns
 * ACT(ops, n, ARG, OPTS). */
int cli_run_operands(const cli_command *cmd, const cli_arity *arity, cli_action act, void *arg,
                     int argc, char **argv, const cli_opts *opts);

/* report.c */

/* "flor: MESSAGE" on stderr; returns CLI_ERROR. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "flor: MESSAGE" and "see 'flor help CMD'" on stderr; returns CLI_USAGE.
 * CMD NULL: the hint is `flor help`. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* project.c */

/* Opens the project around the working directory into *P: CLI_CONTINUE,
 * or CLI_ERROR with the error reported. */
int cli_open(flor_project **p);

/* Gets a table out of the project P; 0 or a FLOR_E* code. */
typedef int (*cli_getter)(flor_project *p, void *arg, flor_table **out);

/* Opens the project around the working directory, calls GET(p, ARG, &t)
 * and prints t.  Returns the exit status; errors are reported. */
int cli_show(cli_getter get, void *arg, const cli_opts *opts);

/* As cli_open, then, unless LOCAL, the team's runs instead when the
 * project has a team database (flor_project_team_open). */
int cli_open_team(flor_project **p, int local);
/* As cli_show, over cli_open_team(LOCAL). */
int cli_show_team(cli_getter get, void *arg, int local, const cli_opts *opts);

/* A whole table of the project, such as flor_project_runs gives. */
typedef int (*cli_lister)(flor_project *p, flor_table **out);

/* The run() of a command CMD that takes no operands and prints the table
 * LIST gives; returns the exit status. */
int cli_run_listing(const cli_command *cmd, cli_lister list, int argc, char **argv,
                    const cli_opts *opts);

/* output.c */

/* Prints T to stdout in the chosen format; returns the exit status. */
int cli_print_table(const flor_table *t, const cli_opts *opts);

/* The text of a real: the shortest of %.15g, %.16g, %.17g that reads back
 * as the same double, with ".0" added when it would read as an integer.
 * BUF holds at least 32 bytes. */
const char *cli_format_real(double v, char *buf);

/* progress.c */

/* A long transfer's progress lines ("flor push: 12.0 of 512.0 MiB, 80.1
 * MiB/s") on stderr: on a terminal or with FLOR_PROGRESS=1, never under
 * FLOR_QUIET, from one second on. */
typedef struct cli_progress {
    int on, shown;
    const char *what;
    double start, last;
} cli_progress;
void cli_progress_init(cli_progress *pr, const char *what);
/* A flor_progress_fn; ARG is a cli_progress. */
void cli_progress_show(void *arg, uint64_t done, uint64_t total);

/* lookup.c */

/* printf into a new string; NULL when out of memory.  The caller frees it. */
char *cli_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The run id in TEXT, a positive decimal integer: CLI_CONTINUE, or a usage
 * error of command CMD (reported). */
int cli_parse_run_id(const char *cmd, const char *text, int64_t *run);

/* The id of the run SPEC names: its id, or its tstamp.  Returns 0, or
 * CLI_ERROR when there is no such run (reported). */
int cli_find_run(flor_project *p, const char *spec, int64_t *run);

/* cmd_replay.c */

/* Whether SPEC is a period for --replay_every: "N" or "N:R", whole
 * numbers with N >= 1 and R < N (the iterations i with i % N == R). */
bool cli_replay_every_valid(const char *spec);
/* The blank-separated words of OPTIONS (sbatch's options, as --slurm=
 * takes them), split in place into WORDS, which has room for
 * strlen(OPTIONS) / 2 + 1 of them; returns how many. */
size_t cli_sbatch_words(char *options, char **words);

#endif /* FLOR_CLI_H */
