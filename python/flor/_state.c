/*
 * _state.c -- `with flor.checkpointing(**objs)`: Python objects as
 * libflor's checkpointed state.
 *
 * Each keyword names one object, registered according to what it is:
 *
 *   has state_dict()   (a torch Module, Optimizer, LR scheduler, ...)
 *       Every tensor of its state_dict that is a contiguous CPU tensor of
 *       a plain dtype is registered as a flat buffer, named
 *       "<obj>.<key>" ("model.fc1.weight", "optimizer.state.0.exp_avg"),
 *       straight from its data pointer with its element type
 *       (flor_checkpoint_typed), so a snapshot is one memcpy per tensor
 *       and a restore writes back in place.  The rest of the state_dict
 *       -- its structure, the hyperparameters, Python numbers, and any
 *       tensor that cannot be taken by pointer (CUDA, sparse) -- is a
 *       "skeleton" in which each registered tensor is replaced by a
 *       marker (its name, shape and dtype); it is pickled at each
 *       checkpoint through callbacks (flor_checkpoint_ops) under the
 *       name "<obj>".
 *   a torch tensor     registered by pointer under "<obj>".
 *   a numpy array      (writable, C-contiguous) registered through the
 *                      buffer protocol; the Py_buffer is held until the
 *                      context exits, which also keeps the array from
 *                      being resized under flor.
 *   anything else      pickled through callbacks.
 *
 * The RNG states of random, numpy and torch (of those the program
 * imported) are one more callback object, "flor.rng", registered first
 * so that it is snapshotted first.
 *
 * Optimizer state that appears later.  Adam's exp_avg and exp_avg_sq
 * exist only after the first optimizer.step(), and a load_state_dict()
 * replaces tensors.  So before every boundary of the outermost loop (the
 * only place libflor snapshots) the state_dicts are walked again
 * (pyflor_state_refresh): a tensor whose data pointer, size and dtype are
 * unchanged costs a comparison; a new or moved one is registered again
 * (libflor replaces a registration by name); a vanished one is removed.
 * Registration waits for the checkpoint writer to be idle, so it is done
 * only when something changed: in practice once, at the end of the first
 * epoch, before the first checkpoint.  A registered tensor is kept
 * referenced, so its memory stays valid even if the program drops it.
 *
 * Restores (libflor calls load()).  Tensors and numpy arrays are written in
 * place by libflor; pickled objects are updated in place (dict, list,
 * set, or an object's __dict__); RNG states are set.  libflor restores
 * callback objects first, so a state_dict's skeleton is loaded before
 * any of its tensors: its load() (prepare_tensors) walks the object
 * again, registers where its tensors are now, and allocates and
 * registers the tensors the skeleton names that the object lacks (Adam's
 * moments in a replay process that skipped the first epoch).  Once every
 * tensor is back, pyflor_state_after_restore(), which runs after each
 * libflor loop call, calls load_state_dict() with the restored state --
 * only when something other than tensor bytes differs (a learning rate, a
 * step count, a tensor that had to be created).
 *
 * The RNG states are saved twice per checkpoint: at the iteration's end,
 * and as they were when the iteration's first nested loop ended
 * (pyflor_state_nested_end), for a replay that skips that loop.
 */
#include "_flor.h"

#include <stdlib.h>
#include <string.h>

enum kind { K_STATE_DICT, K_TENSOR, K_BUFFER, K_PICKLE, K_RNG };

/* One tensor registered by pointer. */
typedef struct treg {
    char *name;
    PyObject *tensor; /* keeps the memory alive */
    void *ptr;
    size_t nbytes;
    flor_dtype dtype;
    int seen; /* found by the current walk */
} treg;

/* One keyword of flor.checkpointing (or the RNG). */
typedef struct entry {
    int kind;
    char *name;
    PyObject *obj;
    Py_buffer view; /* K_BUFFER */
    int has_view;
    int has_ops;    /* NAME is registered through callbacks */
    treg *regs;     /* K_STATE_DICT, K_TENSOR */
    size_t nregs, capregs, cursor;
    PyObject *skeleton; /* K_STATE_DICT: the state_dict without its tensors */
    PyObject *pending;  /* pickled bytes between size() and save() */
    PyObject *restored; /* K_STATE_DICT: a skeleton load() kept */
    int created;        /* load() allocated tensors the object lacked */
    int warned;
} entry;

typedef struct CkptObject {
    PyObject_HEAD
    PyObject *objs; /* the keywords, in order */
    entry **entries;
    size_t n;
    int entered;
    struct CkptObject *next; /* the active contexts */
} CkptObject;

static CkptObject *active;
static char rng_name[] = "flor.rng";
static entry rng = {.kind = K_RNG, .name = rng_name};
static int restore_pending;
static PyObject *rng_mid; /* the RNG states when this iteration's first nested loop ended */
int pyflor_restoring_mid;

static PyObject *pickle_dumps, *pickle_loads, *marker;
static PyObject *tensor_type, *strided, *dtype_map;

static const flor_state_ops pickle_ops;
static PyObject *rng_state(void);

