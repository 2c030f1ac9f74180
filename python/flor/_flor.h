/*
 * _flor.h -- what the C files of the extension module flor._flor share.
 *
 * The module is three files over libflor's public API (flor.h) and the
 * CPython C API:
 *   _flor.c   the module: the run's lifecycle (lazy flor_init, exit
 *             hooks), flor.arg, flor.log, flor.commit, the read side
 *             (dataframe, query) and the CLI entry point;
 *   _loop.c   flor.loop (an iterator type) and flor.iteration (a context
 *             manager), and the progress line;
 *   _state.c  flor.checkpointing: torch state_dicts, numpy arrays and
 *             pickled objects registered as checkpointed state.
 * Names private to the extension start with pyflor_.
 */
#ifndef PYFLOR_H
#define PYFLOR_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <flor.h>

/* ---- _flor.c ------------------------------------------------------------ */

/* Sets the Python exception that matches flor error RC, with flor_errmsg()
 * as its message (prefixed by WHAT when not NULL); returns NULL. */
PyObject *pyflor_raise(int rc, const char *what);

/* Starts the run on first use (flor_init), on the calling thread.
 * Returns 0, or -1 with an exception set. */
int pyflor_ensure_started(void);

/* True when training calls should reach libflor: the run was started in
 * this process (not in a child forked from it) and libflor records. */
int pyflor_recording(void);

/* False in a child forked from the recording process, and once the
 * interpreter is exiting: loops then count iterations without libflor
 * (whose threads a forked child does not have). */
int pyflor_libflor_usable(void);

/* Logs VALUE under NAME outside any Python checks (the typed dispatch of
 * flor.log); 0 or -1 with an exception set. */
int pyflor_log_value(const char *name, PyObject *value);

/* A numpy scalar's, 0-d array's or 0-d tensor's .item() (a new
 * reference), else NULL with no exception. */
PyObject *pyflor_scalar_item(PyObject *v);

/* ---- _value.c ----------------------------------------------------------- */

/* Records ITEM as the value of LOOP's current iteration when it is a
 * scalar (int, float, str, bool, or a 0-d numpy/torch scalar); anything
 * else is no value.  Never fails: a value that cannot be recorded is
 * left out. */
void pyflor_loop_value(flor_loop *loop, PyObject *item);

/* The module torch or numpy if the program already imported it, else
 * NULL (borrowed; no exception).  flor never imports them itself. */
PyObject *pyflor_loaded_module(const char *name);

/* ---- _loop.c ------------------------------------------------------------ */

extern PyTypeObject pyflor_LoopType;
extern PyTypeObject pyflor_IterationType;

/* flor.loop(name, iterable) */
PyObject *pyflor_loop(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

/* Number of flor loops and iterations open in Python right now. */
int pyflor_loop_depth(void);

/* _mtk.c: _probe(name), a loop run rather than skipped in a replay. */
PyObject *pyflor_probe(PyObject *self, PyObject *name);
/* _mtk.c: _depth(), the number of open flor loops. */
PyObject *pyflor_depth(PyObject *self, PyObject *noargs);

/* ---- _state.c ----------------------------------------------------------- */

extern PyTypeObject pyflor_CheckpointingType;

/* Called before every libflor call that may take a checkpoint (a boundary
 * of an outermost loop): re-registers what changed in the registered
 * state_dicts.  Never raises: problems become warnings. */
void pyflor_state_refresh(void);

/* Called after every libflor loop call: when libflor restored state (a
 * replay), finishes what in-place restores cannot do (state_dict parts
 * that are not tensors).  Never raises. */
void pyflor_state_after_restore(void);

/* The RNG states are saved twice per checkpoint: at the iteration's end,
 * and when the iteration's first nested loop ended (nested_end, called by
 * the loops in a record).  A replay that skips that nested loop, restoring
 * the checkpoint in its place (pyflor_restoring_mid set around the
 * libflor call), gets the second: the code after the loop then draws the
 * random numbers the record drew.  boundary_passed: after each boundary
 * of the checkpointed loop. */
void pyflor_state_nested_end(void);
void pyflor_state_boundary_passed(void);
extern int pyflor_restoring_mid;

/* Private flor._flor._restore(run, iteration): restores the registered
 * state from a checkpoint of RUN, in place (used by the tests). */
PyObject *pyflor_restore(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

#endif /* PYFLOR_H */
