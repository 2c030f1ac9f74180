/*
 * _loop.c -- flor.loop and flor.iteration: Python loops as flor loops.
 *
 * flor.loop(name, iterable) returns a Loop, an iterator written in C (not
 * a Python generator, so an iteration costs one call into libflor and no
 * frame switch).  Its first __next__ opens the flor loop
 * (flor_loop_begin with len(iterable), or -1 when it has no len); each
 * __next__ closes the previous iteration and opens the next
 * (flor_loop_next); running out of items closes the loop (flor_loop_end).
 *
 * Order of the calls.  With a known length libflor decides first and the
 * item is fetched after, so a loop libflor skips (replay) never touches
 * its iterable, and a loop libflor starts at iteration k skips to item k.
 * With an unknown length the item is fetched first, so that the end of
 * the iterable never opens an empty extra iteration.
 *
 * A loop left early is closed when its Loop object goes away: `break`,
 * `return`, or an exception unwinding the frame drops the last reference.
 * A loop closed by an exception is not checkpointed: its last iteration
 * did not complete (flor_loop_abort).  Closing a loop also closes the
 * loops still open inside it.
 *
 * flor.iteration(name, idx, value) is a context manager that opens a
 * one-iteration loop at iteration IDX (flor_loop_begin_at).  VALUE, as a
 * flor.loop's item, is recorded as the iteration's value (_value.c).  A context manager
 * cannot skip its block, so in a replay the block of a flor.iteration
 * runs even where libflor would skip a flor.loop.
 *
 * In a process forked from the recording one (a DataLoader worker) and
 * while the interpreter exits, loops only count: libflor's threads are
 * not there, or the run is already over.
 *
 * The outermost open loop is where checkpoints happen: before each of its
 * boundaries the registered state_dicts are refreshed
 * (pyflor_state_refresh), and after each loop call a restore that libflor
 * did is finished (pyflor_state_after_restore).
 *
 * Thread settings.  Before the first loop of a run, the number of torch
 * threads and of BLAS threads are logged as flor.torch_threads and
 * flor.blas_threads: they decide the speed and the rounding of a run.  A
 * replay sets them to the recorded values first (torch.set_num_threads,
 * openblas_set_num_threads), then logs what it has, so that a setting it
 * could not apply is a divergence in the replay's record, and a warning.
 *
 * The progress line.  On a terminal (stderr a TTY; FLOR_PROGRESS=0 turns
 * it off) one line shows the open loops, such as
 * "epoch 2/5  step 1200/1875 [#############-------] 64% 412.0 it/s",
 * redrawn at most 10 times a second and erased when the outermost loop
 * ends.
 */
#include "_flor.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_OPEN 64

/* What a Loop and an Iteration have in common: one open flor loop. */
typedef struct frame {
    PyObject_HEAD
    PyObject *name; /* str: keeps the UTF-8 that loop.name points to alive */
    flor_loop loop;
    long n;         /* for the progress line: the length, or -1 */
    long index;     /* the current iteration, -1 before the first */
    double t0;      /* when the loop began */
    int depth;      /* position among the open frames */
    int open;
} frame;

typedef struct {
    frame f;
    PyObject *it; /* the iterator over the iterable */
    long pos;     /* items taken from it */
    int started;
} LoopObject;

typedef struct {
    frame f;
    long idx;
    PyObject *value; /* recorded as the iteration's value (_value.c) */
} IterationObject;

static frame *open_frames[MAX_OPEN];
static int nopen;
static int threads_logged;

int pyflor_loop_depth(void) { return nopen; }

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- the progress line ---------------------------------------------------- */

static int progress_on = -1; /* -1: not decided yet */
static double progress_last;
static int progress_drawn;

static int progress_enabled(void)
{
    if (progress_on < 0) {
        const char *e = getenv("FLOR_PROGRESS");
        progress_on = isatty(STDERR_FILENO) && !(e && strcmp(e, "0") == 0);
    }
    return progress_on;
}

static int terminal_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
        return ws.ws_col;
    return 80;
}

/* The bar, percentage and rate of the innermost loop of known length,
 * by the iterations it completed. */