/* ---- helpers -------------------------------------------------------------- */

/* "flor: warning: WHAT: <the pending Python exception>", clearing it. */
static void warn_exception(const char *what, const char *name)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *s = value ? PyObject_Str(value) : NULL;
    const char *msg = s ? PyUnicode_AsUTF8(s) : NULL;
    flor_warn("%s '%s': %s%s%s", what, name, type ? ((PyTypeObject *)type)->tp_name : "error",
                msg && *msg ? ": " : "", msg ? msg : "");
    Py_XDECREF(s);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    PyErr_Clear();
}

static int load_pickle(void)
{
    if (pickle_dumps)
        return 0;
    PyObject *m = PyImport_ImportModule("pickle");
    if (!m)
        return -1;
    pickle_dumps = PyObject_GetAttrString(m, "dumps");
    pickle_loads = PyObject_GetAttrString(m, "loads");
    Py_DECREF(m);
    marker = PyUnicode_InternFromString("__flor_tensor__");
    return pickle_dumps && pickle_loads && marker ? 0 : -1;
}

static PyObject *dumps(PyObject *obj)
{
    if (load_pickle() < 0)
        return NULL;
    return PyObject_CallFunction(pickle_dumps, "Oi", obj, 4);
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (s) {
        memcpy(s, a, la);
        s[la] = '.';
        memcpy(s + la + 1, b, lb + 1);
    }
    return s;
}

/* ---- torch tensors ---------------------------------------------------------- */

/* torch's Tensor type, strided layout and dtype map, once torch is loaded. */
static int torch_ready(void)
{
    if (tensor_type)
        return 1;
    PyObject *torch = pyflor_loaded_module("torch");
    if (!torch)
        return 0;
    static const struct {
        const char *name;
        flor_dtype type;
    } dtypes[] = {{"float32", FLOR_F32}, {"float64", FLOR_F64}, {"float16", FLOR_F16},
                  {"bfloat16", FLOR_BF16}, {"int64", FLOR_I64}, {"int32", FLOR_I32},
                  {"uint8", FLOR_U8}, {"bool", FLOR_U8}, {"int8", FLOR_BYTES},
                  {"int16", FLOR_BYTES}, {"complex64", FLOR_BYTES}, {"complex128", FLOR_BYTES}};
    PyObject *map = PyDict_New();
    for (size_t k = 0; map && k < sizeof dtypes / sizeof dtypes[0]; k++) {
        PyObject *dt = PyObject_GetAttrString(torch, dtypes[k].name);
        PyObject *v = PyLong_FromLong(dtypes[k].type);
        if (!dt || !v || PyDict_SetItem(map, dt, v) < 0)
            Py_CLEAR(map);
        Py_XDECREF(dt);
        Py_XDECREF(v);
    }
    PyObject *t = PyObject_GetAttrString(torch, "Tensor");
    PyObject *s = PyObject_GetAttrString(torch, "strided");
    if (!map || !t || !s) {
        Py_XDECREF(map);
        Py_XDECREF(t);
        Py_XDECREF(s);
        PyErr_Clear();
        return 0;
    }
    dtype_map = map;
    strided = s;
    tensor_type = t;
    return 1;
}

static int is_tensor(PyObject *v)
{
    return torch_ready() && PyObject_TypeCheck(v, (PyTypeObject *)tensor_type);
}

/* A call returning a Python int, or -1. */
static long long call_int(PyObject *t, const char *method)
{
    PyObject *r = PyObject_CallMethod(t, method, NULL);
    long long v = r && PyLong_Check(r) ? PyLong_AsLongLong(r) : -1;
    Py_XDECREF(r);
    return v;
}

/* Where tensor T's bytes are, if flor can take them by pointer: a
 * contiguous, strided CPU tensor of a known dtype.  0, or -1 (no
 * exception set) when it must be pickled instead. */
static int tensor_memory(PyObject *t, void **ptr, size_t *nbytes, flor_dtype *type)
{
    int ok = 0;
    PyObject *layout = PyObject_GetAttrString(t, "layout");
    PyObject *device = PyObject_GetAttrString(t, "device");
    PyObject *devtype = device ? PyObject_GetAttrString(device, "type") : NULL;
    PyObject *dtype = PyObject_GetAttrString(t, "dtype");
    PyObject *code = dtype ? PyDict_GetItemWithError(dtype_map, dtype) : NULL;
    PyObject *contig = PyObject_CallMethod(t, "is_contiguous", NULL);
    if (layout == strided && devtype && PyUnicode_Check(devtype) &&
        PyUnicode_CompareWithASCIIString(devtype, "cpu") == 0 && code && contig == Py_True) {
        long long p = call_int(t, "data_ptr"), n = call_int(t, "nelement"),
                  size = call_int(t, "element_size");
        if (p >= 0 && n >= 0 && size > 0) {
            *ptr = (void *)(uintptr_t)p;
            *nbytes = (size_t)n * (size_t)size;
            *type = (flor_dtype)PyLong_AsLong(code);
            ok = 1;
        }
    }
    Py_XDECREF(layout);
    Py_XDECREF(device);
    Py_XDECREF(devtype);
    Py_XDECREF(dtype);
    Py_XDECREF(contig);
    PyErr_Clear();
    return ok ? 0 : -1;
}

