/*
 * _flor.c -- the extension module flor._flor: Python's `import flor` over
 * libflor.
 *
 * The run.  A script that imports flor is recorded from its first training
 * call (flor.arg, flor.log, a flor.loop, flor.checkpointing,
 * flor.iteration, flor.commit), as FlorDB does: importing flor to read a
 * dataframe in a notebook, or `python -m flor`, records nothing.  When
 * the command line carries flor's own flags (--kwargs, --flor,
 * --replay_flor, --replay_run, --probe) or FLOR_REPLAY is set, flor_init runs at import
 * instead, so that the flags are out of sys.argv before the script's own
 * argparse sees them.
 *
 * How a run ends.  An atexit hook ends the run with flor_finish_status():
 * `finished` when the script completed normally (sys.exit() included).  A
 * wrapper around sys.excepthook notes an uncaught exception and logs it
 * as `flor.exception`; the run then ends as `failed`, or as `killed` for
 * an uncaught KeyboardInterrupt (SIGINT; CPython re-raises SIGINT once
 * finalized, so the process still dies by it, as a C program would).
 *
 * Errors from libflor become Python exceptions in one place,
 * pyflor_raise().
 */
#include "_flor.h"
#include "cli.h" /* the flor command, linked in for python -m flor */

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UNCAUGHT_NONE 0
#define UNCAUGHT_ERROR 1
#define UNCAUGHT_INTERRUPT 2

static int started;      /* flor_init was called */
static int hooks_set;    /* _start() ran */
static pid_t start_pid;  /* the process that called flor_init */
static volatile int in_forked_child;
static int uncaught = UNCAUGHT_NONE;
static int exiting;      /* the atexit hook ran: the interpreter is going away */
static PyObject *argv_at_import; /* a copy of sys.argv taken by _start() */
static PyObject *previous_excepthook;
static char *replay_why; /* in a replay, the uncaught exception (_skipped.py) */
static PyObject *json_dumps;
static PyObject *str_ndim, *str_item;
static PyObject *NotFoundError;

/* The flor command (cli/main.c), compiled in from cli/ (see python.mk). */
int flor_cli_main(int argc, char **argv);
static PyObject *py_cli(PyObject *self, PyObject *list);

/* ---- errors and warnings ------------------------------------------------ */

PyObject *pyflor_raise(int rc, const char *what)
{
    PyObject *type;
    switch (rc) {
    case FLOR_EINVAL: type = PyExc_ValueError; break;
    case FLOR_ENOMEM: type = PyExc_MemoryError; break;
    case FLOR_EIO: type = PyExc_OSError; break;
    case FLOR_ENOTFOUND: type = NotFoundError; break;
    case FLOR_EBUSY: type = PyExc_TimeoutError; break;
    default: type = PyExc_RuntimeError; break; /* FLOR_EUSAGE, FLOR_ECORRUPT */
    }
    const char *msg = flor_errmsg();
    if (!*msg)
        msg = "unknown error";
    if (what)
        PyErr_Format(type, "%s: %s", what, msg);
    else
        PyErr_SetString(type, msg);
    return NULL;
}

PyObject *pyflor_loaded_module(const char *name)
{
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *m = modules ? PyDict_GetItemString(modules, name) : NULL;
    return m && PyModule_Check(m) ? m : NULL;
}

/* ---- the run's lifecycle ------------------------------------------------- */

static void on_fork_child(void) { in_forked_child = 1; }

int pyflor_libflor_usable(void) { return !in_forked_child && !exiting; }

int pyflor_recording(void)
{
    return started && !in_forked_child && !exiting && flor_enabled();
}

/* True when sys.argv or the environment asks flor for something that
 * must happen before the script parses its own arguments. */
static int flags_given(PyObject *argv)
{
    static const char *const flags[] = {"--kwargs", "--replay_flor", "--replay_run", "--probe",
                                        "--flor"};
    const char *env = getenv("FLOR_REPLAY");
    if (env && *env)
        return 1;
    Py_ssize_t n = PyList_GET_SIZE(argv);
    for (Py_ssize_t i = 1; i < n; i++) {
        PyObject *a = PyList_GET_ITEM(argv, i);
        const char *s = PyUnicode_Check(a) ? PyUnicode_AsUTF8(a) : NULL;
        if (!s) {
            PyErr_Clear();
            continue;
        }
        if (strcmp(s, "--") == 0)
            return 0;
        for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
            if (strcmp(s, flags[k]) == 0)
                return 1;
    }
    return 0;
}

/* A malloc'd C copy of one argv element, in the file-system encoding so
 * that arguments Python decoded with surrogateescape come back intact. */
static char *c_arg(PyObject *a)
{
    PyObject *s = PyUnicode_Check(a) ? Py_NewRef(a) : PyObject_Str(a);
    PyObject *b = s ? PyUnicode_EncodeFSDefault(s) : NULL;
    Py_XDECREF(s);
    if (!b)
        return NULL;
    char *copy = strdup(PyBytes_AS_STRING(b));
    Py_DECREF(b);
    if (!copy)
        PyErr_NoMemory();
    return copy;
}

/* Puts into sys.argv the elements of ARGV (a copy of it) that flor_init
 * left in LEFT[0..nleft), keeping the original str objects. */
static int rewrite_sys_argv(PyObject *argv, char **orig, Py_ssize_t n, char **left, int nleft)
{
    PyObject *sys_argv = PySys_GetObject("argv"); /* borrowed */
    PyObject *keep = PyList_New(0);
    if (!keep)
        return -1;
    for (int k = 0; k < nleft; k++)
        for (Py_ssize_t i = 0; i < n; i++)
            if (left[k] == orig[i] && PyList_Append(keep, PyList_GET_ITEM(argv, i)) < 0) {
                Py_DECREF(keep);
                return -1;
            }
    int rc = 0;
    if (sys_argv && PyList_Check(sys_argv))
        rc = PyList_SetSlice(sys_argv, 0, PyList_GET_SIZE(sys_argv), keep); /* in place */
    else
        rc = PySys_SetObject("argv", keep);
    Py_DECREF(keep);
    return rc;
}

/* Calls flor_init with the command line taken at import; REWRITE: put
 * what flor_init leaves back into sys.argv. */
