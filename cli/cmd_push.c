/*
 * cmd_push.c -- `flor push`: uploads the checkpoints the remote lacks
 * (flor_project_push).
 */
#include "cli.h"

#include <string.h>

static const char help[] =
    "usage: flor push [--format FMT]\n"
    "\n"
    "Uploads to the project's remote (see 'flor remote') every checkpoint\n"
    "chunk it does not have yet.  Recording programs do this themselves in\n"
    "the background; push is for what they could not (the remote was down, a\n"
    "program was killed) and for runs recorded before the remote was set.\n"
    "It first aborts the multipart uploads that killed processes of this\n"
    "machine left unfinished on the server.  What was uploaded before a\n"
    "failure stays recorded; run push again.\n"
    "\n"
    "Prints one row: segments, records, bytes (uploaded now), remote_bytes\n"
    "(in all), local_only_chunks (0 once everything is remote) and\n"
    "aborted_uploads.  Progress goes to stderr on a terminal (or with\n"
    "FLOR_PROGRESS=1), unless FLOR_QUIET is set.\n";

static int run(int argc, char **argv, const cli_opts *opts)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(help, stdout);
            return CLI_OK;
        }
        return cli_usage_error("push", "unexpected argument '%s'", argv[i]);
    }
    flor_project *p;
    if (cli_open(&p) != CLI_CONTINUE)
        return CLI_ERROR;
    cli_progress pr;
    cli_progress_init(&pr, "push");
    flor_table *t = NULL;
    int rc = flor_project_push(p, cli_progress_show, &pr, &t);
    int status = rc ? cli_error("%s", flor_errmsg()) : cli_print_table(t, opts);
    flor_table_free(t);
    flor_project_free(p);
    return status;
}

const cli_command cli_cmd_push = {
    "push", run, "push                 upload the checkpoints the remote lacks", help,
};