/* ---- tensor registrations of one entry ------------------------------------------ */

static treg *find_reg(entry *e, const char *name)
{
    if (e->cursor < e->nregs && strcmp(e->regs[e->cursor].name, name) == 0)
        return &e->regs[e->cursor++]; /* walks meet tensors in the same order */
    for (size_t k = 0; k < e->nregs; k++)
        if (strcmp(e->regs[k].name, name) == 0) {
            e->cursor = k + 1;
            return &e->regs[k];
        }
    return NULL;
}

static treg *add_reg(entry *e, const char *name)
{
    if (e->nregs == e->capregs) {
        size_t cap = e->capregs ? 2 * e->capregs : 16;
        treg *v = realloc(e->regs, cap * sizeof *v);
        if (!v)
            return NULL;
        e->regs = v;
        e->capregs = cap;
    }
    treg *r = &e->regs[e->nregs];
    memset(r, 0, sizeof *r);
    if (!(r->name = strdup(name)))
        return NULL;
    e->nregs++;
    return r;
}

/* Registers tensor T as NAME unless it already is, unchanged.  0, or -1
 * when T cannot be taken by pointer (it stays in the skeleton). */
static int register_tensor(entry *e, PyObject *t, const char *name)
{
    void *ptr;
    size_t nbytes;
    flor_dtype type;
    if (tensor_memory(t, &ptr, &nbytes, &type) < 0)
        return -1;
    if (nbytes == 0)
        return -1; /* an empty tensor: kept in the skeleton, not registered */
    treg *r = find_reg(e, name);
    if (r && r->ptr == ptr && r->nbytes == nbytes && r->dtype == type) {
        r->seen = 1;
        return 0;
    }
    int rc = flor_checkpoint_typed(name, ptr, nbytes, type, 1);
    if (rc) {
        flor_warn("cannot register '%s' for checkpoints: %s", name, flor_errmsg());
        return -1; /* a previous registration, if any, is swept */
    }
    if (!r && !(r = add_reg(e, name))) {
        flor_checkpoint_remove(name);
        return -1;
    }
    Py_XSETREF(r->tensor, Py_NewRef(t));
    r->ptr = ptr;
    r->nbytes = nbytes;
    r->dtype = type;
    r->seen = 1;
    return 0;
}

/* Removes the registrations the last walk did not see (ALL: every one). */
static void sweep_regs(entry *e, int all)
{
    size_t keep = 0;
    for (size_t k = 0; k < e->nregs; k++) {
        treg *r = &e->regs[k];
        if (r->seen && !all) {
            e->regs[keep++] = *r;
            continue;
        }
        flor_checkpoint_remove(r->name);
        free(r->name);
        Py_XDECREF(r->tensor);
    }
    e->nregs = keep;
    e->cursor = 0;
}

/* ---- walking a state_dict --------------------------------------------------------- */

static PyObject *walk(entry *e, PyObject *v, const char *path);

static PyObject *walk_dict(entry *e, PyObject *d, const char *path)
{
    PyObject *out = PyDict_CheckExact(d) ? PyDict_New() : PyObject_CallNoArgs((PyObject *)Py_TYPE(d));
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (out && PyDict_Next(d, &pos, &key, &value)) {
        PyObject *ks = PyObject_Str(key);
        const char *k = ks ? PyUnicode_AsUTF8(ks) : NULL;
        char *sub = k ? join(path, k) : NULL;
        PyObject *w = sub ? walk(e, value, sub) : NULL;
        if (!w || PyObject_SetItem(out, key, w) < 0)
            Py_CLEAR(out);
        Py_XDECREF(w);
        Py_XDECREF(ks);
        free(sub);
    }
    PyObject *meta = out ? PyObject_GetAttrString(d, "_metadata") : NULL; /* Module state_dicts */
    if (meta && PyObject_SetAttrString(out, "_metadata", meta) < 0)
        PyErr_Clear();
    Py_XDECREF(meta);
    if (out)
        PyErr_Clear();
    return out;
}

static PyObject *walk_sequence(entry *e, PyObject *s, const char *path)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(s);
    PyObject *out = PyList_New(n);
    for (Py_ssize_t i = 0; out && i < n; i++) {
        char idx[32];
        snprintf(idx, sizeof idx, "%zd", i);
        char *sub = join(path, idx);
        PyObject *w = sub ? walk(e, PySequence_Fast_GET_ITEM(s, i), sub) : NULL;
        free(sub);
        if (!w)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, i, w);
    }
    if (out && PyTuple_Check(s))
        Py_SETREF(out, PyList_AsTuple(out));
    return out;
}

/* What stands for registered tensor T in a skeleton: (marker, name,
 * shape, dtype), enough to allocate it again before a restore (optimizer
 * state that does not exist yet in a fresh process). */