static int start_run(int rewrite)
{
    started = 1;
    start_pid = getpid();
    pthread_atfork(NULL, NULL, on_fork_child);
    Py_ssize_t n = argv_at_import ? PyList_GET_SIZE(argv_at_import) : 0;
    char **orig = calloc((size_t)n + 1, sizeof *orig);
    char **argv = calloc((size_t)n + 1, sizeof *argv);
    int rc = 0, status = 0;
    if (!orig || !argv) {
        PyErr_NoMemory();
        status = -1;
    }
    for (Py_ssize_t i = 0; i < n && status == 0; i++)
        if (!(orig[i] = argv[i] = c_arg(PyList_GET_ITEM(argv_at_import, i))))
            status = -1;
    if (status == 0) {
        int argc = (int)n;
        char **av = argv;
        rc = flor_init(&argc, &av);
        if (rewrite && argc != n)
            status = rewrite_sys_argv(argv_at_import, orig, n, av, argc);
    }
    for (Py_ssize_t i = 0; orig && i < n; i++)
        free(orig[i]);
    free(orig);
    free(argv);
    if (status == 0 && rc == FLOR_EINVAL) {
        /* a malformed flag: the script must not run on defaults.  As
         * argparse does: one line on stderr and exit status 2 */
        PySys_FormatStderr("flor: %s\n", flor_errmsg());
        PyObject *code = PyLong_FromLong(2);
        if (code) {
            PyErr_SetObject(PyExc_SystemExit, code);
            Py_DECREF(code);
        }
        status = -1;
    } else if (status == 0 && rc != 0) {
        flor_warn("this run is not recorded: %s", flor_errmsg());
    }
    return status;
}

int pyflor_ensure_started(void)
{
    if (started || in_forked_child)
        return 0;
    return start_run(0);
}

/* Whether flor is imported by `python -m flor` on its way to running the
 * flor command (sys.argv[0] is "-m" while runpy finds flor.__main__): its
 * options (`flor replay NAME --probe LOOP`) are the command's, and it
 * records nothing. */
static bool is_flor_command(PyObject *argv)
{
    PyObject *a0 = PyList_GET_SIZE(argv) > 0 ? PyList_GET_ITEM(argv, 0) : NULL;
    PyObject *orig = PySys_GetObject("orig_argv"); /* borrowed */
    if (!a0 || !PyUnicode_Check(a0) || PyUnicode_CompareWithASCIIString(a0, "-m") != 0 ||
        !orig || !PyList_Check(orig))
        return false;
    for (Py_ssize_t i = 1; i + 1 < PyList_GET_SIZE(orig); i++) {
        PyObject *m = PyList_GET_ITEM(orig, i), *mod = PyList_GET_ITEM(orig, i + 1);
        if (PyUnicode_Check(m) && PyUnicode_CompareWithASCIIString(m, "-m") == 0)
            return PyUnicode_Check(mod) && PyUnicode_CompareWithASCIIString(mod, "flor") == 0;
    }
    return false;
}

