/* The direct OpenSSL record path of the TLS layer (tls.pyx): the few libssl/libcrypto functions
 * it calls, found at run time in the OpenSSL that the interpreter's _ssl module has already
 * loaded (no OpenSSL headers, no link flag, no second OpenSSL), and a BIO that does recv/send on
 * the connection's socket, so OpenSSL reads ciphertext straight from the socket into its own
 * buffer and writes records straight out (no ssl.MemoryBIO copies, no Python object per record).
 *
 * Only the types' names are needed: every OpenSSL object is opaque here. The prototypes and
 * constants below are OpenSSL 1.1.1's and 3.x's public, stable ABI. */
#ifndef FR_OPENSSL_H
#define FR_OPENSSL_H

#include <Python.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "compat.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct bio_st BIO;
typedef struct bio_method_st BIO_METHOD;

#define FR_SSL_ERROR_NONE 0
#define FR_SSL_ERROR_SSL 1
#define FR_SSL_ERROR_WANT_READ 2
#define FR_SSL_ERROR_WANT_WRITE 3
#define FR_SSL_ERROR_SYSCALL 5
#define FR_SSL_ERROR_ZERO_RETURN 6

#define FR_SSL_CTRL_MODE 33
#define FR_SSL_CTRL_CLEAR_MODE 78
#define FR_SSL_MODE_RELEASE_BUFFERS 0x10L
#define FR_SSL_MODE_ENABLE_PARTIAL_WRITE 0x1L
#define FR_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER 0x2L
#define FR_SSL_SENT_SHUTDOWN 1
#define FR_SSL_RECEIVED_SHUTDOWN 2

#define FR_BIO_TYPE_SOURCE_SINK 0x0400
#define FR_BIO_FLAGS_READ 0x01
#define FR_BIO_FLAGS_WRITE 0x02
#define FR_BIO_FLAGS_RWS 0x07
#define FR_BIO_FLAGS_SHOULD_RETRY 0x08
#define FR_BIO_CTRL_FLUSH 11

/* Where a connection's BIO does its I/O and what it met there; lives in the TLSLayer, which
 * detaches it (BIO data NULL) before it goes away. `collect`: writes are kept in `held` instead
 * of sent (during the handshake, whose flights the layer sends itself, in Twisted's order).
 * `hold`: bytes the layer queued earlier are still going out, so writes are kept in `held`
 * behind them. After the handshake, what the socket does not take of a write is kept in `held`
 * too (the layer sends it on writability, fr_tls_io_send_held), and later writes queue behind
 * it: a write never fails with "retry", so OpenSSL never holds a partly sent record. It must
 * not: a handshake message OpenSSL writes from inside SSL_read (the answer to a TLS 1.3
 * post-handshake certificate request) while it holds one fails the session (BAD_LENGTH). */
typedef struct {
    int fd;
    int eof;          /* recv returned 0 */
    int error;        /* errno of a failed recv/send other than EAGAIN, else 0 */
    int hold;
    int collect;
    char *held;
    size_t held_len, held_cap;
} fr_tls_io;

static void fr_tls_io_free(fr_tls_io *io) {
    free(io->held);
    io->held = NULL;
    io->held_len = io->held_cap = 0;
}

typedef struct {
    int loaded;
    int (*SSL_read_ex)(SSL *, void *, size_t, size_t *);
    int (*SSL_write_ex)(SSL *, const void *, size_t, size_t *);
    int (*SSL_get_error)(const SSL *, int);
    int (*SSL_shutdown)(SSL *);
    int (*SSL_get_shutdown)(const SSL *);
    int (*SSL_has_pending)(const SSL *);
    int (*SSL_pending)(const SSL *);
    long (*SSL_ctrl)(SSL *, int, long, void *);
    void (*SSL_set_read_ahead)(SSL *, int);
    void (*SSL_set_bio)(SSL *, BIO *, BIO *);
    BIO *(*SSL_get_rbio)(const SSL *);
    BIO *(*SSL_get_wbio)(const SSL *);
    SSL_CTX *(*SSL_get_SSL_CTX)(const SSL *);
    int (*BIO_get_new_index)(void);
    BIO_METHOD *(*BIO_meth_new)(int, const char *);
    int (*BIO_meth_set_write)(BIO_METHOD *, int (*)(BIO *, const char *, int));
    int (*BIO_meth_set_read)(BIO_METHOD *, int (*)(BIO *, char *, int));
    int (*BIO_meth_set_ctrl)(BIO_METHOD *, long (*)(BIO *, int, long, void *));
    int (*BIO_meth_set_create)(BIO_METHOD *, int (*)(BIO *));
    BIO *(*BIO_new)(const BIO_METHOD *);
    void (*BIO_set_data)(BIO *, void *);
    void *(*BIO_get_data)(BIO *);
    void (*BIO_set_init)(BIO *, int);
    void (*BIO_set_flags)(BIO *, int);
    void (*BIO_clear_flags)(BIO *, int);
    unsigned long (*ERR_get_error)(void);
    unsigned long (*ERR_peek_error)(void);
    unsigned long (*ERR_peek_last_error)(void);
    void (*ERR_clear_error)(void);
    const char *(*ERR_reason_error_string)(unsigned long);
    const char *(*ERR_lib_error_string)(unsigned long);
    int (*SSL_free_buffers)(SSL *);     /* optional (NULL: OpenSSL releases buffers itself) */
    BIO_METHOD *socket_method;
} fr_openssl_api;

