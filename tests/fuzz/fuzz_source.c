/*
 * fuzz_source -- the hindsight statement scanner (src/source.c), which reads
 * the user's program text (C or Python) to find logging statements, their
 * names, where a statement ends, and the loops around a line.
 *
 * Input: byte 0 picks the language (C or Python) and bytes 1-2 a line
 * number; the rest is the text.  Every function runs on the whole text and
 * on each of its lines.  Contracts: log_at returns -1 or an offset inside
 * the line where the call's name is; parens is whatever it is, but must not
 * read past LEN; log_name is NULL or a string; loops returns 0 (or FLOR_ENOMEM).
 */
#include "flor.h"
#include "fuzz.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    flor__lang lang = data[0] & 1 ? FLOR__LANG_PYTHON : FLOR__LANG_C;
    int line = data[1] | data[2] << 8;
    size -= 3;
    /* A copy of exactly SIZE bytes, so ASan sees any read past LEN; loops
     * wants NUL-terminated text, so it gets its own copy. */
    char *text = malloc(size ? size : 1);
    memcpy(text, data + 3, size);
    char *ztext = malloc(size + 1);
    memcpy(ztext, data + 3, size);
    ztext[size] = 0;

    (void)flor__source_parens(lang, text, size);
    char *loops = NULL;
    int rc = flor__source_loops(lang, ztext, size, line, &loops);
    FUZZ_CHECK(rc == 0 || rc == FLOR_ENOMEM, "rc %d", rc);
    free(loops);

    size_t start = 0;
    while (start <= size) {
        const char *nl = memchr(text + start, '\n', size - start);
        size_t end = nl ? (size_t)(nl - text) : size;
        size_t n = end - start;
        char *ln = malloc(n ? n : 1);
        memcpy(ln, text + start, n);
        long at = flor__source_log_at(lang, ln, n);
        FUZZ_CHECK(at == -1 || (at >= 0 && (size_t)at < n), "log_at %ld in a line of %zu", at, n);
        (void)flor__source_parens(lang, ln, n);
        if (at >= 0) {
            char *call = malloc(n - (size_t)at + 1);
            memcpy(call, ln + at, n - (size_t)at);
            call[n - (size_t)at] = 0;
            char *name = flor__source_log_name(call);
            free(name);
            free(call);
        }
        free(ln);
        if (!nl)
            break;
        start = end + 1;
    }
    free(ztext);
    free(text);
    return 0;
}
