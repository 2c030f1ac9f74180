/*
 * fuzz_kwargs -- the --kwargs parser (flor__kwargs_parse, run by flor_init
 * on the program's argv) and the text-to-value conversions of flor_arg_long,
 * flor_arg_double, flor_arg_bool and flor_arg_text.
 *
 * Input: argv entries separated by NUL bytes (argv[0] is "prog").  Checked:
 *   - the parser returns 0 or FLOR_EINVAL/FLOR_ENOMEM;
 *   - it only removes entries: what is left is the input in order, less
 *     some entries, and on success no "--kwargs" is left before a "--";
 *   - on success, every NAME=VALUE given is readable, and flor_arg_text
 *     returns the last VALUE given for NAME; the typed reads return 0 or
 *     FLOR_EINVAL and, read again, the same value.
 */
#include "flor.h"
#include "fuzz.h"
#include "internal.h"

/* The last VALUE given for NAME (NL bytes) in the --kwargs groups of ARGV
 * (the original), as the manual describes them: the entries after each
 * --kwargs that contain '=' and do not start with "--". */
static const char *expected(char **argv, int argc, const char *name, size_t nl)
{
    const char *v = NULL;
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--kwargs") != 0)
            continue;
        for (i++; i < argc && strchr(argv[i], '=') && strncmp(argv[i], "--", 2) != 0; i++)
            if ((size_t)(strchr(argv[i], '=') - argv[i]) == nl && strncmp(argv[i], name, nl) == 0)
                v = strchr(argv[i], '=') + 1;
        i--;
    }
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int argc0;
    char **orig = fuzz_argv(data, size, &argc0);
    char **argv = malloc(((size_t)argc0 + 1) * sizeof *argv);
    memcpy(argv, orig, ((size_t)argc0 + 1) * sizeof *argv);
    int argc = argc0;

    int rc = flor__kwargs_parse(&argc, &argv);
    FUZZ_CHECK(rc == 0 || rc == FLOR_EINVAL || rc == FLOR_ENOMEM, "rc %d", rc);
    FUZZ_CHECK(argc >= 1 && argc <= argc0 && argv[argc] == NULL, "argc %d of %d", argc, argc0);
    for (int i = 0, j = 0; i < argc; i++, j++) { /* a subsequence of the input */
        while (j < argc0 && orig[j] != argv[i])
            j++;
        FUZZ_CHECK(j < argc0, "argv[%d] is not an entry of the input in order", i);
    }
    if (rc == 0) {
        for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
            FUZZ_CHECK(strcmp(argv[i], "--kwargs") != 0, "--kwargs left at argv[%d]", i);
        for (int i = 1; i < argc0; i++) {
            const char *eq = strchr(orig[i], '=');
            if (!eq || eq == orig[i])
                continue;
            size_t nl = (size_t)(eq - orig[i]);
            const char *want = expected(orig, argc0, orig[i], nl);
            if (!want)
                continue;
            char *name = strndup(orig[i], nl);
            const char *t;
            long l1, l2;
            double d1, d2;
            bool b1, b2;
            int r;
            switch (nl % 4) {
            case 0: /* a name's type follows its length: each is read as one type */
                FUZZ_CHECK(flor_arg_text(name, "dflt", &t) == 0, "text %s", name);
                FUZZ_CHECK(t && strcmp(t, want) == 0, "text %s: '%s', given '%s' last", name,
                           t ? t : "(null)", want);
                break;
            case 1:
                r = flor_arg_long(name, 7, &l1);
                FUZZ_CHECK(r == 0 || r == FLOR_EINVAL, "long %s rc %d", name, r);
                if (!r) {
                    FUZZ_CHECK(flor_arg_long(name, 8, &l2) == 0 && l1 == l2, "long %s twice", name);
                }
                break;
            case 2:
                r = flor_arg_double(name, 7.5, &d1);
                FUZZ_CHECK(r == 0 || r == FLOR_EINVAL, "double %s rc %d", name, r);
                if (!r) {
                    FUZZ_CHECK(flor_arg_double(name, 8.5, &d2) == 0, "double %s twice", name);
                    FUZZ_CHECK(memcmp(&d1, &d2, sizeof d1) == 0, "double %s twice", name);
                }
                break;
            default:
                r = flor_arg_bool(name, false, &b1);
                FUZZ_CHECK(r == 0 || r == FLOR_EINVAL, "bool %s rc %d", name, r);
                if (!r)
                    FUZZ_CHECK(flor_arg_bool(name, true, &b2) == 0 && b1 == b2, "bool %s twice", name);
                break;
            }
            free(name);
        }
    }
    flor__kwargs_release();
    free(argv);
    fuzz_argv_free(orig, argc0);
    return 0;
}