static fr_openssl_api fr_ossl;

/* ---- the socket BIO ------------------------------------------------------------------------ */

/* The connection's fr_tls_io for a read or write callback, with the BIO's retry flags cleared;
 * NULL with errno EBADF once the layer has detached it or closed the descriptor. */
static fr_tls_io *fr_bio_io(BIO *bio) {
    fr_tls_io *io = (fr_tls_io *)fr_ossl.BIO_get_data(bio);
    fr_ossl.BIO_clear_flags(bio, FR_BIO_FLAGS_RWS | FR_BIO_FLAGS_SHOULD_RETRY);
    if (io == NULL || io->fd < 0) {
        errno = EBADF;
        return NULL;
    }
    return io;
}

static int fr_bio_read(BIO *bio, char *buf, int len) {
    fr_tls_io *io = fr_bio_io(bio);
    ssize_t n;
    if (io == NULL)
        return -1;
    n = recv(io->fd, buf, (size_t)len, 0);
    if (n > 0)
        return (int)n;
    if (n == 0) {
        io->eof = 1;
        return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        fr_ossl.BIO_set_flags(bio, FR_BIO_FLAGS_READ | FR_BIO_FLAGS_SHOULD_RETRY);
        return -1;
    }
    io->error = errno;
    return -1;
}

/* Append `len` bytes to `held`: 0, or -1 (io->error ENOMEM) if it cannot grow. */
static int fr_tls_io_keep(fr_tls_io *io, const char *buf, size_t len) {
    if (io->held_len + len > io->held_cap) {
        size_t cap = io->held_cap ? io->held_cap : 4096;
        char *grown;
        while (cap < io->held_len + len)
            cap *= 2;
        grown = (char *)realloc(io->held, cap);
        if (grown == NULL) {
            io->error = ENOMEM;
            return -1;
        }
        io->held = grown;
        io->held_cap = cap;
    }
    memcpy(io->held + io->held_len, buf, len);
    io->held_len += len;
    return 0;
}

/* Send what `held` has, from its start: 0 once it is empty, 1 if the socket is full, -1 with
 * errno for an error. */
static int fr_tls_io_send_held(fr_tls_io *io) {
    ssize_t n;
    while (io->held_len) {
        n = send(io->fd, io->held, io->held_len, FR_SEND_FLAGS);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
                return 1;
            return -1;
        }
        memmove(io->held, io->held + n, io->held_len - (size_t)n);
        io->held_len -= (size_t)n;
    }
    return 0;
}

static int fr_bio_write(BIO *bio, const char *buf, int len) {
    fr_tls_io *io = fr_bio_io(bio);
    ssize_t n;
    if (io == NULL)
        return -1;
    if (io->collect || io->hold || io->held_len)
        return fr_tls_io_keep(io, buf, (size_t)len) < 0 ? -1 : len;
    n = send(io->fd, buf, (size_t)len, FR_SEND_FLAGS);
    if (n == len)
        return len;
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ENOBUFS) {
            io->error = errno;
            return -1;
        }
        n = 0;
    }
    /* The socket is full: the rest waits in `held` (see fr_tls_io). */
    return fr_tls_io_keep(io, buf + n, (size_t)(len - n)) < 0 ? -1 : len;
}

static long fr_bio_ctrl(BIO *bio, int cmd, long num, void *ptr) {
    (void)bio; (void)num; (void)ptr;
    return cmd == FR_BIO_CTRL_FLUSH ? 1 : 0;   /* nothing is buffered here */
}

static int fr_bio_create(BIO *bio) {
    fr_ossl.BIO_set_init(bio, 1);
    return 1;
}

/* ---- loading ------------------------------------------------------------------------------- */

