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

/* every typed spelling flor.h offers, the int64 names included */
static void test_c_typed_logging_calls(void)
{
    CHECK_EQ_INT(log_at(FLOR__LANG_C, "flor_log_int64(\"step\", step);"), 0);
    CHECK_EQ_INT(log_at(FLOR__LANG_C, "  flor_log_long(\"step\", step);"), 2);
    CHECK_EQ_INT(log_at(FLOR__LANG_C, "flor_log_text(\"opt\", name);"), 0);
    CHECK_EQ_INT(log_at(FLOR__LANG_C, "flor_log_int(\"x\", 1);"), -1);
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

/* ---- what a statement needs: the blocks carried with it ---------------- */

static int imports(flor__lang lang, const char *block)
{
    return flor__source_is_imports(lang, block, strlen(block));
}

static int needed(flor__lang lang, const char *block, const char *user)
{
    return flor__source_defines_used(lang, block, strlen(block), user, strlen(user));
}

static void test_include_and_import_blocks(void)
{
    CHECK_EQ_INT(imports(FLOR__LANG_C, "#include <math.h>\n"), 1);
    CHECK_EQ_INT(imports(FLOR__LANG_C, "#include <math.h>\n\n#  include \"norm.h\"\n"), 1);
    CHECK_EQ_INT(imports(FLOR__LANG_C, "\n\n"), 0);
    CHECK_EQ_INT(imports(FLOR__LANG_C, "#include <math.h>\nint x;\n"), 0);
    CHECK_EQ_INT(imports(FLOR__LANG_C, "#define N 3\n"), 0);
    CHECK_EQ_INT(imports(FLOR__LANG_PYTHON, "import math\nfrom torch import nn\n"), 1);
    CHECK_EQ_INT(imports(FLOR__LANG_PYTHON, "    import math\n"), 0); /* inside a block */
    CHECK_EQ_INT(imports(FLOR__LANG_PYTHON, "important = 1\n"), 0);
    CHECK_EQ_INT(imports(FLOR__LANG_NONE, "import math\n"), 0);
}

static void test_blocks_that_define_what_the_statement_uses(void)
{
    const char *stmt = "        flor_log(\"param_norm\", param_norm(w, 3));\n";
    const char *helper = "static double param_norm(const double *w, int n)\n{\n"
                         "    return sqrt(w[0] * w[0]);\n}\n";
    CHECK_EQ_INT(needed(FLOR__LANG_C, helper, stmt), 1);
    CHECK_EQ_INT(needed(FLOR__LANG_C, "static double\nparam_norm(const double *w)\n{ }\n", stmt), 1);
    CHECK_EQ_INT(needed(FLOR__LANG_C, "double param_norm(const double *w);\n", stmt), 1);
    CHECK_EQ_INT(needed(FLOR__LANG_C, "static int calls = 0;\n", "flor_log(\"c\", calls);"), 1);
    /* a name it does not use, a longer name, or an indented line (code in a function) */
    CHECK_EQ_INT(needed(FLOR__LANG_C, "static double norm(const double *w) { }\n", stmt), 0);
    CHECK_EQ_INT(needed(FLOR__LANG_C, "static double param(const double *w) { }\n", stmt), 0);
    CHECK_EQ_INT(needed(FLOR__LANG_C, "    double param_norm = 0;\n", stmt), 0);
    CHECK_EQ_INT(needed(FLOR__LANG_C, "    lr *= 2;\n", stmt), 0);
    CHECK_EQ_INT(needed(FLOR__LANG_C, "/* param_norm(w) */\n", stmt), 0);

    const char *py = "    flor.log('gnorm', grad_norm(model))\n";
    CHECK_EQ_INT(needed(FLOR__LANG_PYTHON, "def grad_norm(m):\n    return 0.0\n", py), 1);
    CHECK_EQ_INT(needed(FLOR__LANG_PYTHON, "async def grad_norm(m):\n    pass\n", py), 1);
    CHECK_EQ_INT(needed(FLOR__LANG_PYTHON, "class grad_norm:\n    pass\n", py), 1);
    /* a top-level assignment is the program's own code, not a helper */
    CHECK_EQ_INT(needed(FLOR__LANG_PYTHON, "grad_norm = lambda m: 0\n", py), 0);
    CHECK_EQ_INT(needed(FLOR__LANG_PYTHON, "def other(m):\n    return grad_norm(m)\n", py), 0);
    CHECK_EQ_INT(needed(FLOR__LANG_PYTHON, "    grad_norm = 1\n", py), 0);
    CHECK_EQ_INT(needed(FLOR__LANG_PYTHON, "grad_norm == 1\n", py), 0);
}

static int guard(flor__lang lang, const char *line)
{
    return flor__source_is_guard(lang, line, strlen(line));
}

/* An `if` alone on the line before a statement is its guard: it and the
 * block it opens go with the statement. */
static void test_guards(void)
{
    CHECK(guard(FLOR__LANG_C, "        if (step % 100 == 0)\n"));
    CHECK(guard(FLOR__LANG_C, "        if (step % 100 == 0) {\n"));
    CHECK(guard(FLOR__LANG_C, "if ((a && b) || f(c))"));
    CHECK(!guard(FLOR__LANG_C, "        if (step % 100 == 0) x = 1;\n"));
    CHECK(!guard(FLOR__LANG_C, "        if (step % 100 == 0 &&\n"));
    CHECK(!guard(FLOR__LANG_C, "        iffy(x)\n"));
    CHECK(!guard(FLOR__LANG_C, "        while (x)\n"));
    CHECK(!guard(FLOR__LANG_C, "        double s = 0;\n"));
    CHECK(!guard(FLOR__LANG_C, ""));
    CHECK(guard(FLOR__LANG_PYTHON, "        if step % 100 == 0:\n"));
    CHECK(!guard(FLOR__LANG_PYTHON, "        if step % 100 == 0: flor.log('x', 1)\n"));
}

/* Whether RUN encloses its line that starts with the text STMT. */
static int encloses(flor__lang lang, const char *run, const char *stmt)
{
    const char *at = strstr(run, stmt);
    return at && flor__source_encloses(lang, run, strlen(run), (size_t)(at - run));
}

/* A run of added lines goes with a statement when, taken whole, it is
 * closed and the statement is nested in a block it opens. */
static void test_runs_that_enclose_a_statement(void)
{
    const char *block = "        if (step % 25 == 0) {\n"
                        "            double g2 = 0;\n"
                        "            for (int k = 0; k < DIM; k++)\n"
                        "                g2 += grad[k] * grad[k];\n"
                        "            flor_log(\"grad_norm\", sqrt(g2));\n"
                        "        }\n";
    CHECK(encloses(FLOR__LANG_C, block, "            flor_log"));
    CHECK(!encloses(FLOR__LANG_C, block, "        if (step")); /* the run's first line */
    CHECK(encloses(FLOR__LANG_C, "double g2 = f(w);\nif (step % 25 == 0) {\n  flor_log(\"g\", g2);\n}\n",
                   "  flor_log"));
    CHECK(encloses(FLOR__LANG_C, "double g2 = f(w);\nif (step % 25 == 0)\n  flor_log(\"g\", g2);\n",
                   "  flor_log"));
    /* not enclosed: the statement is at the run's own level */
    CHECK(!encloses(FLOR__LANG_C, "double g2 = f(w);\nflor_log(\"g\", g2);\n", "flor_log"));
    CHECK(!encloses(FLOR__LANG_C, "{ x(); }\nflor_log(\"g\", 1);\n", "flor_log"));
    /* not closed: a bracket left open, or one closed that the run did not open */
    CHECK(!encloses(FLOR__LANG_C, "if (c) {\n  flor_log(\"g\", 1);\n", "  flor_log"));
    CHECK(!encloses(FLOR__LANG_C, "  flor_log(\"g\", 1);\n}\nif (c) {\n", "  flor_log"));
    CHECK(!encloses(FLOR__LANG_C, "} else {\n  flor_log(\"g\", 1);\n}\n", "  flor_log"));
    /* brackets in comments and literals do not count */
    CHECK(encloses(FLOR__LANG_C, "if (c) { /* } */\n  puts(\"}\");\n  flor_log(\"g\", 1);\n}\n",
                   "  flor_log"));

    const char *py = "        if step % 25 == 0:\n"
                     "            g2 = sum(g * g for g in grad)\n"
                     "\n"
                     "            flor.log('grad_norm', g2 ** 0.5)\n";
    CHECK(encloses(FLOR__LANG_PYTHON, py, "            flor.log"));
    CHECK(encloses(FLOR__LANG_PYTHON, "with torch.no_grad():\n    n = w.norm()\n    flor.log('n', n)\n",
                   "    flor.log"));
    CHECK(!encloses(FLOR__LANG_PYTHON, "n = w.norm()\nflor.log('n', n)\n", "flor.log"));
    /* a line dedented below the first, or a last line that opens a block */
    CHECK(!encloses(FLOR__LANG_PYTHON, "    if c:\n        flor.log('n', 1)\nx = 2\n",
                    "        flor.log"));
    CHECK(!encloses(FLOR__LANG_PYTHON, "if c:\n    flor.log('n', 1)\nelse:\n", "    flor.log"));
    CHECK(!encloses(FLOR__LANG_PYTHON, "if c:\n    flor.log('n', (1,\n", "    flor.log"));
}

int main(void)
{
    RUN(test_languages_by_extension);
    RUN(test_c_logging_calls);
    RUN(test_c_typed_logging_calls);
    RUN(test_python_logging_calls);
    RUN(test_names_and_ends);
    RUN(test_c_loops);
    RUN(test_python_loops);
    RUN(test_include_and_import_blocks);
    RUN(test_blocks_that_define_what_the_statement_uses);
    RUN(test_guards);
    RUN(test_runs_that_enclose_a_statement);
    return check_summary();
}