/* _start(): called once by flor/__init__.py. */
static PyObject *py_start(PyObject *self, PyObject *noargs)
{
    if (hooks_set)
        Py_RETURN_NONE;
    hooks_set = 1;
    PyObject *sys_argv = PySys_GetObject("argv");
    argv_at_import = sys_argv && PyList_Check(sys_argv) ? PyList_GetSlice(sys_argv, 0,
                                                                          PyList_GET_SIZE(sys_argv))
                                                        : PyList_New(0);
    if (!argv_at_import)
        return NULL;
    PyObject *hook = PySys_GetObject("excepthook");
    previous_excepthook = Py_XNewRef(hook);
    PyObject *mine = PyObject_GetAttrString(self, "_excepthook");
    if (!mine || PySys_SetObject("excepthook", mine) < 0) {
        Py_XDECREF(mine);
        return NULL;
    }
    Py_DECREF(mine);
    PyObject *atexit = PyImport_ImportModule("atexit");
    PyObject *fn = PyObject_GetAttrString(self, "_atexit");
    PyObject *r = atexit && fn ? PyObject_CallMethod(atexit, "register", "O", fn) : NULL;
    Py_XDECREF(atexit);
    Py_XDECREF(fn);
    if (!r)
        return NULL;
    Py_DECREF(r);
    if (!is_flor_command(argv_at_import) && flags_given(argv_at_import) && start_run(1) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* flor.exception: "ValueError: message", or the type alone. */
static void log_exception(PyTypeObject *type, PyObject *value)
{
    PyObject *msg = value ? PyObject_Str(value) : NULL;
    PyObject *text = msg && PyUnicode_GET_LENGTH(msg) > 0
                         ? PyUnicode_FromFormat("%s: %U", type->tp_name, msg)
                         : PyUnicode_FromString(type->tp_name);
    const char *s = text ? PyUnicode_AsUTF8(text) : NULL;
    if (s)
        flor_log_text("flor.exception", s);
    Py_XDECREF(msg);
    Py_XDECREF(text);
    PyErr_Clear();
}

/* In a replay, the uncaught exception ARGS (type, value, traceback) as the
 * replay's error, with the hint of flor._skipped when a value is missing
 * because the replay skipped the loop that computes it. */
static void note_replay_error(PyObject *const *args)
{
    PyObject *mod = PyImport_ImportModule("flor._skipped");
    PyObject *text = mod ? PyObject_CallMethod(mod, "replay_error", "OOOO", args[0], args[1],
                                               args[2], argv_at_import ? argv_at_import : Py_None)
                         : NULL;
    const char *s = text && PyUnicode_Check(text) ? PyUnicode_AsUTF8(text) : NULL;
    if (s) {
        free(replay_why);
        replay_why = strdup(s);
    }
    Py_XDECREF(text);
    Py_XDECREF(mod);
    PyErr_Clear();
}

/* sys.excepthook while flor is imported: notes the uncaught exception,
 * logs it, and hands it to the previous hook, which prints it. */
static PyObject *py_excepthook(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs == 3 && PyType_Check(args[0])) {
        int interrupt = PyObject_IsSubclass(args[0], PyExc_KeyboardInterrupt) == 1;
        uncaught = interrupt ? UNCAUGHT_INTERRUPT : UNCAUGHT_ERROR;
        if (pyflor_recording())
            log_exception((PyTypeObject *)args[0], args[1]);
        if (!interrupt && flor_run_mode() == FLOR_MODE_REPLAY)
            note_replay_error(args);
    }
    PyObject *hook = previous_excepthook ? previous_excepthook : PySys_GetObject("__excepthook__");
    if (!hook)
        Py_RETURN_NONE;
    return PyObject_Vectorcall(hook, args, (size_t)nargs, NULL);
}

/* atexit: ends the run when the script completed. */
static PyObject *py_atexit(PyObject *self, PyObject *noargs)
{
    exiting = 1; /* objects torn down from here on touch no state */
    if (!started || in_forked_child || getpid() != start_pid)
        Py_RETURN_NONE;
    flor_run_status status = uncaught == UNCAUGHT_ERROR       ? FLOR_RUN_FAILED
                             : uncaught == UNCAUGHT_INTERRUPT ? FLOR_RUN_KILLED
                                                              : FLOR_RUN_FINISHED;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = flor_finish_error(status, status == FLOR_RUN_FAILED ? replay_why : NULL);
    Py_END_ALLOW_THREADS
    if (rc)
        flor_warn("%s", flor_errmsg());
    if (rc && rc != FLOR_EINVAL) {
        /* records were lost (libflor said so on stderr): the exit status
         * must not be 0, whatever the script's was.  An atexit handler
         * cannot change it, so flush Python's streams and leave now. */
        const char *streams[] = {"stdout", "stderr"};
        for (int i = 0; i < 2; i++) {
            PyObject *f = PySys_GetObject(streams[i]);
            PyObject *r = f ? PyObject_CallMethod(f, "flush", NULL) : NULL;
            Py_XDECREF(r);
            PyErr_Clear();
        }
        fflush(NULL);
        _exit(1);
    }
    Py_RETURN_NONE;
}

/* _end_run(status, exc=None): ends the run this process is recording, if
 * any, with STATUS (0 finished, 1 failed, 2 killed), after logging the
 * exception EXC as flor.exception, so that the next training call starts
 * another run (a notebook's next cell, see _notebook.py).  Returns True
 * when a run was recorded and ended. */
static PyObject *py_end_run(PyObject *self, PyObject *args)
{
    int status;
    PyObject *exc = Py_None;
    if (!PyArg_ParseTuple(args, "i|O:_end_run", &status, &exc))
        return NULL;
    if (!started || in_forked_child || exiting || getpid() != start_pid)
        Py_RETURN_FALSE;
    int recording = flor_enabled() && flor_run_mode() == FLOR_MODE_RECORD;
    if (!recording)
        Py_RETURN_FALSE; /* a replay, FLOR_MODE=off, or a run that could not start */
    if (exc != Py_None)
        log_exception(Py_TYPE(exc), exc);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = flor_finish_status((flor_run_status)status);
    Py_END_ALLOW_THREADS
    started = 0;
    uncaught = UNCAUGHT_NONE;
    if (rc && rc != FLOR_EINVAL)
        return pyflor_raise(rc, "flor: the run did not end cleanly");
    if (rc)
        flor_warn("%s", flor_errmsg());
    Py_RETURN_TRUE;
}

/* _program(argv): the command line the next run records in place of
 * sys.argv's (a notebook's runs are named after the notebook). */
static PyObject *py_program(PyObject *self, PyObject *list)
{
    if (!PyList_Check(list))
        return PyErr_Format(PyExc_TypeError, "_program: expected a list of str");
    PyObject *copy = PyList_GetSlice(list, 0, PyList_GET_SIZE(list));
    if (!copy)
        return NULL;
    Py_XSETREF(argv_at_import, copy);
    Py_RETURN_NONE;
}

/* ---- flor.arg ------------------------------------------------------------ */

/* A --kwargs value that does not parse ends the script as argparse does:
 * "flor: --kwargs NAME=VALUE: expected ..." on stderr and SystemExit(2),
 * before training on a default the user did not ask for; the run ends as
 * failed with that reason.  Other errors raise as usual. */
static PyObject *arg_error(int rc)
{
    const char *msg = flor_errmsg();
    if (rc != FLOR_EINVAL || strncmp(msg, "--kwargs ", 9) != 0)
        return pyflor_raise(rc, NULL);
    PySys_FormatStderr("flor: %s\n", msg);
    flor_run_fail(msg);
    PyObject *code = PyLong_FromLong(2);
    if (code) {
        PyErr_SetObject(PyExc_SystemExit, code);
        Py_DECREF(code);
    }
    return NULL;
}

static PyObject *arg_int(const char *name, PyObject *dflt)
{
    int overflow;
    long d = PyLong_AsLongAndOverflow(dflt, &overflow);
    if (d == -1 && PyErr_Occurred())
        return NULL;
    if (overflow)
        return PyErr_Format(PyExc_OverflowError, "flor.arg('%s'): the default does not fit in "
                                                 "64 bits", name);
    long v;
    int rc = flor_arg_long(name, d, &v);
    return rc ? arg_error(rc) : PyLong_FromLong(v);
}

static PyObject *arg_text(const char *name, PyObject *dflt)
{
    const char *d = NULL, *v;
    if (dflt != Py_None && !(d = PyUnicode_AsUTF8(dflt)))
        return NULL;
    int rc = flor_arg_text(name, d, &v);
    if (rc)
        return pyflor_raise(rc, NULL);
    if (!v)
        Py_RETURN_NONE;
    return PyUnicode_DecodeFSDefault(v);
}

static PyObject *py_arg(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"name", "default", NULL};
    PyObject *pyname, *dflt = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "U|O:arg", kwlist, &pyname, &dflt))
        return NULL;
    const char *name = PyUnicode_AsUTF8(pyname);
    if (!name || pyflor_ensure_started() < 0)
        return NULL;
    int rc;
    if (PyBool_Check(dflt)) {
        bool v;
        rc = flor_arg_bool(name, dflt == Py_True, &v);
        return rc ? arg_error(rc) : PyBool_FromLong(v);
    }
    if (PyFloat_Check(dflt)) {
        double v;
        rc = flor_arg_double(name, PyFloat_AsDouble(dflt), &v);
        return rc ? arg_error(rc) : PyFloat_FromDouble(v);
    }
    if (PyLong_Check(dflt))
        return arg_int(name, dflt);
    if (PyUnicode_Check(dflt) || dflt == Py_None)
        return arg_text(name, dflt);
    if (PyIndex_Check(dflt)) { /* numpy integers */
        PyObject *i = PyNumber_Index(dflt);
        PyObject *r = i ? arg_int(name, i) : NULL;
        Py_XDECREF(i);
        return r;
    }
    return PyErr_Format(PyExc_TypeError, "flor.arg('%s'): the default must be an int, float, "
                                         "str, bool or None, not %.100s",
                        name, Py_TYPE(dflt)->tp_name);
}

/* ---- flor.log ------------------------------------------------------------ */