static PyObject *tensor_marker(PyObject *t, const char *name)
{
    PyObject *shape = PyObject_GetAttrString(t, "shape");
    PyObject *dims = shape ? PySequence_Tuple(shape) : NULL;
    PyObject *dtype = PyObject_GetAttrString(t, "dtype");
    PyObject *dtname = dtype ? PyObject_Str(dtype) : NULL;
    PyObject *m = dims && dtname ? Py_BuildValue("(OsOO)", marker, name, dims, dtname) : NULL;
    Py_XDECREF(shape);
    Py_XDECREF(dims);
    Py_XDECREF(dtype);
    Py_XDECREF(dtname);
    return m;
}

/* V with every tensor that could be registered replaced by a marker. */
static PyObject *walk(entry *e, PyObject *v, const char *path)
{
    if (is_tensor(v)) {
        if (register_tensor(e, v, path) < 0)
            return Py_NewRef(v); /* pickled with the skeleton */
        return tensor_marker(v, path);
    }
    if (PyDict_Check(v))
        return walk_dict(e, v, path);
    if (PyList_CheckExact(v) || PyTuple_CheckExact(v))
        return walk_sequence(e, v, path);
    return Py_NewRef(v);
}

/* Walks E's state again: registers new or moved tensors, removes gone
 * ones, and keeps the skeleton for the next checkpoint. */
static void refresh_entry(entry *e)
{
    for (size_t k = 0; k < e->nregs; k++)
        e->regs[k].seen = 0;
    e->cursor = 0;
    PyObject *root = e->kind == K_STATE_DICT ? PyObject_CallMethod(e->obj, "state_dict", NULL)
                                             : Py_NewRef(e->obj);
    PyObject *skel = root && load_pickle() == 0 ? walk(e, root, e->name) : NULL;
    Py_XDECREF(root);
    if (!skel) {
        if (!e->warned++)
            warn_exception("cannot read the state of", e->name);
        PyErr_Clear();
        for (size_t k = 0; k < e->nregs; k++)
            e->regs[k].seen = 1; /* keep what was registered */
        return;
    }
    Py_XSETREF(e->skeleton, skel);
    sweep_regs(e, 0);
}

void pyflor_state_nested_end(void)
{
    if (!active || rng_mid || !pyflor_recording() || flor_get_mode() != FLOR_MODE_RECORD)
        return;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    rng_mid = rng_state();
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
}

void pyflor_state_boundary_passed(void) { Py_CLEAR(rng_mid); }

void pyflor_state_refresh(void)
{
    if (!active || !pyflor_recording())
        return;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    for (CkptObject *c = active; c; c = c->next)
        for (size_t k = 0; k < c->n; k++)
            if (c->entries[k]->kind == K_STATE_DICT || c->entries[k]->kind == K_TENSOR)
                refresh_entry(c->entries[k]);
    PyErr_Restore(type, value, tb);
}

/* ---- the RNG states ------------------------------------------------------------------ */

static PyObject *rng_state(void)
{
    PyObject *d = PyDict_New(), *random = PyImport_ImportModule("random");
    PyObject *s = random ? PyObject_CallMethod(random, "getstate", NULL) : NULL;
    int ok = d && s && PyDict_SetItemString(d, "random", s) == 0;
    Py_XDECREF(s);
    Py_XDECREF(random);
    PyObject *np = pyflor_loaded_module("numpy");
    PyObject *npr = ok && np ? PyObject_GetAttrString(np, "random") : NULL;
    if (npr) {
        s = PyObject_CallMethod(npr, "get_state", NULL);
        ok = s && PyDict_SetItemString(d, "numpy", s) == 0;
        Py_XDECREF(s);
        Py_DECREF(npr);
    }
    PyObject *torch = ok ? pyflor_loaded_module("torch") : NULL;
    if (torch) {
        s = PyObject_CallMethod(torch, "get_rng_state", NULL);
        ok = s && PyDict_SetItemString(d, "torch", s) == 0;
        Py_XDECREF(s);
    }
    if (!ok)
        Py_CLEAR(d);
    return d;
}

static int rng_set(PyObject *d)
{
    if (!PyDict_Check(d))
        return -1;
    static const struct {
        const char *key, *module, *attr, *method;
    } setters[] = {{"random", "random", NULL, "setstate"},
                   {"numpy", "numpy", "random", "set_state"},
                   {"torch", "torch", NULL, "set_rng_state"}};
    for (size_t k = 0; k < sizeof setters / sizeof setters[0]; k++) {
        PyObject *s = PyDict_GetItemString(d, setters[k].key);
        PyObject *m = s ? PyImport_ImportModule(setters[k].module) : NULL;
        if (!s)
            continue;
        PyObject *target = m && setters[k].attr ? PyObject_GetAttrString(m, setters[k].attr)
                                                : Py_XNewRef(m);
        PyObject *method = target ? PyUnicode_FromString(setters[k].method) : NULL;
        PyObject *r = method ? PyObject_CallMethodOneArg(target, method, s) : NULL;
        Py_XDECREF(method);
        Py_XDECREF(target);
        Py_XDECREF(m);
        if (!r)
            return -1;
        Py_DECREF(r);
    }
    return 0;
}

