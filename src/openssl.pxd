# The direct OpenSSL record path (openssl.h): libssl functions resolved at run time from the
# OpenSSL the interpreter's _ssl module loaded, and the socket BIO. Used by tls.pyx only.
cdef extern from "openssl.h":
    ctypedef struct SSL:
        pass
    ctypedef struct SSL_CTX:
        pass
    ctypedef struct BIO:
        pass
    ctypedef struct BIO_METHOD:
        pass

    int FR_SSL_ERROR_NONE, FR_SSL_ERROR_SSL, FR_SSL_ERROR_WANT_READ, FR_SSL_ERROR_WANT_WRITE
    int FR_SSL_ERROR_SYSCALL, FR_SSL_ERROR_ZERO_RETURN
    long FR_SSL_MODE_ENABLE_PARTIAL_WRITE, FR_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, FR_SSL_MODE_RELEASE_BUFFERS
    int FR_SSL_SENT_SHUTDOWN, FR_SSL_RECEIVED_SHUTDOWN

    ctypedef struct fr_tls_io:
        int fd
        int eof
        int error
        int hold
        int collect
        char *held
        size_t held_len

    ctypedef struct fr_openssl_api:
        int loaded
        int (*SSL_read_ex)(SSL *, void *, size_t, size_t *) nogil
        int (*SSL_write_ex)(SSL *, const void *, size_t, size_t *) nogil
        int (*SSL_get_error)(const SSL *, int) nogil
        int (*SSL_shutdown)(SSL *) nogil
        int (*SSL_get_shutdown)(const SSL *) nogil
        int (*SSL_has_pending)(const SSL *) nogil
        int (*SSL_pending)(const SSL *) nogil
        void (*SSL_set_read_ahead)(SSL *, int) nogil
        void (*SSL_set_bio)(SSL *, BIO *, BIO *) nogil
        BIO *(*SSL_get_rbio)(const SSL *) nogil
        BIO *(*SSL_get_wbio)(const SSL *) nogil
        SSL_CTX *(*SSL_get_SSL_CTX)(const SSL *) nogil
        BIO *(*BIO_new)(const BIO_METHOD *) nogil
        void (*BIO_set_data)(BIO *, void *) nogil
        unsigned long (*ERR_get_error)() nogil
        unsigned long (*ERR_peek_last_error)() nogil
        void (*ERR_clear_error)() nogil
        const char *(*ERR_reason_error_string)(unsigned long) nogil
        const char *(*ERR_lib_error_string)(unsigned long) nogil
        int (*SSL_free_buffers)(SSL *) nogil
        BIO_METHOD *socket_method

    fr_openssl_api fr_ossl
    void fr_tls_io_free(fr_tls_io *io)
    int fr_tls_io_send_held(fr_tls_io *io)
    int fr_openssl_load(const char *library, char *missing, size_t missing_len)
    SSL *fr_sslsocket_ssl(object o)
    SSL_CTX *fr_sslcontext_ctx(object o)
    BIO *fr_memorybio_bio(object o)
    void fr_err_reset()
    long fr_ssl_set_mode(SSL *ssl, long mode)
    long fr_ssl_clear_mode(SSL *ssl, long mode)