static int log_text_of(const char *name, PyObject *text)
{
    const char *s = text ? PyUnicode_AsUTF8(text) : NULL;
    if (!s)
        return -1;
    int rc = flor_log_text(name, s);
    return rc ? (pyflor_raise(rc, NULL), -1) : 0;
}

static int log_integer(const char *name, PyObject *v)
{
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred())
        return -1;
    if (overflow) { /* beyond 64 bits: its digits, as text */
        PyObject *s = PyObject_Str(v);
        int rc = log_text_of(name, s);
        Py_XDECREF(s);
        return rc;
    }
    int rc = flor_log_long(name, x);
    return rc ? (pyflor_raise(rc, NULL), -1) : 0;
}

/* JSON when it has one (lists, dicts), else str(). */
static int log_json(const char *name, PyObject *v)
{
    if (!json_dumps) {
        PyObject *json = PyImport_ImportModule("json");
        json_dumps = json ? PyObject_GetAttrString(json, "dumps") : NULL;
        Py_XDECREF(json);
        if (!json_dumps)
            return -1;
    }
    PyObject *text = PyObject_CallOneArg(json_dumps, v);
    if (!text) {
        PyErr_Clear();
        text = PyObject_Str(v);
    }
    int rc = log_text_of(name, text);
    Py_XDECREF(text);
    return rc;
}

/* A numpy scalar, a 0-d array or a 0-d tensor: something whose .item() is
 * a plain Python number. */
PyObject *pyflor_scalar_item(PyObject *v)
{
    PyObject *ndim = PyObject_GetAttr(v, str_ndim);
    if (!ndim) {
        PyErr_Clear();
        return NULL;
    }
    long d = PyLong_Check(ndim) ? PyLong_AsLong(ndim) : -1;
    Py_DECREF(ndim);
    if (d != 0) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *item = PyObject_CallMethodNoArgs(v, str_item);
    if (!item)
        PyErr_Clear();
    return item;
}

int pyflor_log_value(const char *name, PyObject *v)
{
    int rc;
    if (PyFloat_CheckExact(v))
        rc = flor_log_double(name, PyFloat_AS_DOUBLE(v));
    else if (PyLong_Check(v)) /* bool included: 0 or 1 */
        return log_integer(name, v);
    else if (PyUnicode_Check(v))
        return log_text_of(name, v);
    else if (v == Py_None)
        rc = flor_log_text(name, NULL);
    else if (PyFloat_Check(v)) /* numpy.float64 */
        rc = flor_log_double(name, PyFloat_AsDouble(v));
    else {
        PyObject *item = pyflor_scalar_item(v);
        if (item && (PyFloat_Check(item) || PyLong_Check(item))) {
            rc = pyflor_log_value(name, item);
            Py_DECREF(item);
            return rc;
        }
        Py_XDECREF(item);
        return log_json(name, v);
    }
    return rc ? (pyflor_raise(rc, NULL), -1) : 0;
}

static PyObject *py_log(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2)
        return PyErr_Format(PyExc_TypeError, "flor.log(name, value) takes 2 arguments (%zd given)",
                            nargs);
    if (!PyUnicode_Check(args[0]))
        return PyErr_Format(PyExc_TypeError, "flor.log: the name must be a str, not %.100s",
                            Py_TYPE(args[0])->tp_name);
    if (!started && pyflor_ensure_started() < 0)
        return NULL;
    if (!in_forked_child) {
        const char *name = PyUnicode_AsUTF8(args[0]);
        if (!name || pyflor_log_value(name, args[1]) < 0)
            return NULL;
    }
    return Py_NewRef(args[1]);
}

/* ---- flor.commit --------------------------------------------------------- */

static PyObject *py_commit(PyObject *self, PyObject *noargs)
{
    if (pyflor_ensure_started() < 0)
        return NULL;
    if (!pyflor_recording())
        Py_RETURN_NONE;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = flor_flush();
    Py_END_ALLOW_THREADS
    return rc ? pyflor_raise(rc, "flor.commit") : Py_NewRef(Py_None);
}

/* ---- the read side: tables as pandas DataFrames ------------------------- */

enum { COL_INT, COL_REAL, COL_OBJECT };

/* int64 when every cell is an integer, float64 when they are numbers
 * (NULL as NaN), object otherwise (NULL as None). */
static int column_kind(const flor_table *t, size_t c)
{
    size_t nrows = flor_table_nrows(t);
    int ints = 0, reals = 0, nulls = 0;
    for (size_t r = 0; r < nrows; r++) {
        switch (flor_table_type(t, r, c)) {
        case FLOR_INTEGER: ints = 1; break;
        case FLOR_REAL: reals = 1; break;
        case FLOR_NULL: nulls = 1; break;
        default: return COL_OBJECT;
        }
    }
    if (!ints && !reals)
        return COL_OBJECT;
    return reals || nulls ? COL_REAL : COL_INT;
}

static PyObject *cell(const flor_table *t, size_t r, size_t c, int kind)
{
    flor_type type = flor_table_type(t, r, c);
    if (kind == COL_REAL)
        return PyFloat_FromDouble(type == FLOR_INTEGER ? (double)flor_table_int(t, r, c)
                                  : type == FLOR_REAL  ? flor_table_real(t, r, c)
                                                       : Py_NAN);
    switch (type) {
    case FLOR_INTEGER: return PyLong_FromLongLong(flor_table_int(t, r, c));
    case FLOR_REAL: return PyFloat_FromDouble(flor_table_real(t, r, c));
    case FLOR_TEXT: return PyUnicode_DecodeUTF8(flor_table_text(t, r, c),
                                                (Py_ssize_t)strlen(flor_table_text(t, r, c)),
                                                "replace");
    default: return Py_NewRef(Py_None);
    }
}

static PyObject *column_list(const flor_table *t, size_t c, int kind)
{
    size_t nrows = flor_table_nrows(t);
    PyObject *list = PyList_New((Py_ssize_t)nrows);
    for (size_t r = 0; list && r < nrows; r++) {
        PyObject *v = cell(t, r, c, kind);
        if (!v) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)r, v);
    }
    return list;
}

static PyObject *column_names(const flor_table *t)
{
    size_t ncols = flor_table_ncols(t);
    PyObject *names = PyList_New((Py_ssize_t)ncols);
    for (size_t c = 0; names && c < ncols; c++) {
        PyObject *s = PyUnicode_FromString(flor_table_colname(t, c));
        if (!s) {
            Py_CLEAR(names);
            break;
        }
        PyList_SET_ITEM(names, (Py_ssize_t)c, s);
    }
    return names;
}

