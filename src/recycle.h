/* One spare bytes object for the stream read path.

   Every small read becomes a new bytes object for dataReceived: a malloc and, once the protocol
   is done with it, a free. Above 1,032 bytes glibc serves these from its slow path, so a 1 KiB echo
   paid ~350 instructions per message in malloc and free alone. When a bytes object that the engine
   is about to let go of (a sent chunk leaving the write queue, or data dataReceived did not keep)
   has no other reference, it is kept here; the next read of exactly its size is copied into it
   instead of a new object. Only an object nobody else can see is reused, so no caller can observe
   the change: this is what CPython itself relies on when it resizes a bytes in place.

   All under the GIL (the module's state is per process, like the read buffer in stream.pyx); off
   on free-threaded builds, where a reference count of 1 does not prove exclusive ownership. */
#ifndef FASTREACTOR_RECYCLE_H
#define FASTREACTOR_RECYCLE_H

#include <Python.h>
#include <string.h>

/* Sizes from here up go to dataReceived without a copy (stream.pyx HAND_OVER_AT). */
#define FR_RECYCLE_BELOW 16384

static PyObject *fr_spare_bytes = NULL;

/* Keep `o` (a borrowed reference) as the spare if it is a plain bytes object that only the
   caller holds. */
static inline void fr_offer_bytes(PyObject *o)
{
#ifndef Py_GIL_DISABLED
    if (Py_REFCNT(o) == 1 && PyBytes_CheckExact(o) && PyBytes_GET_SIZE(o) < FR_RECYCLE_BELOW) {
        PyObject *old = fr_spare_bytes;
        Py_INCREF(o);
        fr_spare_bytes = o;
        Py_XDECREF(old);        /* a bytes object's dealloc runs no Python code */
    }
#else
    (void)o;
#endif
}

/* A new reference to a bytes object holding `size` bytes copied from `data`: the spare when its
   size is exactly `size`, else a new object (NULL with an exception set on failure). */
static inline PyObject *fr_bytes_copy(const char *data, Py_ssize_t size)
{
    PyObject *o = fr_spare_bytes;
    if (o != NULL && PyBytes_GET_SIZE(o) == size && Py_REFCNT(o) == 1) {
        fr_spare_bytes = NULL;
        memcpy(PyBytes_AS_STRING(o), data, (size_t)size);
#if PY_VERSION_HEX < 0x030F0000
        /* The hash cached for the old contents (-1: none). The field is deprecated since 3.11
           but still the cache bytes_hash reads. */
#  ifdef _Py_COMP_DIAG_PUSH
        _Py_COMP_DIAG_PUSH
        _Py_COMP_DIAG_IGNORE_DEPR_DECLS
#  endif
        ((PyBytesObject *)o)->ob_shash = -1;
#  ifdef _Py_COMP_DIAG_POP
        _Py_COMP_DIAG_POP
#  endif
#else
#  error "check PyBytesObject's hash cache before building for this Python"
#endif
        return o;
    }
    return PyBytes_FromStringAndSize(data, size);
}

#endif