#define FR_RESOLVE(name) \
    if ((*(void **)&api.name = dlsym(handle, #name)) == NULL) { \
        snprintf(missing, missing_len, "%s", #name); goto fail; }

/* Resolve every function from `library` (the path of the loaded _ssl extension, opened with
 * RTLD_NOLOAD so nothing new is loaded; its handle's lookup scope includes its libssl and
 * libcrypto), and make the socket BIO method. 0 on success; -1 with the missing name in
 * `missing` (nothing is changed then). */
static int fr_openssl_load(const char *library, char *missing, size_t missing_len) {
    fr_openssl_api api;
    void *handle;
    if (fr_ossl.loaded)
        return 0;
    memset(&api, 0, sizeof(api));
    handle = dlopen(library, RTLD_NOW | RTLD_NOLOAD);
    if (handle == NULL) {
        snprintf(missing, missing_len, "dlopen: %s", dlerror());
        return -1;
    }
    FR_RESOLVE(SSL_read_ex)
    FR_RESOLVE(SSL_write_ex)
    FR_RESOLVE(SSL_get_error)
    FR_RESOLVE(SSL_shutdown)
    FR_RESOLVE(SSL_get_shutdown)
    FR_RESOLVE(SSL_has_pending)
    FR_RESOLVE(SSL_pending)
    FR_RESOLVE(SSL_ctrl)
    FR_RESOLVE(SSL_set_read_ahead)
    FR_RESOLVE(SSL_set_bio)
    FR_RESOLVE(SSL_get_rbio)
    FR_RESOLVE(SSL_get_wbio)
    FR_RESOLVE(SSL_get_SSL_CTX)
    FR_RESOLVE(BIO_get_new_index)
    FR_RESOLVE(BIO_meth_new)
    FR_RESOLVE(BIO_meth_set_write)
    FR_RESOLVE(BIO_meth_set_read)
    FR_RESOLVE(BIO_meth_set_ctrl)
    FR_RESOLVE(BIO_meth_set_create)
    FR_RESOLVE(BIO_new)
    FR_RESOLVE(BIO_set_data)
    FR_RESOLVE(BIO_get_data)
    FR_RESOLVE(BIO_set_init)
    FR_RESOLVE(BIO_set_flags)
    FR_RESOLVE(BIO_clear_flags)
    FR_RESOLVE(ERR_get_error)
    FR_RESOLVE(ERR_peek_error)
    FR_RESOLVE(ERR_peek_last_error)
    FR_RESOLVE(ERR_clear_error)
    FR_RESOLVE(ERR_reason_error_string)
    FR_RESOLVE(ERR_lib_error_string)
    *(void **)&api.SSL_free_buffers = dlsym(handle, "SSL_free_buffers");
    /* The handle stays open: the functions must outlive this call (_ssl is never unloaded). */
    api.socket_method = api.BIO_meth_new(api.BIO_get_new_index() | FR_BIO_TYPE_SOURCE_SINK,
                                         "fastreactor socket");
    if (api.socket_method == NULL) {
        snprintf(missing, missing_len, "BIO_meth_new failed");
        goto fail;
    }
    api.BIO_meth_set_read(api.socket_method, fr_bio_read);
    api.BIO_meth_set_write(api.socket_method, fr_bio_write);
    api.BIO_meth_set_ctrl(api.socket_method, fr_bio_ctrl);
    api.BIO_meth_set_create(api.socket_method, fr_bio_create);
    api.loaded = 1;
    fr_ossl = api;
    return 0;
fail:
    dlclose(handle);
    return -1;
}

/* ---- the SSL* inside CPython's objects ------------------------------------------------------
 * _ssl._SSLSocket (PySSLSocket), _ssl._SSLContext (PySSLContext) and _ssl.MemoryBIO
 * (PySSLMemoryBIO) begin, in CPython 3.8 through 3.14, with PyObject_HEAD then, respectively,
 * `PyObject *Socket; SSL *ssl;`, `SSL_CTX *ctx;` and `BIO *bio;`. tls.pyx trusts a pointer read
 * here only when all three agree with each other (the SSL's context is the context's SSL_CTX,
 * its read and write BIOs are the two MemoryBIOs' BIOs). */
typedef struct { PyObject_HEAD PyObject *socket; SSL *ssl; } fr_py_sslsocket;
typedef struct { PyObject_HEAD SSL_CTX *ctx; } fr_py_sslcontext;
typedef struct { PyObject_HEAD BIO *bio; } fr_py_memorybio;

static SSL *fr_sslsocket_ssl(PyObject *o) { return ((fr_py_sslsocket *)o)->ssl; }
static SSL_CTX *fr_sslcontext_ctx(PyObject *o) { return ((fr_py_sslcontext *)o)->ctx; }
static BIO *fr_memorybio_bio(PyObject *o) { return ((fr_py_memorybio *)o)->bio; }

/* SSL_get_error trusts the thread's error queue: an error another library left there would turn a
 * want-read into SSL_ERROR_SSL. So the queue is emptied before each batch of SSL calls (a peek
 * when it is already empty, the usual case). */
static void fr_err_reset(void) {
    if (fr_ossl.ERR_peek_error() != 0)
        fr_ossl.ERR_clear_error();
}

static long fr_ssl_set_mode(SSL *ssl, long mode) {
    return fr_ossl.SSL_ctrl(ssl, FR_SSL_CTRL_MODE, mode, NULL);
}

static long fr_ssl_clear_mode(SSL *ssl, long mode) {
    return fr_ossl.SSL_ctrl(ssl, FR_SSL_CTRL_CLEAR_MODE, mode, NULL);
}

#endif
