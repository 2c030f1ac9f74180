/*
 * fuzz_replay_flag -- the replay flags on the program's argv
 * (flor__replay_parse, run by flor_init): --replay_flor [PID/N],
 * --replay_run RUN, --probe LOOPS.
 *
 * Input: argv entries separated by NUL bytes (argv[0] is "prog").  The
 * FLOR_REPLAY* environment variables are unset.  Checked:
 *   - it returns 0 or FLOR_EINVAL/FLOR_ENOMEM;
 *   - it only removes entries, keeping the rest in order, and on success
 *     leaves no --replay_flor/--replay_run/--probe before a "--";
 *   - on success with replay on, the segment is 0 <= PID < N;
 *   - a failure names the flag ("--replay_flor ...: expected PID/N").
 */
#include "flor.h"
#include "fuzz.h"
#include "internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    unsetenv("FLOR_REPLAY");
    unsetenv("FLOR_REPLAY_RUN");
    unsetenv("FLOR_PROBE");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int argc0;
    char **orig = fuzz_argv(data, size, &argc0);
    char **argv = malloc(((size_t)argc0 + 1) * sizeof *argv);
    memcpy(argv, orig, ((size_t)argc0 + 1) * sizeof *argv);
    int argc = argc0;

    int rc = flor__replay_parse(&argc, &argv);
    FUZZ_CHECK(rc == 0 || rc == FLOR_EINVAL || rc == FLOR_ENOMEM, "rc %d", rc);
    FUZZ_CHECK(argc >= 1 && argc <= argc0 && argv[argc] == NULL, "argc %d of %d", argc, argc0);
    for (int i = 0, j = 0; i < argc; i++, j++) {
        while (j < argc0 && orig[j] != argv[i])
            j++;
        FUZZ_CHECK(j < argc0, "argv[%d] is not an entry of the input in order", i);
    }
    if (rc == 0) {
        for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
            FUZZ_CHECK(strcmp(argv[i], "--replay_flor") != 0 && strcmp(argv[i], "--replay_run") != 0 &&
                           strcmp(argv[i], "--probe") != 0,
                       "flag left at argv[%d]: %s", i, argv[i]);
        if (flor__P.on)
            FUZZ_CHECK(flor__P.seg_n >= 1 && flor__P.seg_pid >= 0 && flor__P.seg_pid < flor__P.seg_n,
                       "segment %ld/%ld", flor__P.seg_pid, flor__P.seg_n);
    } else if (rc == FLOR_EINVAL) {
        const char *m = flor_errmsg();
        FUZZ_CHECK(strncmp(m, "--", 2) == 0, "message '%s'", m);
    }
    flor__replay_release();
    free(argv);
    fuzz_argv_free(orig, argc0);
    return 0;
}