static size_t progress_bar(char *out, size_t cap, const frame *f, double now)
{
    char bar[21];
    long done = f->index; /* iterations completed */
    int fill = f->n > 0 ? (int)(20 * done / f->n) : 0;
    for (int k = 0; k < 20; k++)
        bar[k] = k < fill ? '#' : '-';
    bar[20] = 0;
    double rate = now > f->t0 ? (double)done / (now - f->t0) : 0;
    int w = snprintf(out, cap, " [%s] %3ld%% %.1f it/s", bar, f->n > 0 ? 100 * done / f->n : 0,
                     rate);
    return w < 0 ? 0 : (size_t)w < cap ? (size_t)w : cap - 1;
}

static void progress_draw(double now)
{
    char line[512];
    size_t len = 1, cap = sizeof line;
    const frame *known = NULL;
    line[0] = '\r';
    for (int d = 0; d < nopen && len < cap; d++) {
        const frame *f = open_frames[d];
        const char *name = PyUnicode_AsUTF8(f->name);
        int w = f->n >= 0 ? snprintf(line + len, cap - len, "%s%s %ld/%ld", d ? "  " : "",
                                     name ? name : "?", f->index + 1, f->n)
                          : snprintf(line + len, cap - len, "%s%s %ld", d ? "  " : "",
                                     name ? name : "?", f->index + 1);
        len += w < 0 ? 0 : (size_t)w;
        if (f->n >= 0)
            known = f;
    }
    if (!known)
        return; /* only loops of unknown length: nothing to measure */
    if (len < cap)
        len += progress_bar(line + len, cap - len, known, now);
    size_t width = (size_t)terminal_width();
    if (len > width)
        len = width; /* the '\r' takes no column; keep one free */
    if (len + 3 < cap) {
        memcpy(line + len, "\033[K", 3);
        len += 3;
    }
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
    progress_drawn = 1;
}

static void progress_tick(void)
{
    if (!progress_enabled())
        return;
    double now = mono();
    if (now - progress_last < 0.1)
        return;
    progress_last = now;
    progress_draw(now);
}

static void progress_clear(void)
{
    if (progress_drawn) {
        ssize_t w = write(STDERR_FILENO, "\r\033[K", 4);
        (void)w;
        progress_drawn = 0;
    }
}

/* ---- frames: opening and closing flor loops -------------------------------- */

/* libopenblas, if the process loaded it (torch does), for its thread
 * count: OPENBLAS_NUM_THREADS is read once, when it loads. */
typedef int (*blas_get_fn)(void);
typedef void (*blas_set_fn)(int);
static blas_get_fn blas_get;
static blas_set_fn blas_set;

static int blas_find(void)
{
    static int looked;
    if (!looked) {
        looked = 1;
        void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_NOLOAD);
        if (h) {
            blas_get = (blas_get_fn)(uintptr_t)dlsym(h, "openblas_get_num_threads");
            blas_set = (blas_set_fn)(uintptr_t)dlsym(h, "openblas_set_num_threads");
            if (!blas_get || !blas_set)
                blas_get = NULL, blas_set = NULL;
        }
    }
    return blas_get != NULL;
}

/* The BLAS thread count: libopenblas's own, else the first of the usual
 * variables that is set.  0 when unknown; *TEXT for a value that is not
 * a number. */
static long blas_threads(const char **text)
{
    *text = NULL;
    if (blas_find())
        return blas_get();
    static const char *const vars[] = {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                       "MKL_NUM_THREADS"};
    for (size_t k = 0; k < sizeof vars / sizeof vars[0]; k++) {
        const char *v = getenv(vars[k]);
        if (!v || !*v)
            continue;
        char *end;
        long x = strtol(v, &end, 10);
        if (*end || x <= 0)
            *text = v;
        return x;
    }
    return 0;
}

static long torch_threads(PyObject *torch)
{
    PyObject *n = torch ? PyObject_CallMethod(torch, "get_num_threads", NULL) : NULL;
    long v = n && PyLong_Check(n) ? PyLong_AsLong(n) : 0;
    Py_XDECREF(n);
    PyErr_Clear();
    return v;
}

/* The thread settings run RUN recorded: 0 for one it did not record. */
static void recorded_threads(int64_t run, long *torch, long *blas)
{
    *torch = *blas = 0;
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT name, value FROM logs WHERE run_id = %lld AND ctx_id IS NULL AND "
             "source = 'record' AND name IN ('flor.torch_threads', 'flor.blas_threads')",
             (long long)run);
    flor_project *p = NULL;
    flor_table *t = NULL;
    if (flor_project_open(&p, NULL) == 0 && flor_project_query(p, sql, &t) == 0)
        for (size_t r = 0; r < flor_table_nrows(t); r++)
            if (flor_table_type(t, r, 1) == FLOR_INTEGER)
                *(strcmp(flor_table_text(t, r, 0), "flor.torch_threads") == 0 ? torch : blas) =
                    (long)flor_table_int(t, r, 1);
    flor_table_free(t);
    flor_project_free(p);
}

