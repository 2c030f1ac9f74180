/*
 * _mtk.c -- what flor.MTK (mtk.py) needs of libflor beyond the calls the
 * module already has: _probe(name), the seed's `probed=True`, which is
 * libflor's --probe for one loop (flor_probe).
 */
#include "_flor.h"

PyObject *pyflor_probe(PyObject *self, PyObject *name)
{
    const char *s = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    if (!s)
        return PyErr_Occurred() ? NULL
                                : PyErr_Format(PyExc_TypeError, "_probe: expected a loop name (str)");
    int rc = flor_probe(s);
    return rc ? pyflor_raise(rc, NULL) : Py_NewRef(Py_None);
}

/* _depth(): how many flor loops are open (0 outside any). */
PyObject *pyflor_depth(PyObject *self, PyObject *noargs)
{
    return PyLong_FromLong(pyflor_loop_depth());
}