/* Without pandas: a list of dicts, one per row. */
static PyObject *table_records(const flor_table *t)
{
    size_t nrows = flor_table_nrows(t), ncols = flor_table_ncols(t);
    PyObject *rows = PyList_New(0);
    for (size_t r = 0; rows && r < nrows; r++) {
        PyObject *row = PyDict_New();
        for (size_t c = 0; row && c < ncols; c++) {
            PyObject *v = cell(t, r, c, COL_OBJECT);
            if (!v || PyDict_SetItemString(row, flor_table_colname(t, c), v) < 0)
                Py_CLEAR(row);
            Py_XDECREF(v);
        }
        if (!row || PyList_Append(rows, row) < 0)
            Py_CLEAR(rows);
        Py_XDECREF(row);
    }
    return rows;
}

static PyObject *table_frame(PyObject *pandas, const flor_table *t)
{
    static const char *const dtypes[] = {"int64", "float64", "object"};
    size_t ncols = flor_table_ncols(t);
    PyObject *series = PyObject_GetAttrString(pandas, "Series");
    PyObject *columns = PyDict_New(), *names = column_names(t), *frame = NULL;
    int ok = series && columns && names;
    for (size_t c = 0; ok && c < ncols; c++) {
        int kind = column_kind(t, c);
        PyObject *values = column_list(t, c, kind);
        PyObject *args = values ? PyTuple_Pack(1, values) : NULL;
        PyObject *kw = args ? Py_BuildValue("{ss}", "dtype", dtypes[kind]) : NULL;
        PyObject *s = kw ? PyObject_Call(series, args, kw) : NULL;
        Py_XDECREF(args);
        Py_XDECREF(kw);
        PyObject *key = PyLong_FromSize_t(c);
        ok = s && key && PyDict_SetItem(columns, key, s) == 0;
        Py_XDECREF(values);
        Py_XDECREF(s);
        Py_XDECREF(key);
    }
    if (ok) /* keyed by position, then named: names may repeat in SQL */
        frame = PyObject_CallMethod(pandas, "DataFrame", "O", columns);
    if (frame && PyObject_SetAttrString(frame, "columns", names) < 0)
        Py_CLEAR(frame);
    Py_XDECREF(series);
    Py_XDECREF(columns);
    Py_XDECREF(names);
    return frame;
}

static PyObject *table_to_python(flor_table *t)
{
    PyObject *pandas = PyImport_ImportModule("pandas");
    PyObject *r;
    if (!pandas && PyErr_ExceptionMatches(PyExc_ImportError)) {
        PyErr_Clear();
        r = table_records(t);
    } else {
        r = pandas ? table_frame(pandas, t) : NULL;
    }
    Py_XDECREF(pandas);
    flor_table_free(t);
    return r;
}

/* So that a script reading its own project sees its own logs. */
static void flush_own_logs(void)
{
    if (pyflor_recording() && flor_get_mode() == FLOR_MODE_RECORD) {
        Py_BEGIN_ALLOW_THREADS
        flor_flush(); /* from another thread it refuses, harmlessly */
        Py_END_ALLOW_THREADS
    }
}

typedef int (*table_getter)(flor_project *p, const void *arg, flor_table **out);

/* Opens the project around the working directory and gets one table
 * into *OUT, without the GIL.  0, or -1 with an exception set. */
static int fetch_table_of(table_getter get, const void *arg, const char *what, int local,
                          flor_table **out)
{
    flush_own_logs();
    flor_project *p = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = flor_project_open(&p, NULL);
    if (rc == 0 && !local) {
        /* the team's runs when the project has a team database */
        flor_project *team = NULL;
        int trc = flor_project_team_open(p, &team);
        if (trc == 0) {
            flor_project_free(p);
            p = team;
        } else if (trc != FLOR_ENOTFOUND) {
            rc = trc;
        }
    }
    if (rc == 0)
        rc = get(p, arg, out);
    flor_project_free(p);
    Py_END_ALLOW_THREADS
    if (rc) {
        pyflor_raise(rc, what);
        return -1;
    }
    return 0;
}

/* This checkout's project only. */
static int fetch_table(table_getter get, const void *arg, const char *what, flor_table **out)
{
    return fetch_table_of(get, arg, what, 1, out);
}

static PyObject *project_table(table_getter get, const void *arg, const char *what, int local)
{
    flor_table *t = NULL;
    return fetch_table_of(get, arg, what, local, &t) < 0 ? NULL : table_to_python(t);
}

/* The keyword local=BOOL of flor.dataframe / flor.query (WHO) into *LOCAL;
 * any other keyword is a TypeError.  0, or -1 with the exception set. */
static int local_keyword(PyObject *kwargs, const char *who, int *local)
{
    *local = 0;
    if (!kwargs)
        return 0;
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(kwargs, &pos, &key, &value)) {
        if (!PyUnicode_Check(key) || PyUnicode_CompareWithASCIIString(key, "local") != 0) {
            PyErr_Format(PyExc_TypeError, "%s: unexpected keyword argument '%S'", who, key);
            return -1;
        }
        int v = PyObject_IsTrue(value);
        if (v < 0)
            return -1;
        *local = v;
    }
    return 0;
}

struct names {
    const char **v;
    size_t n;
};

static int get_dataframe(flor_project *p, const void *arg, flor_table **out)
{
    const struct names *names = arg;
    return flor_project_dataframe(p, names->v, names->n, out);
}

static int get_query(flor_project *p, const void *sql, flor_table **out)
{
    return flor_project_query(p, sql, out);
}

static PyObject *py_dataframe(PyObject *self, PyObject *args, PyObject *kwargs)
{
    int local;
    if (local_keyword(kwargs, "flor.dataframe", &local) < 0)
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    struct names names = {PyMem_Calloc((size_t)n + 1, sizeof(char *)), (size_t)n};
    if (!names.v)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *a = PyTuple_GET_ITEM(args, i);
        if (!PyUnicode_Check(a) || !(names.v[i] = PyUnicode_AsUTF8(a))) {
            PyMem_Free(names.v);
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_TypeError, "flor.dataframe: names must be str, not %.100s",
                             Py_TYPE(a)->tp_name);
            return NULL;
        }
    }
    PyObject *r = project_table(get_dataframe, &names, NULL, local);
    PyMem_Free(names.v);
    return r;
}