/* A replay: the recorded thread settings, applied where they differ. */
static void apply_threads(PyObject *torch)
{
    long want_torch, want_blas;
    recorded_threads(flor_run_id(), &want_torch, &want_blas);
    if (torch && want_torch > 0 && torch_threads(torch) != want_torch) {
        PyObject *r = PyObject_CallMethod(torch, "set_num_threads", "l", want_torch);
        Py_XDECREF(r);
        PyErr_Clear();
    }
    if (want_blas > 0 && blas_find() && blas_get() != want_blas)
        blas_set((int)want_blas);
    const char *text;
    long have_torch = torch_threads(torch), have_blas = blas_threads(&text);
    if ((want_torch > 0 && have_torch != want_torch) || (want_blas > 0 && have_blas != want_blas))
        flor_warn("this replay cannot apply the thread settings of run %lld (torch %ld, BLAS "
                    "%ld threads; here %ld and %ld): its values may differ from the record's "
                    "in the last bits",
                    (long long)flor_run_id(), want_torch, want_blas, have_torch, have_blas);
}

/* Once per run, before the first loop: the thread settings that make two
 * runs of the same code take different time (and round differently);
 * a replay applies the recorded ones first. */
static void log_threads(void)
{
    if (threads_logged || !pyflor_recording())
        return;
    threads_logged = 1;
    PyObject *torch = pyflor_loaded_module("torch");
    if (flor_get_mode() == FLOR_MODE_REPLAY)
        apply_threads(torch);
    long n = torch_threads(torch);
    if (n > 0)
        flor_log_long("flor.torch_threads", n);
    if (!torch && !pyflor_loaded_module("numpy"))
        return; /* no numerical library: no BLAS in use */
    const char *text;
    long b = blas_threads(&text);
    if (text)
        flor_log_text("flor.blas_threads", text);
    else if (b > 0)
        flor_log_long("flor.blas_threads", b);
}

/* Opens F's flor loop with N iterations (-1: unknown), starting at
 * iteration FIRST, as the innermost. */
static int frame_open(frame *f, long n, long first)
{
    if (nopen >= MAX_OPEN) {
        PyErr_Format(PyExc_RuntimeError, "flor: loops nest deeper than %d", MAX_OPEN);
        return -1;
    }
    const char *name = PyUnicode_AsUTF8(f->name);
    if (!name || pyflor_ensure_started() < 0)
        return -1;
    f->depth = nopen;
    f->n = n;
    f->index = -1;
    f->t0 = mono();
    if (f->depth == 0) {
        log_threads();
        pyflor_state_refresh();
    }
    if (pyflor_libflor_usable()) {
        pyflor_restoring_mid = f->depth > 0; /* a replay may skip it, restoring */
        f->loop = flor_loop_begin_at(name, n, first);
        pyflor_restoring_mid = 0;
        pyflor_state_after_restore();
    } else {
        f->loop = (flor_loop){name, n, first - 1, -1, 1};
    }
    open_frames[nopen++] = f;
    f->open = 1;
    return 0;
}

/* Closes F and the frames open inside it; ABORTING when an exception
 * ends it. */
static void frame_close(frame *f, int aborting)
{
    if (!f->open)
        return;
    while (nopen > f->depth + 1 && open_frames[nopen - 1] != f)
        frame_close(open_frames[nopen - 1], aborting);
    f->open = 0;
    if (pyflor_libflor_usable()) {
        if (f->depth == 0 && !aborting)
            pyflor_state_refresh();
        if (f->depth == 1 && !aborting)
            pyflor_state_nested_end();
        if (aborting)
            flor_loop_abort(&f->loop);
        else
            flor_loop_end(&f->loop);
        if (f->depth == 0)
            pyflor_state_boundary_passed();
        pyflor_state_after_restore();
    }
    if (nopen > f->depth && open_frames[f->depth] == f)
        nopen = f->depth;
    if (nopen == 0)
        progress_clear();
}

