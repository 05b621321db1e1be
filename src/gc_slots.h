/* Garbage-collector slots for cdef classes that own object references in C arrays.

   Cython generates tp_traverse/tp_clear from a class's typed attributes only, so references kept in
   malloc'ed arrays (the loop's fd table, the timer heap) are invisible to the collector and a cycle
   through them is never freed. fr_gc_install() puts functions written in Cython into the type's slots
   and hands back the ones Cython generated, which the new functions call first. */
#ifndef FASTREACTOR_GC_SLOTS_H
#define FASTREACTOR_GC_SLOTS_H

#include <Python.h>

typedef int (*fr_visitproc)(PyObject *, void *);
typedef int (*fr_traverseproc)(PyObject *, fr_visitproc, void *);
typedef int (*fr_inquiry)(PyObject *);

/* Install traverse and clear into `type` (a class taking part in GC); NULL keeps that slot as it is.
   The previous slots (NULL when Cython made none, e.g. under no_gc_clear) are stored in
   *previous_traverse and *previous_clear. Subclasses made in Python look their base's slots up when
   they run, so they pick these up too. */
static int fr_gc_install(PyObject *type, fr_traverseproc traverse, fr_inquiry clear,
                         fr_traverseproc *previous_traverse, fr_inquiry *previous_clear) {
    PyTypeObject *t;
    if (!PyType_Check(type)) {
        PyErr_SetString(PyExc_TypeError, "fr_gc_install needs a type");
        return -1;
    }
    t = (PyTypeObject *)type;
    if (!PyType_HasFeature(t, Py_TPFLAGS_HAVE_GC)) {
        PyErr_Format(PyExc_TypeError, "%s does not take part in garbage collection", t->tp_name);
        return -1;
    }
    *previous_traverse = (fr_traverseproc)t->tp_traverse;
    *previous_clear = (fr_inquiry)t->tp_clear;
    if (traverse)
        t->tp_traverse = (traverseproc)traverse;
    if (clear)
        t->tp_clear = (inquiry)clear;
    return 0;
}

#endif
