/*
 * echo_python.h: the part of bench/c_echo.c that c_echo_python adds (built with
 * -DECHO_PYTHON_PROTOCOL): every message goes through a Python protocol's dataReceived, which
 * echoes it with self.transport.write(data), exactly as the Python echo servers' protocols do.
 *
 * This is the floor for any reactor that hands each message to a Python protocol: the C floor's
 * syscalls and buffering, plus only what such a reactor cannot avoid (one bytes object per
 * message, the dataReceived method call, the protocol's frame, and transport.write as a C method).
 * It holds the GIL throughout (no other thread can run), has no timers, no signal checks, no write
 * queue in Python objects, and reuses the delivered bytes object when the protocol let go of it.
 * A reactor's server CPU per message minus this one's is what its engine costs; this one's minus
 * c_echo's is what the Python protocol costs.
 */
#ifndef FASTREACTOR_BENCH_ECHO_PYTHON_H
#define FASTREACTOR_BENCH_ECHO_PYTHON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

static int echo(int ep, int fd, const char *data, size_t n);

static int python_ep = -1;              /* the epoll descriptor, for Transport.write */
static PyObject **python_protocols;     /* each connection's protocol, by descriptor */
static PyObject *python_protocol_class;
static PyObject *python_data_received;  /* the interned name "dataReceived" */
static PyObject *python_spare;          /* a delivered bytes object nothing else holds */

typedef struct {
    PyObject_HEAD
    int fd;
} Transport;

/* Transport.write(data): echo() the bytes, buffering what the socket does not take. */
static PyObject *transport_write(PyObject *self, PyObject *data) {
    Transport *t = (Transport *)self;
    int rc;
    if (PyBytes_CheckExact(data)) {
        rc = echo(python_ep, t->fd, PyBytes_AS_STRING(data), (size_t)PyBytes_GET_SIZE(data));
    } else {
        Py_buffer view;
        if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) return NULL;
        rc = echo(python_ep, t->fd, view.buf, (size_t)view.len);
        PyBuffer_Release(&view);
    }
    if (rc < 0) return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

static PyMethodDef transport_methods[] = {
    {"write", transport_write, METH_O, "Send data (buffered if the socket is full)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject TransportType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "c_echo_python.Transport",
    .tp_basicsize = sizeof(Transport),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_methods = transport_methods,
};

static const char PROTOCOL_SOURCE[] =
    "class Echo:\n"
    "    transport = None\n"
    "    def dataReceived(self, data):\n"
    "        self.transport.write(data)\n";

static void python_fail(const char *what) {
    PyErr_Print();
    fprintf(stderr, "c_echo_python: %s\n", what);
    exit(2);
}

/* Start the interpreter (its home is the one this program was built against) and define Echo. */
static void python_init(int ep, int max_fds) {
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    PyConfig_SetBytesString(&config, &config.home, ECHO_PYTHON_HOME);
    if (PyStatus_Exception(Py_InitializeFromConfig(&config))) {
        fprintf(stderr, "c_echo_python: Py_InitializeFromConfig failed\n");
        exit(2);
    }
    PyConfig_Clear(&config);
    if (PyType_Ready(&TransportType) < 0) python_fail("PyType_Ready");
    PyObject *globals = PyDict_New();
    PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
    PyObject *r = PyRun_String(PROTOCOL_SOURCE, Py_file_input, globals, globals);
    if (!r) python_fail("defining Echo");
    Py_DECREF(r);
    python_protocol_class = PyDict_GetItemString(globals, "Echo");
    Py_INCREF(python_protocol_class);
    python_data_received = PyUnicode_InternFromString("dataReceived");
    python_protocols = calloc((size_t)max_fds, sizeof *python_protocols);
    if (!python_protocols) die("calloc");
    python_ep = ep;
}

/* A new connection: build its protocol and give it a transport. */
static void python_connect(int fd) {
    PyObject *protocol = PyObject_CallNoArgs(python_protocol_class);
    Transport *t = PyObject_New(Transport, &TransportType);
    if (!protocol || !t) python_fail("building the protocol");
    t->fd = fd;
    if (PyObject_SetAttrString(protocol, "transport", (PyObject *)t) < 0) python_fail("transport");
    Py_DECREF(t);
    python_protocols[fd] = protocol;
}

static void python_disconnect(int fd) {
    Py_CLEAR(python_protocols[fd]);
}

/* Hand n bytes read on fd to its protocol's dataReceived; -1 if it raised. */
static int python_deliver(int fd, const char *buf, size_t n) {
    PyObject *data = python_spare;
    if (data && (size_t)PyBytes_GET_SIZE(data) == n) {
        python_spare = NULL;
        memcpy(PyBytes_AS_STRING(data), buf, n);
        ((PyBytesObject *)data)->ob_shash = -1;
    } else {
        data = PyBytes_FromStringAndSize(buf, (Py_ssize_t)n);
        if (!data) return -1;
    }
    PyObject *r = PyObject_CallMethodOneArg(python_protocols[fd], python_data_received, data);
    if (!r) {
        PyErr_Print();
        Py_DECREF(data);
        return -1;
    }
    Py_DECREF(r);
    if (Py_REFCNT(data) == 1 && python_spare == NULL) {
        python_spare = data;
    } else {
        Py_DECREF(data);
    }
    return 0;
}

#endif