/* The next iteration of F's flor loop: its index in *I, or false when
 * libflor ends the loop. */
static bool frame_next(frame *f, long *i)
{
    bool more;
    if (pyflor_libflor_usable()) {
        if (f->depth == 0)
            pyflor_state_refresh();
        more = flor_loop_next(&f->loop, i);
        if (f->depth == 0)
            pyflor_state_boundary_passed();
        pyflor_state_after_restore();
    } else { /* count, as libflor does when it does not record */
        more = f->loop.n < 0 || f->loop.i + 1 < f->loop.n;
        if (more)
            *i = ++f->loop.i;
    }
    if (more) {
        f->index = *i;
        progress_tick();
    }
    return more;
}

/* Closes F from a deallocator: keeps the pending exception, if any, and
 * treats it as the reason the loop ends. */
static void frame_close_from_dealloc(frame *f)
{
    if (!f->open)
        return;
    PyObject *type, *value, *tb;
    int aborting = PyErr_Occurred() != NULL;
    PyErr_Fetch(&type, &value, &tb);
    frame_close(f, aborting);
    PyErr_Restore(type, value, tb);
}

/* ---- flor.loop --------------------------------------------------------------- */

/* len(iterable), or -1 when it has none. */
static long length_of(PyObject *iterable)
{
    PyTypeObject *t = Py_TYPE(iterable);
    if (!(t->tp_as_sequence && t->tp_as_sequence->sq_length) &&
        !(t->tp_as_mapping && t->tp_as_mapping->mp_length))
        return -1;
    Py_ssize_t n = PyObject_Size(iterable);
    if (n < 0) {
        PyErr_Clear();
        return -1;
    }
    return (long)n;
}

PyObject *pyflor_loop(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2)
        return PyErr_Format(PyExc_TypeError, "flor.loop(name, iterable) takes 2 arguments "
                                             "(%zd given)", nargs);
    if (!PyUnicode_Check(args[0]) || PyUnicode_GET_LENGTH(args[0]) == 0)
        return PyErr_Format(PyExc_TypeError, "flor.loop: the name must be a non-empty str");
    long n = length_of(args[1]);
    PyObject *it = PyObject_GetIter(args[1]);
    if (!it)
        return NULL;
    LoopObject *l = PyObject_GC_New(LoopObject, &pyflor_LoopType);
    if (!l) {
        Py_DECREF(it);
        return NULL;
    }
    memset((char *)l + sizeof(PyObject), 0, sizeof *l - sizeof(PyObject));
    l->f.name = Py_NewRef(args[0]);
    l->f.n = n;
    l->it = it;
    PyObject_GC_Track(l);
    return (PyObject *)l;
}

/* Ends the loop; ABORTING when an exception (set) ends it. */
static PyObject *loop_finish(LoopObject *l, int aborting)
{
    if (aborting) {
        frame_close_from_dealloc(&l->f);
    } else {
        frame_close(&l->f, 0);
    }
    Py_CLEAR(l->it);
    return NULL;
}

/* Item number I of the iterable (skipping the ones before it), or NULL. */
static PyObject *take(LoopObject *l, long i)
{
    while (l->it && l->pos <= i) {
        PyObject *x = PyIter_Next(l->it);
        if (!x)
            return NULL;
        if (l->pos++ == i)
            return x;
        Py_DECREF(x);
    }
    return NULL;
}

static PyObject *loop_next(LoopObject *l)
{
    if (!l->started) {
        l->started = 1;
        if (frame_open(&l->f, l->f.n, 0) < 0) {
            Py_CLEAR(l->it);
            return NULL;
        }
    }
    if (!l->f.open || !l->it)
        return NULL;
    long i;
    if (l->f.loop.n >= 0) { /* libflor knows the length: it decides first */
        if (!frame_next(&l->f, &i))
            return loop_finish(l, 0);
        PyObject *x = take(l, i);
        if (x)
            pyflor_loop_value(&l->f.loop, x);
        return x ? x : loop_finish(l, PyErr_Occurred() != NULL);
    }
    PyObject *x = PyIter_Next(l->it);
    if (!x)
        return loop_finish(l, PyErr_Occurred() != NULL);
    l->pos++;
    if (!frame_next(&l->f, &i)) {
        Py_DECREF(x);
        return loop_finish(l, 0);
    }
    pyflor_loop_value(&l->f.loop, x);
    return x;
}

