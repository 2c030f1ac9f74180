/*
 * test_source.c -- how hindsight logging reads program text: which lines
 * start a logging statement, the name it logs, where it ends, and the
 * flor loops around a line, in C and in Python.
 */
#include "check.h"
#include "../../src/internal.h"

#include <stdlib.h>

static long log_at(flor__lang lang, const char *line)
{
    return flor__source_log_at(lang, line, strlen(line));
}

static void test_languages_by_extension(void)
{
    CHECK_EQ_INT(flor__source_lang("train.c"), FLOR__LANG_C);
    CHECK_EQ_INT(flor__source_lang("src/model.cu"), FLOR__LANG_C);
    CHECK_EQ_INT(flor__source_lang("include/x.hpp"), FLOR__LANG_C);
    CHECK_EQ_INT(flor__source_lang("train.py"), FLOR__LANG_PYTHON);
    CHECK_EQ_INT(flor__source_lang("README.md"), FLOR__LANG_NONE);
    CHECK_EQ_INT(flor__source_lang("Makefile"), FLOR__LANG_NONE);
    CHECK_EQ_INT(flor__source_lang("dir.c/Makefile"), FLOR__LANG_NONE);
}

static void test_c_logging_calls(void)
{
    CHECK_EQ_INT(log_at(FLOR__LANG_C, "    flor_log(\"loss\", loss);"), 4);
    CHECK_EQ_INT(log_at(FLOR__LANG_C, "flor_log_double(\"x\", 1.0);"), 0);
    CHECK_EQ_INT(log_at(FLOR__LANG_C, "if (ok) flor_log (\"x\", 1);"), 8);
    /* not a call, not flor's, or not code */
    CHECK_EQ_INT(log_at(FLOR__LANG_C, "int flor_logs = 0;"), -1);
    CHECK_EQ_INT(log_at(FLOR__LANG_C, "my_flor_log(\"x\", 1);"), -1);
    CHECK_EQ_INT(log_at(FLOR__LANG_C, "// flor_log(\"x\", 1);"), -1);
    CHECK_EQ_INT(log_at(FLOR__LANG_C, "x = 1; /* flor_log(\"x\", 1); */"), -1);
    CHECK_EQ_INT(log_at(FLOR__LANG_C, " * flor_log(\"x\", 1) in a doc comment"), -1);
    CHECK_EQ_INT(log_at(FLOR__LANG_C, "puts(\"flor_log(\");"), -1);
    CHECK_EQ_INT(log_at(FLOR__LANG_C, "#define L(x) flor_log(#x, x)"), -1);
    /* Python's spelling is not C's */
    CHECK_EQ_INT(log_at(FLOR__LANG_C, "flor.log(\"x\", 1)"), -1);
}

static void test_python_logging_calls(void)
{
    CHECK_EQ_INT(log_at(FLOR__LANG_PYTHON, "        flor.log('acc', acc)"), 8);
    CHECK_EQ_INT(log_at(FLOR__LANG_PYTHON, "x = flor.log(\"n\", n) * 2"), 4);
    CHECK_EQ_INT(log_at(FLOR__LANG_PYTHON, "# flor.log('acc', acc)"), -1);
    CHECK_EQ_INT(log_at(FLOR__LANG_PYTHON, "print('flor.log(')"), -1);
    CHECK_EQ_INT(log_at(FLOR__LANG_PYTHON, "myflor.log('x', 1)"), -1);
    CHECK_EQ_INT(log_at(FLOR__LANG_PYTHON, "flor.loop('epoch', r)"), -1);
}

static void test_names_and_ends(void)
{
    char *n = flor__source_log_name("flor_log(\"weight_norm\", norm(w));");
    CHECK_EQ_STR(n, "weight_norm");
    free(n);
    n = flor__source_log_name("flor.log( 'lr' , opt.lr)");
    CHECK_EQ_STR(n, "lr");
    free(n);
    n = flor__source_log_name("flor_log(\"a\\\"b\", 1);");
    CHECK_EQ_STR(n, "a\"b");
    free(n);
    CHECK(flor__source_log_name("flor_log(name, 1);") == NULL);
    /* a statement ends where its brackets balance; literals and comments
     * do not count */
    const char *s1 = "flor_log(\"x\", f(a,\n";
    CHECK_EQ_INT(flor__source_parens(FLOR__LANG_C, s1, strlen(s1)), 2);
    const char *s2 = "  b)); // (\n";
    CHECK_EQ_INT(flor__source_parens(FLOR__LANG_C, s2, strlen(s2)), -2);
    const char *s3 = "flor.log(\"(\", x)  # )\n";
    CHECK_EQ_INT(flor__source_parens(FLOR__LANG_PYTHON, s3, strlen(s3)), 0);
}