/* ---- callbacks: pickled state ---------------------------------------------------------- */

static PyObject *state_of(entry *e)
{
    switch (e->kind) {
    case K_RNG: {
        PyObject *d = rng_state();
        if (d && rng_mid && PyDict_SetItemString(d, "mid", rng_mid) < 0)
            Py_CLEAR(d);
        return d;
    }
    case K_STATE_DICT: return Py_NewRef(e->skeleton ? e->skeleton : Py_None);
    default: return Py_NewRef(e->obj);
    }
}

static size_t ops_size(void *self)
{
    entry *e = self;
    PyGILState_STATE g = PyGILState_Ensure();
    Py_CLEAR(e->pending);
    PyObject *state = state_of(e);
    e->pending = state ? dumps(state) : NULL;
    Py_XDECREF(state);
    if (!e->pending && !e->warned++)
        warn_exception("cannot pickle", e->name);
    PyErr_Clear();
    size_t n = e->pending ? (size_t)PyBytes_GET_SIZE(e->pending) : 0;
    PyGILState_Release(g);
    return n;
}

static int ops_save(void *self, void *dst, size_t n)
{
    entry *e = self;
    PyGILState_STATE g = PyGILState_Ensure();
    int rc = 0;
    if (!e->pending)
        rc = FLOR_EIO;
    else if ((size_t)PyBytes_GET_SIZE(e->pending) != n)
        rc = FLOR_EIO;
    else
        memcpy(dst, PyBytes_AS_STRING(e->pending), n);
    Py_CLEAR(e->pending);
    PyGILState_Release(g);
    return rc;
}

/* OBJ takes the state of NEW without being replaced. */
static int update_in_place(PyObject *obj, PyObject *new)
{
    if (PyDict_Check(obj) && PyDict_Check(new)) {
        PyDict_Clear(obj);
        return PyDict_Update(obj, new);
    }
    if (PyList_Check(obj) && PyList_Check(new))
        return PyList_SetSlice(obj, 0, PyList_GET_SIZE(obj), new);
    if (PyAnySet_Check(obj) && !PyFrozenSet_Check(obj)) {
        PyObject *r = PySet_Clear(obj) == 0 ? PyObject_CallMethod(obj, "update", "O", new) : NULL;
        Py_XDECREF(r);
        return r ? 0 : -1;
    }
    PyObject *mine = PyObject_GetAttrString(obj, "__dict__");
    PyObject *theirs = mine ? PyObject_GetAttrString(new, "__dict__") : NULL;
    int rc = -1;
    if (theirs && PyDict_Check(mine) && PyDict_Check(theirs)) {
        PyDict_Clear(mine);
        rc = PyDict_Update(mine, theirs);
    } else if (!PyErr_Occurred()) {
        PyErr_Format(PyExc_TypeError, "a %.100s cannot be restored in place",
                     Py_TYPE(obj)->tp_name);
    }
    Py_XDECREF(mine);
    Py_XDECREF(theirs);
    return rc;
}

/* A tensor for marker M = (marker, name, shape, dtype name): torch.empty
 * of that shape and dtype ("torch.float32"). */
static PyObject *empty_tensor(PyObject *m)
{
    PyObject *torch = pyflor_loaded_module("torch");
    const char *dt = PyUnicode_AsUTF8(PyTuple_GET_ITEM(m, 3));
    if (!torch || !dt) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "torch is not imported");
        return NULL;
    }
    const char *dot = strrchr(dt, '.');
    PyObject *dtype = PyObject_GetAttrString(torch, dot ? dot + 1 : dt);
    PyObject *empty = dtype ? PyObject_GetAttrString(torch, "empty") : NULL;
    PyObject *args = empty ? PyTuple_Pack(1, PyTuple_GET_ITEM(m, 2)) : NULL;
    PyObject *kw = args ? Py_BuildValue("{sO}", "dtype", dtype) : NULL;
    PyObject *t = kw ? PyObject_Call(empty, args, kw) : NULL;
    Py_XDECREF(dtype);
    Py_XDECREF(empty);
    Py_XDECREF(args);
    Py_XDECREF(kw);
    return t;
}

static int is_marker(PyObject *v)
{
    return PyTuple_CheckExact(v) && PyTuple_GET_SIZE(v) == 4 &&
           PyUnicode_Check(PyTuple_GET_ITEM(v, 0)) &&
           PyUnicode_Compare(PyTuple_GET_ITEM(v, 0), marker) == 0 &&
           PyUnicode_Check(PyTuple_GET_ITEM(v, 1)) && PyUnicode_Check(PyTuple_GET_ITEM(v, 3));
}

/* Makes sure each tensor the restored skeleton V names is registered, so
 * that libflor restores into it: the ones the object lacks (Adam's
 * moments in a fresh process, which exist only after a first step) are
 * allocated and registered here; load_state_dict() then takes them. */