static PyObject *loop_close(LoopObject *l, PyObject *noargs)
{
    loop_finish(l, 0);
    Py_RETURN_NONE;
}

static PyObject *loop_length_hint(LoopObject *l, PyObject *noargs)
{
    long left = l->f.n >= 0 && l->it ? l->f.n - (l->f.index + 1) : 0;
    return PyLong_FromLong(left > 0 ? left : 0);
}

static int loop_traverse(LoopObject *l, visitproc visit, void *arg)
{
    Py_VISIT(l->it);
    return 0;
}

static int loop_clear(LoopObject *l)
{
    Py_CLEAR(l->it);
    return 0;
}

static void loop_dealloc(LoopObject *l)
{
    PyObject_GC_UnTrack(l);
    frame_close_from_dealloc(&l->f);
    Py_CLEAR(l->it);
    Py_CLEAR(l->f.name);
    PyObject_GC_Del(l);
}

static PyObject *loop_repr(LoopObject *l)
{
    return PyUnicode_FromFormat("<flor.loop %R at iteration %ld>", l->f.name, l->f.index);
}

static PyMethodDef loop_methods[] = {
    {"close", (PyCFunction)loop_close, METH_NOARGS,
     "Ends the loop now, as leaving it with break does."},
    {"__length_hint__", (PyCFunction)loop_length_hint, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

PyTypeObject pyflor_LoopType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "flor.Loop",
    .tp_doc = "The iterator flor.loop() returns.",
    .tp_basicsize = sizeof(LoopObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_dealloc = (destructor)loop_dealloc,
    .tp_traverse = (traverseproc)loop_traverse,
    .tp_clear = (inquiry)loop_clear,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)loop_next,
    .tp_methods = loop_methods,
    .tp_repr = (reprfunc)loop_repr,
};

/* ---- flor.iteration ----------------------------------------------------------- */

static int iteration_init(IterationObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"name", "idx", "value", NULL};
    PyObject *name, *idx = Py_None, *value = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "U|OO:iteration", kwlist, &name, &idx, &value))
        return -1;
    if (self->f.open) {
        PyErr_SetString(PyExc_RuntimeError, "flor.iteration: already entered");
        return -1;
    }
    long i = 0;
    if (idx != Py_None && (i = PyLong_AsLong(idx)) == -1 && PyErr_Occurred())
        return -1;
    if (i < 0) {
        PyErr_Format(PyExc_ValueError, "flor.iteration: idx must be >= 0, not %ld", i);
        return -1;
    }
    Py_XSETREF(self->f.name, Py_NewRef(name));
    Py_XSETREF(self->value, Py_NewRef(value));
    self->idx = i;
    return 0;
}

static PyObject *iteration_enter(IterationObject *self, PyObject *noargs)
{
    if (!self->f.name || self->f.open)
        return PyErr_Format(PyExc_RuntimeError, "flor.iteration: not usable here");
    if (frame_open(&self->f, self->idx + 1, self->idx) < 0)
        return NULL;
    long i;
    if (!frame_next(&self->f, &i))
        frame_close(&self->f, 0);
    else
        pyflor_loop_value(&self->f.loop, self->value);
    Py_RETURN_NONE;
}

static PyObject *iteration_exit(IterationObject *self, PyObject *args)
{
    int aborting = PyTuple_GET_SIZE(args) > 0 && PyTuple_GET_ITEM(args, 0) != Py_None;
    frame_close(&self->f, aborting);
    Py_RETURN_FALSE;
}

static void iteration_dealloc(IterationObject *self)
{
    frame_close_from_dealloc(&self->f);
    Py_CLEAR(self->f.name);
    Py_CLEAR(self->value);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef iteration_methods[] = {
    {"__enter__", (PyCFunction)iteration_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)iteration_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

PyTypeObject pyflor_IterationType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "flor.iteration",
    .tp_doc = "iteration(name, idx, value)\n--\n\n"
              "A context manager: the code inside runs as iteration IDX of the flor loop\n"
              "NAME, as if inside `for ... in flor.loop(NAME, ...)`.  VALUE, when a\n"
              "scalar (int, float, str, bool), is recorded as the iteration's value.",
    .tp_basicsize = sizeof(IterationObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)iteration_init,
    .tp_dealloc = (destructor)iteration_dealloc,
    .tp_methods = iteration_methods,
};