static PyObject *py_query(PyObject *self, PyObject *args, PyObject *kwargs)
{
    int local;
    if (local_keyword(kwargs, "flor.query", &local) < 0)
        return NULL;
    if (PyTuple_GET_SIZE(args) != 1) {
        PyErr_Format(PyExc_TypeError, "flor.query: expected one SQL statement, got %zd arguments",
                     PyTuple_GET_SIZE(args));
        return NULL;
    }
    PyObject *arg = PyTuple_GET_ITEM(args, 0);
    const char *sql = PyUnicode_Check(arg) ? PyUnicode_AsUTF8(arg) : NULL;
    if (!sql) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "flor.query: the SQL must be a str, not %.100s",
                         Py_TYPE(arg)->tp_name);
        return NULL;
    }
    return project_table(get_query, sql, NULL, local);
}

static int get_programs(flor_project *p, const void *arg, flor_table **out)
{
    return flor_project_programs(p, out);
}

/* The programs to replay: the recorded argv[0] of the latest run of each
 * script (file name) in the project, as a list of str. */
static PyObject *replay_scripts(void)
{
    flor_table *t = NULL;
    if (fetch_table(get_programs, NULL, "flor.replay", &t) < 0)
        return NULL;
    PyObject *list = PyList_New(0);
    for (size_t r = 0; list && r < flor_table_nrows(t); r++) {
        PyObject *s = flor_table_type(t, r, 0) == FLOR_TEXT
                          ? PyUnicode_DecodeFSDefault(flor_table_text(t, r, 0))
                          : NULL;
        if (!s || PyList_Append(list, s) < 0)
            Py_CLEAR(list);
        Py_XDECREF(s);
    }
    flor_table_free(t);
    if (list && PyList_GET_SIZE(list) == 0) {
        Py_DECREF(list);
        return PyErr_Format(NotFoundError, "flor.replay: the project has no runs to replay");
    }
    return list;
}

/* What one launch (flor.h, "Replay orchestration") came to. */
struct launch {
    int status;      /* the exit status `flor replay` would have: 0, 1, 2 (usage) */
    int signal;      /* the signal that interrupted it, or 0 */
    char error[512]; /* flor_errmsg() of a launch that could not run */
    int notfound;    /* that error was FLOR_ENOTFOUND: nothing to replay */
    flor_project *p; /* kept until its runs are read (launch_release) */
    flor_replay *r;
};

/* Runs the launch of options O in the project around the working
 * directory, without the GIL; its progress and report go to stderr. */
static void launch_replay(const flor_replay_options *o, struct launch *out)
{
    int rc = flor_project_open(&out->p, NULL);
    if (!rc && (rc = flor_replay_new(out->p, o, &out->r)) != 0)
        out->status = 2;
    if (!rc && (rc = flor_replay_run(out->r)) == 0)
        out->status = flor_replay_report(out->r) ? 1 : 0;
    if (rc) {
        out->status = out->status ? out->status : 1;
        out->notfound = rc == FLOR_ENOTFOUND;
        snprintf(out->error, sizeof out->error, "%s", flor_errmsg());
    }
    out->signal = flor_replay_signal(out->r);
}

static void launch_release(struct launch *l)
{
    Py_BEGIN_ALLOW_THREADS /* removes the work area */
    flor_replay_free(l->r);
    flor_project_free(l->p);
    Py_END_ALLOW_THREADS
}

/* Replays the runs of SCRIPT with the interpreter EXE, as `flor replay
 * VARS [--where WHERE] [--probe PROBE]... -- EXE SCRIPT` does.  What it did, as a dict:
 * program, runs (flor_replay_runs' rows, a list of dicts; None when the
 * launch could not run), error (why it could not; None), notfound (that
 * error means there was nothing to replay); NULL with an exception. */
static PyObject *replay_script(const struct names *vars, const char *where,
                               const struct names *probes, PyObject *exe, PyObject *script,
                               const char *slurm)
{
    char *cmd[2] = {c_arg(exe), c_arg(script)};
    struct launch l = {0};
    /* on Slurm: sbatch's options, split at blanks as --slurm= splits them */
    char *options = slurm ? strdup(slurm) : NULL;
    char **words = slurm ? calloc(strlen(slurm) / 2 + 2, sizeof *words) : NULL;
    if (slurm && (!options || !words)) {
        free(cmd[0]);
        cmd[0] = NULL;
        PyErr_NoMemory();
    }
    if (cmd[0] && cmd[1]) {
        flor_replay_options o = {.cmd = cmd, .ncmd = 2, .names = vars->v, .nnames = vars->n,
                                 .where = where, .probes = probes->v, .nprobes = probes->n,
                                 .progress = stderr, .slurm = slurm != NULL, .sbatch = words,
                                 .nsbatch = options ? cli_sbatch_words(options, words) : 0};
        PyObject *r = PyObject_CallMethod(PySys_GetObject("stdout"), "flush", NULL);
        Py_XDECREF(r);
        PyErr_Clear();
        Py_BEGIN_ALLOW_THREADS
        launch_replay(&o, &l);
        Py_END_ALLOW_THREADS
    }
    const flor_table *t = flor_replay_runs(l.r);
    PyObject *runs = t ? table_records(t) : Py_NewRef(Py_None);
    launch_release(&l);
    free(options);
    free(words);
    free(cmd[0]);
    free(cmd[1]);
    if (!cmd[0] || !cmd[1] || !runs)
        return Py_XDECREF(runs), NULL;
    if (l.signal > 0) { /* as the signal would have ended the command: Ctrl-C raises */
        raise(l.signal);
        if (PyErr_CheckSignals() < 0)
            return Py_DECREF(runs), NULL;
    }
    PyObject *error = runs != Py_None ? Py_NewRef(Py_None)
                      : *l.error      ? PyUnicode_FromFormat("`flor replay ... -- %U %U` exited "
                                                             "with status %d: %s",
                                                             exe, script, l.status, l.error)
                                      : PyUnicode_FromFormat("`flor replay ... -- %U %U` exited "
                                                             "with status %d (its message is on "
                                                             "stderr)",
                                                             exe, script, l.status);
    PyObject *d = error ? Py_BuildValue("{sOsOsOsO}", "program", script, "runs", runs, "error",
                                        error, "notfound", l.notfound ? Py_True : Py_False)
                        : NULL;
    Py_DECREF(runs);
    Py_XDECREF(error);
    return d;
}

/* replay_every's value as a new string "N" or "N:R" (an int N, or a
 * str), or NULL with an exception. */