static int ensure_tensors(entry *e, PyObject *v)
{
    if (is_marker(v)) {
        const char *name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(v, 1));
        treg *r = name ? find_reg(e, name) : NULL;
        if (!name)
            return -1;
        PyObject *t = NULL;
        if (r) { /* registered: of the same shape and dtype? */
            PyObject *m = tensor_marker(r->tensor, name);
            int same = m ? PyObject_RichCompareBool(m, v, Py_EQ) : -1;
            Py_XDECREF(m);
            if (same < 0)
                return -1;
            if (same)
                return 0;
        }
        if (!(t = empty_tensor(v)))
            return -1;
        int rc = register_tensor(e, t, name);
        Py_DECREF(t);
        if (rc < 0)
            return PyErr_Occurred() ? -1 : (PyErr_Format(PyExc_RuntimeError, "cannot register "
                                                         "'%s'", name), -1);
        e->created = 1;
        return 0;
    }
    if (PyDict_Check(v)) {
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        while (PyDict_Next(v, &pos, &key, &value))
            if (ensure_tensors(e, value) < 0)
                return -1;
        return 0;
    }
    if (PyList_CheckExact(v) || PyTuple_CheckExact(v))
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(v); i++)
            if (ensure_tensors(e, PySequence_Fast_GET_ITEM(v, i)) < 0)
                return -1;
    return 0;
}

/* load() of a state_dict's skeleton, which libflor calls before it
 * restores any tensor: the registrations are brought up to date with the
 * object (its tensors may have moved since the last loop boundary), then
 * completed with the tensors it lacks. */
static int prepare_tensors(entry *e, PyObject *skeleton)
{
    e->created = 0;
    refresh_entry(e);
    for (size_t k = 0; k < e->nregs; k++)
        e->regs[k].seen = 1; /* the ones allocated below are kept too */
    e->cursor = 0;
    return ensure_tensors(e, skeleton);
}

static int ops_load(void *self, const void *src, size_t n)
{
    entry *e = self;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *bytes = load_pickle() == 0 ? PyBytes_FromStringAndSize(src, (Py_ssize_t)n) : NULL;
    PyObject *state = bytes ? PyObject_CallOneArg(pickle_loads, bytes) : NULL;
    int rc = state ? 0 : -1;
    if (state && e->kind == K_RNG) {
        PyObject *mid = pyflor_restoring_mid && PyDict_Check(state)
                            ? PyDict_GetItemString(state, "mid")
                            : NULL;
        rc = rng_set(mid ? mid : state);
    }
    else if (state && e->kind == K_STATE_DICT) {
        rc = prepare_tensors(e, state);
        Py_XSETREF(e->restored, Py_NewRef(state)); /* applied by after_restore */
        restore_pending = 1;
    } else if (state)
        rc = update_in_place(e->obj, state);
    if (rc < 0)
        warn_exception("cannot restore", e->name);
    Py_XDECREF(bytes);
    Py_XDECREF(state);
    PyGILState_Release(g);
    return rc < 0 ? FLOR_ECORRUPT : 0;
}

static const flor_state_ops pickle_ops = {ops_size, ops_save, ops_load};

/* ---- finishing a restore ------------------------------------------------------------------ */

static PyObject *unmark(entry *e, PyObject *v);

static PyObject *unmark_dict(entry *e, PyObject *d)
{
    PyObject *out = PyDict_CheckExact(d) ? PyDict_New() : PyObject_CallNoArgs((PyObject *)Py_TYPE(d));
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (out && PyDict_Next(d, &pos, &key, &value)) {
        PyObject *w = unmark(e, value);
        if (!w || PyObject_SetItem(out, key, w) < 0)
            Py_CLEAR(out);
        Py_XDECREF(w);
    }
    return out;
}

/* V (a skeleton) with each marker replaced by the registered tensor. */
static PyObject *unmark(entry *e, PyObject *v)
{
    if (PyTuple_CheckExact(v) && PyTuple_GET_SIZE(v) == 4 &&
        PyUnicode_Check(PyTuple_GET_ITEM(v, 0)) &&
        PyUnicode_Compare(PyTuple_GET_ITEM(v, 0), marker) == 0) {
        const char *name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(v, 1));
        treg *r = name ? find_reg(e, name) : NULL;
        if (!r)
            return PyErr_Format(PyExc_KeyError, "no registered tensor '%s'", name ? name : "?");
        return Py_NewRef(r->tensor);
    }
    if (PyDict_Check(v))
        return unmark_dict(e, v);
    if (PyList_CheckExact(v) || PyTuple_CheckExact(v)) {
        Py_ssize_t n = PySequence_Fast_GET_SIZE(v);
        PyObject *out = PyList_New(n);
        for (Py_ssize_t i = 0; out && i < n; i++) {
            PyObject *w = unmark(e, PySequence_Fast_GET_ITEM(v, i));
            if (!w)
                Py_CLEAR(out);
            else
                PyList_SET_ITEM(out, i, w);
        }
        if (out && PyTuple_CheckExact(v))
            Py_SETREF(out, PyList_AsTuple(out));
        return out;
    }
    return Py_NewRef(v);
}