static char *loops(flor__lang lang, const char *text, int line)
{
    char *out = (char *)"error";
    if (flor__source_loops(lang, text, strlen(text), line, &out) != 0)
        return (char *)"error";
    return out ? out : (char *)"";
}

static void check_loops(flor__lang lang, const char *text, int line, const char *want)
{
    char *got = loops(lang, text, line);
    CHECK_EQ_STR(got, want);
    if (*got && strcmp(got, "error") != 0)
        free(got);
}

static const char c_program[] =
    "int main(void) {\n"                                /* 1 */
    "    prepare();\n"                                  /* 2 */
    "    FLOR_LOOP(epoch, \"epoch\", 3) {\n"            /* 3 */
    "        /* } a brace in a comment */\n"            /* 4 */
    "        FLOR_LOOP(step, \"step\", 10) {\n"         /* 5 */
    "            train(\"}\");\n"                       /* 6 */
    "        }\n"                                       /* 7 */
    "        evaluate();\n"                             /* 8 */
    "    }\n"                                           /* 9 */
    "    flor_loop l = flor_loop_begin(\"batch\", -1);\n" /* 10 */
    "    while (flor_loop_next(&l, &i)) {\n"            /* 11 */
    "        work();\n"                                 /* 12 */
    "    }\n"                                           /* 13 */
    "    flor_loop_end(&l);\n"                          /* 14 */
    "    FLOR_LOOP(k, \"k\", 2) one(k);\n"              /* 15 */
    "    done();\n"                                     /* 16 */
    "}\n";                                              /* 17 */

static void test_c_loops(void)
{
    check_loops(FLOR__LANG_C, c_program, 2, "");
    check_loops(FLOR__LANG_C, c_program, 4, "epoch");
    check_loops(FLOR__LANG_C, c_program, 6, "epoch/step");
    check_loops(FLOR__LANG_C, c_program, 8, "epoch");
    check_loops(FLOR__LANG_C, c_program, 9, "epoch");
    check_loops(FLOR__LANG_C, c_program, 12, "batch");
    check_loops(FLOR__LANG_C, c_program, 16, "");
}

static const char py_program[] =
    "import flor\n"                                      /* 1 */
    "for epoch in flor.loop('epoch', range(3)):\n"       /* 2 */
    "    model.train()\n"                                /* 3 */
    "    for x, y in flor.loop(\"step\", loader):\n"     /* 4 */
    "        loss = step(x, y)\n"                        /* 5 */
    "\n"                                                 /* 6 */
    "        # still in the step loop\n"                 /* 7 */
    "        opt.step()\n"                               /* 8 */
    "    acc = evaluate()\n"                             /* 9 */
    "    with flor.iteration('eval', None, 0):\n"        /* 10 */
    "        more()\n"                                   /* 11 */
    "print('done')\n";                                   /* 12 */

static void test_python_loops(void)
{
    check_loops(FLOR__LANG_PYTHON, py_program, 1, "");
    check_loops(FLOR__LANG_PYTHON, py_program, 3, "epoch");
    check_loops(FLOR__LANG_PYTHON, py_program, 5, "epoch/step");
    check_loops(FLOR__LANG_PYTHON, py_program, 8, "epoch/step");
    check_loops(FLOR__LANG_PYTHON, py_program, 9, "epoch");
    check_loops(FLOR__LANG_PYTHON, py_program, 11, "epoch/eval");
    check_loops(FLOR__LANG_PYTHON, py_program, 12, "");
}

int main(void)
{
    RUN(test_languages_by_extension);
    RUN(test_c_logging_calls);
    RUN(test_python_logging_calls);
    RUN(test_names_and_ends);
    RUN(test_c_loops);
    RUN(test_python_loops);
    return check_summary();
}