static char *every_arg(PyObject *every)
{
    PyObject *str;
    if (PyLong_Check(every) && !PyBool_Check(every))
        str = PyObject_Str(every);
    else if (PyUnicode_Check(every))
        str = Py_NewRef(every);
    else
        return PyErr_Format(PyExc_TypeError, "flor.replay: replay_every must be a period N "
                                             "(int) or 'N:R' (str), not %.100s",
                            Py_TYPE(every)->tp_name), NULL;
    if (!str)
        return NULL;
    char *spec = c_arg(str);
    if (spec && !cli_replay_every_valid(spec)) {
        PyErr_Format(PyExc_ValueError, "flor.replay: replay_every %R: expected N or 'N:R', whole "
                                       "numbers with N >= 1 and R < N", str);
        free(spec);
        spec = NULL;
    }
    Py_DECREF(str);
    return spec;
}

/* FLOR_REPLAY_EVERY, which the replayed programs read, set to SPEC (NULL:
 * left as it is) for the time of a replay; *SAVED keeps its value before
 * (restore_every puts it back). */
static void set_every(const char *spec, char **saved, bool *had)
{
    const char *old = getenv("FLOR_REPLAY_EVERY");
    *had = old != NULL;
    *saved = old ? strdup(old) : NULL;
    if (spec)
        setenv("FLOR_REPLAY_EVERY", spec, 1);
}

static void restore_every(const char *spec, char *saved, bool had)
{
    if (spec && had && saved)
        setenv("FLOR_REPLAY_EVERY", saved, 1);
    else if (spec && !had)
        unsetenv("FLOR_REPLAY_EVERY");
    free(saved);
}

/* _replay(vars, where, replay_every, python, probes, slurm): what flor.replay
 * (_replay.py) runs.  For each script the project recorded, replays its
 * runs (WHERE selects them) in their own code versions with the
 * statements logging VARS carried in, through the library's launcher, as
 * the command
 *   flor replay VAR... [--where WHERE] [--probe PROBES] [--replay_every N[:R]]
 *               -- PYTHON SCRIPT
 * does (its progress and report on stderr); PROBES is "LOOP,LOOP..." or
 * None; SLURM, when not None, runs the segments as one Slurm job array,
 * with those sbatch options, as --slurm=SLURM.  Returns a list with one
 * dict per script (see replay_script). */
static PyObject *py_replay(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"vars", "where", "replay_every", "python", "probes", "slurm", NULL};
    PyObject *vars, *where = Py_None, *every = Py_None, *exe;
    const char *probe = NULL; /* "LOOP,LOOP...", as --probe takes them */
    const char *slurm = NULL; /* sbatch's options, or NULL: here */
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOUz|z:replay", kwlist, &vars, &where,
                                     &every, &exe, &probe, &slurm))
        return NULL;
    struct names probes = {&probe, probe ? 1 : 0};
    PyObject *names = PyUnicode_Check(vars) ? PyList_New(1) : PySequence_List(vars);
    if (!names) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "flor.replay: vars must be a list of names, not "
                                          "%.100s", Py_TYPE(vars)->tp_name);
        }
        return NULL;
    }
    if (PyUnicode_Check(vars))
        PyList_SET_ITEM(names, 0, Py_NewRef(vars));
    Py_ssize_t n = PyList_GET_SIZE(names);
    if (n == 0)
        PyErr_Format(PyExc_ValueError, "flor.replay: vars is empty: name the values to "
                                             "log, e.g. flor.replay(['grad_norm'])");
    for (Py_ssize_t i = 0; !PyErr_Occurred() && i < n; i++) {
        PyObject *v = PyList_GET_ITEM(names, i);
        if (!PyUnicode_Check(v))
            PyErr_Format(PyExc_TypeError, "flor.replay: vars must be names (str), not %.100s",
                         Py_TYPE(v)->tp_name);
        else if (PyUnicode_GET_LENGTH(v) == 0)
            PyErr_SetString(PyExc_ValueError, "flor.replay: a name in vars is empty");
    }
    if (!PyErr_Occurred() && where != Py_None && !PyUnicode_Check(where))
        PyErr_Format(PyExc_TypeError, "flor.replay: where must be an SQL condition (str) or "
                                      "None, not %.100s", Py_TYPE(where)->tp_name);
    char *spec = !PyErr_Occurred() && every != Py_None ? every_arg(every) : NULL;
    char **cnames = PyErr_Occurred() ? NULL : calloc((size_t)n + 1, sizeof *cnames);
    char *cwhere = cnames && where != Py_None ? c_arg(where) : NULL;
    bool ok = cnames && (where == Py_None || cwhere);
    for (Py_ssize_t i = 0; ok && i < n; i++)
        ok = (cnames[i] = c_arg(PyList_GET_ITEM(names, i))) != NULL;
    if (!PyErr_Occurred() && !ok)
        PyErr_NoMemory();
    if (ok && PyUnicode_GET_LENGTH(exe) == 0) {
        PyErr_SetString(PyExc_ValueError, "flor.replay: python is empty: expected the "
                                          "interpreter that runs the scripts");
        ok = false;
    }
    PyObject *scripts = ok ? replay_scripts() : NULL;
    PyObject *done = scripts ? PyList_New(0) : NULL;
    if (!done)
        Py_CLEAR(scripts);
    char *saved = NULL;
    bool had = false, every_set = scripts != NULL;
    if (every_set)
        set_every(spec, &saved, &had);
    for (Py_ssize_t k = 0; scripts && k < PyList_GET_SIZE(scripts); k++) {
        struct names vnames = {(const char **)cnames, (size_t)n};
        PyObject *one = replay_script(&vnames, cwhere, &probes, exe, PyList_GET_ITEM(scripts, k),
                                      slurm);
        if (!one || PyList_Append(done, one) < 0)
            Py_CLEAR(done);
        Py_XDECREF(one);
        if (!done)
            Py_CLEAR(scripts);
    }
    if (every_set)
        restore_every(spec, saved, had);
    free(spec);
    for (Py_ssize_t i = 0; cnames && i < n; i++)
        free(cnames[i]);
    free(cnames);
    free(cwhere);
    Py_DECREF(names);
    Py_XDECREF(scripts);
    return done;
}

/* ---- python -m flor ------------------------------------------------------ */

/* FLOR_PYTHON, the interpreter `flor replay NAME` runs a recorded .py
 * script with, is this one (sys.executable) while the command runs,
 * unless it is set: *SET says whether it was set here. */