void pyflor_state_after_restore(void)
{
    if (!restore_pending)
        return;
    restore_pending = 0;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    for (CkptObject *c = active; c; c = c->next)
        for (size_t k = 0; k < c->n; k++) {
            entry *e = c->entries[k];
            if (!e->restored)
                continue;
            e->cursor = 0;
            /* the tensors are back in place; the rest of the state_dict
             * is applied only when it differs (or tensors were created) */
            int same = !e->created && e->skeleton &&
                       PyObject_RichCompareBool(e->skeleton, e->restored, Py_EQ) == 1;
            PyErr_Clear();
            if (same) {
                Py_CLEAR(e->restored);
                continue;
            }
            PyObject *sd = unmark(e, e->restored);
            PyObject *r = sd ? PyObject_CallMethod(e->obj, "load_state_dict", "O", sd) : NULL;
            if (!r)
                warn_exception("cannot restore", e->name);
            Py_XDECREF(r);
            Py_XDECREF(sd);
            Py_CLEAR(e->restored);
            refresh_entry(e); /* load_state_dict may have replaced tensors */
        }
    PyErr_Restore(type, value, tb);
}

PyObject *pyflor_restore(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    long long run;
    long iteration;
    if (nargs != 2 || (run = PyLong_AsLongLong(args[0])) == -1 ||
        (iteration = PyLong_AsLong(args[1])) == -1) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "_restore(run, iteration)");
        return NULL;
    }
    pyflor_state_refresh();
    flor_project *p = NULL;
    int rc = flor_project_open(&p, NULL);
    if (rc == 0)
        rc = flor_project_restore(p, run, iteration);
    flor_project_free(p);
    if (rc)
        return pyflor_raise(rc, NULL);
    pyflor_state_after_restore();
    Py_RETURN_NONE;
}

/* ---- entries: registering and releasing one object -------------------------------------------- */

static flor_dtype buffer_dtype(const Py_buffer *v)
{
    const char *f = v->format ? v->format : "B";
    if (*f == '<' || *f == '=' || *f == '@')
        f++;
    else if (*f == '>' || *f == '!')
        return FLOR_BYTES;
    if (f[0] && f[1])
        return FLOR_BYTES;
    switch (f[0]) {
    case 'f': return v->itemsize == 4 ? FLOR_F32 : FLOR_BYTES;
    case 'd': return v->itemsize == 8 ? FLOR_F64 : FLOR_BYTES;
    case 'e': return v->itemsize == 2 ? FLOR_F16 : FLOR_BYTES;
    case 'q': case 'l': case 'Q': case 'L':
        return v->itemsize == 8 ? FLOR_I64 : v->itemsize == 4 ? FLOR_I32 : FLOR_BYTES;
    case 'i': case 'I': return v->itemsize == 4 ? FLOR_I32 : FLOR_BYTES;
    case 'B': case 'b': case '?': return FLOR_U8;
    default: return FLOR_BYTES;
    }
}

static int is_ndarray(PyObject *obj)
{
    PyObject *np = pyflor_loaded_module("numpy");
    PyObject *nd = np ? PyObject_GetAttrString(np, "ndarray") : NULL;
    int yes = nd && PyType_Check(nd) && PyObject_TypeCheck(obj, (PyTypeObject *)nd);
    Py_XDECREF(nd);
    PyErr_Clear();
    return yes;
}

static int has_state_dict(PyObject *obj)
{
    PyObject *sd = PyObject_GetAttrString(obj, "state_dict");
    PyObject *ld = sd ? PyObject_GetAttrString(obj, "load_state_dict") : NULL;
    int yes = sd && ld && PyCallable_Check(sd) && PyCallable_Check(ld);
    Py_XDECREF(sd);
    Py_XDECREF(ld);
    PyErr_Clear();
    return yes;
}

/* A numpy array by its buffer; 0, or -1 when it must be pickled. */
static int register_buffer(entry *e)
{
    if (PyObject_GetBuffer(e->obj, &e->view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) <
        0) {
        PyErr_Clear();
        return -1;
    }
    e->has_view = 1;
    if (e->view.len == 0) { /* nothing to register: pickled instead */
        PyBuffer_Release(&e->view);
        e->has_view = 0;
        return -1;
    }
    int rc = flor_checkpoint_typed(e->name, e->view.buf, (size_t)e->view.len, buffer_dtype(&e->view),
                                   1);
    if (rc) {
        flor_warn("cannot register '%s' for checkpoints: %s", e->name, flor_errmsg());
        PyBuffer_Release(&e->view);
        e->has_view = 0;
        return -1;
    }
    return 0;
}

static int register_ops(entry *e)
{
    int rc = flor_checkpoint_ops(e->name, &pickle_ops, e, 1);
    if (rc) {
        flor_warn("cannot register '%s' for checkpoints: %s", e->name, flor_errmsg());
        return -1;
    }
    e->has_ops = 1;
    return 0;
}

