/* Emptying the write queue's list without giving back its item array.

   An echo queues one chunk per message and sends it at once, so the queue's list goes from empty
   to one item and back every message. Emptying a list through the C API frees its item array and
   the next append allocates it again (~160 instructions a message, ~6% of a small echo). A list
   whose array is small keeps it here; one grown by a burst still gives it back. */
#ifndef FASTREACTOR_QUEUE_LIST_H
#define FASTREACTOR_QUEUE_LIST_H

#include <Python.h>

#define FR_KEEP_LIST_ROOM 16

/* Remove every item of `list` (a list): 0, or -1 with an exception set. */
static inline int fr_list_clear_keeping_room(PyObject *list)
{
#ifndef Py_GIL_DISABLED
    PyListObject *l = (PyListObject *)list;
    Py_ssize_t i, n = Py_SIZE(l);
    PyObject *dropped[FR_KEEP_LIST_ROOM];
    if (l->allocated <= FR_KEEP_LIST_ROOM) {
        /* The list is consistent (empty) before any reference is dropped: a drop may run code
           (a bytes subclass's __del__) that appends to it. */
        for (i = 0; i < n; i++) {
            dropped[i] = l->ob_item[i];
            l->ob_item[i] = NULL;
        }
        Py_SET_SIZE(l, 0);
        for (i = 0; i < n; i++)
            Py_DECREF(dropped[i]);
        return 0;
    }
#endif
    return PyList_SetSlice(list, 0, PY_SSIZE_T_MAX, NULL);
}

#endif