static void python_for_replays(bool *set)
{
    const char *given = getenv("FLOR_PYTHON");
    PyObject *exe = PySys_GetObject("executable"); /* borrowed */
    const char *path = exe && PyUnicode_Check(exe) ? PyUnicode_AsUTF8(exe) : NULL;
    PyErr_Clear();
    *set = (!given || !*given) && path && *path && setenv("FLOR_PYTHON", path, 1) == 0;
}

/* cli(argv): runs the flor command with ARGV (argv[0] first) and returns
 * its exit status.  Its output goes to the process's stdout and stderr. */
static PyObject *py_cli(PyObject *self, PyObject *list)
{
    if (!PyList_Check(list))
        return PyErr_Format(PyExc_TypeError, "cli: expected a list of str");
    Py_ssize_t n = PyList_GET_SIZE(list);
    /* the command may reorder or drop elements of argv (removing its
     * options): the strings are freed through a copy of the pointers */
    char **argv = calloc(2 * ((size_t)n + 1), sizeof *argv);
    char **owned = argv ? argv + n + 1 : NULL;
    int ok = argv != NULL;
    for (Py_ssize_t i = 0; ok && i < n; i++)
        ok = (owned[i] = argv[i] = c_arg(PyList_GET_ITEM(list, i))) != NULL;
    int rc = 0;
    if (ok) {
        PyObject *r = PyObject_CallMethod(PySys_GetObject("stdout"), "flush", NULL);
        Py_XDECREF(r);
        PyErr_Clear();
        bool python_set;
        python_for_replays(&python_set);
        Py_BEGIN_ALLOW_THREADS
        rc = flor_cli_main((int)n, argv);
        fflush(stdout);
        Py_END_ALLOW_THREADS
        if (python_set)
            unsetenv("FLOR_PYTHON");
    }
    for (Py_ssize_t i = 0; argv && i < n; i++)
        free(owned[i]);
    free(argv);
    if (!ok)
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    return PyLong_FromLong(rc);
}

/* ---- the module ---------------------------------------------------------- */

static PyMethodDef methods[] = {
    {"arg", (PyCFunction)(void (*)(void))py_arg, METH_VARARGS | METH_KEYWORDS,
     "arg(name, default=None)\n--\n\n"
     "The hyperparameter NAME: DEFAULT, or the value given on the command line as\n"
     "--kwargs NAME=VALUE, cast to the type of DEFAULT (int, float, str, bool; str\n"
     "when DEFAULT is None).  The value is recorded with the run."},
    {"log", (PyCFunction)(void (*)(void))py_log, METH_FASTCALL,
     "log(name, value)\n--\n\n"
     "Records VALUE under NAME with the current loop context and returns VALUE.\n"
     "ints are stored as integers, floats as reals, str as text; numpy scalars and\n"
     "0-d tensors by their .item(); anything else as its JSON, or its str()."},
    {"loop", (PyCFunction)(void (*)(void))pyflor_loop, METH_FASTCALL,
     "loop(name, iterable)\n--\n\n"
     "Iterates over ITERABLE as the flor loop NAME: logs made inside carry the\n"
     "iteration, and the outermost loop's iteration boundaries take checkpoints."},
    {"_probe", pyflor_probe, METH_O, "_probe(name)\n--\n\nIn a replay, runs the loop NAME instead of skipping it."},
    {"_depth", pyflor_depth, METH_NOARGS, "_depth()\n--\n\nThe number of open flor loops."},
    {"commit", py_commit, METH_NOARGS,
     "commit()\n--\n\nWaits until every log made so far is in the database."},
    {"dataframe", (PyCFunction)(void (*)(void))py_dataframe, METH_VARARGS | METH_KEYWORDS,
     "dataframe(*names, local=False)\n--\n\n"
     "The project's runs as a pandas DataFrame: one row per run with its args and\n"
     "final logs, or with NAMES, their values per loop iteration.  Without pandas,\n"
     "a list of dicts.  With a team database (FLOR_TEAM_DB), the whole team's runs,\n"
     "unless local=True."},
    {"query", (PyCFunction)(void (*)(void))py_query, METH_VARARGS | METH_KEYWORDS,
     "query(sql, local=False)\n--\n\nThe rows of one read-only SQL statement on the project's\n"
     "database: with a team database (FLOR_TEAM_DB), on the whole team's runs, unless\n"
     "local=True."},
    {"_replay", (PyCFunction)(void (*)(void))py_replay, METH_VARARGS | METH_KEYWORDS, NULL},
    {"cli", py_cli, METH_O, "cli(argv)\n--\n\nRuns the flor command; returns its exit status."},
    {"_start", py_start, METH_NOARGS, NULL},
    {"_excepthook", (PyCFunction)(void (*)(void))py_excepthook, METH_FASTCALL, NULL},
    {"_atexit", py_atexit, METH_NOARGS, NULL},
    {"_end_run", py_end_run, METH_VARARGS, NULL},
    {"_program", py_program, METH_O, NULL},
    {"_restore", (PyCFunction)(void (*)(void))pyflor_restore, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "flor._flor",
    "libflor for Python: record training runs (see the package flor).", -1, methods,
    NULL, NULL, NULL, NULL,
};

static int add_type(PyObject *m, const char *name, PyTypeObject *type)
{
    if (PyType_Ready(type) < 0)
        return -1;
    return PyModule_AddObjectRef(m, name, (PyObject *)type);
}

static PyObject *not_found_error(void)
{
    PyObject *bases = PyTuple_Pack(2, PyExc_FileNotFoundError, PyExc_LookupError);
    PyObject *e = bases ? PyErr_NewExceptionWithDoc(
                              "flor.NotFoundError",
                              "No such project, run, name or object (FLOR_ENOTFOUND).", bases,
                              NULL)
                        : NULL;
    Py_XDECREF(bases);
    return e;
}

PyMODINIT_FUNC PyInit__flor(void)
{
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    str_ndim = PyUnicode_InternFromString("ndim");
    str_item = PyUnicode_InternFromString("item");
    NotFoundError = not_found_error();
    if (!str_ndim || !str_item || !NotFoundError ||
        PyModule_AddObjectRef(m, "NotFoundError", NotFoundError) < 0 ||
        add_type(m, "checkpointing", &pyflor_CheckpointingType) < 0 ||
        add_type(m, "iteration", &pyflor_IterationType) < 0 ||
        add_type(m, "Loop", &pyflor_LoopType) < 0 ||
        PyModule_AddStringConstant(m, "__version__", FLOR_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
