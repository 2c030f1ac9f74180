/*
 * _value.c -- the value of a loop's iteration (flor_loop_value_*): the
 * item flor.loop yields, or flor.iteration's VALUE, when it is a scalar,
 * so that the dataframe shows `for epoch in flor.loop("epoch", range(1, 6))`
 * as epochs 1 .. 5, and FlorDB's `loops.loop_value` has it.
 */
#include "_flor.h"

void pyflor_loop_value(flor_loop *loop, PyObject *item)
{
    if (!pyflor_libflor_usable() || !item || item == Py_None)
        return;
    PyObject *scalar = NULL;
    if (PyTuple_Check(item) || PyList_Check(item) || PyDict_Check(item))
        return; /* a batch, never a scalar: no attribute lookups */
    if (!PyLong_Check(item) && !PyFloat_Check(item) && !PyUnicode_Check(item)) {
        scalar = pyflor_scalar_item(item);
        if (!scalar)
            return;
        item = scalar;
    }
    if (PyFloat_Check(item)) {
        flor_loop_value_double(loop, PyFloat_AsDouble(item));
    } else if (PyLong_Check(item)) { /* bool included: 0 or 1 */
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(item, &overflow);
        if (!overflow && !(x == -1 && PyErr_Occurred()))
            flor_loop_value_int64(loop, (int64_t)x);
    } else if (PyUnicode_Check(item)) {
        const char *s = PyUnicode_AsUTF8(item);
        if (s)
            flor_loop_value_text(loop, s);
    }
    PyErr_Clear(); /* a value that cannot be recorded is left out */
    Py_XDECREF(scalar);
}