/* Decides how OBJ is checkpointed and registers it. */
static void entry_register(entry *e)
{
    void *ptr;
    size_t nbytes;
    flor_dtype type;
    if (is_tensor(e->obj) && tensor_memory(e->obj, &ptr, &nbytes, &type) == 0) {
        e->kind = K_TENSOR;
        refresh_entry(e);
        return;
    }
    if (has_state_dict(e->obj)) {
        e->kind = K_STATE_DICT;
        if (register_ops(e) == 0)
            refresh_entry(e);
        return;
    }
    if (is_ndarray(e->obj)) {
        e->kind = K_BUFFER;
        if (register_buffer(e) == 0)
            return;
    }
    e->kind = K_PICKLE;
    register_ops(e);
}

static void entry_release(entry *e)
{
    sweep_regs(e, 1);
    free(e->regs);
    e->regs = NULL;
    e->capregs = 0;
    if (e->has_ops || e->has_view)
        flor_checkpoint_remove(e->name);
    e->has_ops = 0;
    if (e->has_view)
        PyBuffer_Release(&e->view);
    e->has_view = 0;
    Py_CLEAR(e->skeleton);
    Py_CLEAR(e->pending);
    Py_CLEAR(e->restored);
}

static void entry_free(entry *e)
{
    if (!e)
        return;
    entry_release(e);
    Py_CLEAR(e->obj);
    free(e->name);
    free(e);
}

/* ---- the context manager ---------------------------------------------------------------------- */

static void unlink_active(CkptObject *c)
{
    for (CkptObject **p = &active; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    c->next = NULL;
    if (!active && rng.has_ops) {
        flor_checkpoint_remove(rng.name);
        rng.has_ops = 0;
        Py_CLEAR(rng.pending);
    }
}

static void release_entries(CkptObject *c)
{
    for (size_t k = 0; k < c->n; k++)
        entry_free(c->entries[k]);
    free(c->entries);
    c->entries = NULL;
    c->n = 0;
}

static int ckpt_init(CkptObject *self, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) > 0) {
        PyErr_SetString(PyExc_TypeError, "flor.checkpointing takes keyword arguments only: "
                                         "flor.checkpointing(model=net, optimizer=opt)");
        return -1;
    }
    Py_XSETREF(self->objs, kwargs ? PyDict_Copy(kwargs) : PyDict_New());
    return self->objs ? 0 : -1;
}

static int make_entries(CkptObject *self)
{
    Py_ssize_t n = PyDict_GET_SIZE(self->objs), pos = 0;
    self->entries = calloc((size_t)n + 1, sizeof *self->entries);
    if (!self->entries) {
        PyErr_NoMemory();
        return -1;
    }
    PyObject *key, *value;
    while (PyDict_Next(self->objs, &pos, &key, &value)) {
        entry *e = calloc(1, sizeof *e);
        const char *name = PyUnicode_AsUTF8(key);
        if (!e || !name || !(e->name = strdup(name))) {
            free(e);
            return PyErr_Occurred() ? -1 : (PyErr_NoMemory(), -1);
        }
        e->obj = Py_NewRef(value);
        self->entries[self->n++] = e;
    }
    return 0;
}

static PyObject *ckpt_enter(CkptObject *self, PyObject *noargs)
{
    if (self->entered)
        return PyErr_Format(PyExc_RuntimeError, "flor.checkpointing: already entered");
    if (pyflor_ensure_started() < 0)
        return NULL;
    self->entered = 1;
    if (!pyflor_recording())
        Py_RETURN_NONE; /* FLOR_MODE=off: nothing to register */
    if (load_pickle() < 0 || make_entries(self) < 0) {
        release_entries(self);
        self->entered = 0;
        return NULL;
    }
    if (!active && !rng.has_ops)
        register_ops(&rng);
    self->next = active;
    active = self;
    for (size_t k = 0; k < self->n; k++)
        entry_register(self->entries[k]);
    Py_RETURN_NONE;
}

static void ckpt_leave(CkptObject *self)
{
    if (!self->entered)
        return;
    self->entered = 0;
    release_entries(self);
    unlink_active(self);
}

static PyObject *ckpt_exit(CkptObject *self, PyObject *args)
{
    ckpt_leave(self);
    Py_RETURN_FALSE;
}

static int ckpt_traverse(CkptObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->objs);
    return 0;
}

static void ckpt_dealloc(CkptObject *self)
{
    PyObject_GC_UnTrack(self);
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    ckpt_leave(self);
    PyErr_Restore(type, value, tb);
    Py_CLEAR(self->objs);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef ckpt_methods[] = {
    {"__enter__", (PyCFunction)ckpt_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)ckpt_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

PyTypeObject pyflor_CheckpointingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "flor.checkpointing",
    .tp_doc = "checkpointing(**objs)\n--\n\n"
              "A context manager: inside it, the objects given by keyword are checkpointed at\n"
              "the end of iterations of the outermost flor.loop.  torch Modules and\n"
              "Optimizers (anything with state_dict()) go tensor by tensor through libflor;\n"
              "numpy arrays through the buffer protocol; anything else is pickled.  The RNG\n"
              "states of random, numpy and torch are saved with every checkpoint.",
    .tp_basicsize = sizeof(CkptObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)ckpt_init,
    .tp_dealloc = (destructor)ckpt_dealloc,
    .tp_traverse = (traverseproc)ckpt_traverse,
    .tp_methods = ckpt_methods,
};
