/* Platform glue for fastreactor._core: one place for #ifdefs, so the Cython sources stay portable. */
#ifndef FASTREACTOR_COMPAT_H
#define FASTREACTOR_COMPAT_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <netdb.h>

#ifdef __linux__
#  include <sys/epoll.h>
#  include <sys/eventfd.h>
#  define FR_HAVE_EPOLL 1
#  define FR_HAVE_EVENTFD 1
#else
#  define FR_HAVE_EPOLL 0
#  define FR_HAVE_EVENTFD 0
   /* Stubs so the epoll backend compiles everywhere; it refuses to start where FR_HAVE_EPOLL is 0. */
   typedef union epoll_data { void *ptr; int fd; uint32_t u32; uint64_t u64; } epoll_data_t;
   struct epoll_event { uint32_t events; epoll_data_t data; };
#  define EPOLLIN 0x001
#  define EPOLLOUT 0x004
#  define EPOLLERR 0x008
#  define EPOLLHUP 0x010
#  define EPOLL_CTL_ADD 1
#  define EPOLL_CTL_DEL 2
#  define EPOLL_CTL_MOD 3
#  define EPOLL_CLOEXEC 0
   static inline int epoll_create1(int f) { (void)f; errno = ENOSYS; return -1; }
   static inline int epoll_ctl(int a, int b, int c, struct epoll_event *e) { (void)a; (void)b; (void)c; (void)e; errno = ENOSYS; return -1; }
   static inline int epoll_wait(int a, struct epoll_event *e, int m, int t) { (void)a; (void)e; (void)m; (void)t; errno = ENOSYS; return -1; }
   static inline int eventfd(unsigned int v, int f) { (void)v; (void)f; errno = ENOSYS; return -1; }
#  define EFD_CLOEXEC 0
#  define EFD_NONBLOCK 0
#endif

#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__) || defined(__DragonFly__)
#  include <sys/event.h>
#  define FR_HAVE_KQUEUE 1
#else
#  define FR_HAVE_KQUEUE 0
   struct kevent { uintptr_t ident; short filter; unsigned short flags; unsigned int fflags; intptr_t data; void *udata; };
#  define EVFILT_READ (-1)
#  define EVFILT_WRITE (-2)
#  define EV_ADD 0x0001
#  define EV_DELETE 0x0002
#  define EV_ERROR 0x4000
#  define EV_EOF 0x8000
#  define EV_SET(kevp, a, b, c, d, e, f) do { (kevp)->ident = (a); (kevp)->filter = (b); (kevp)->flags = (c); (kevp)->fflags = (d); (kevp)->data = (e); (kevp)->udata = (f); } while (0)
   static inline int kqueue(void) { errno = ENOSYS; return -1; }
   static inline int kevent(int kq, const struct kevent *c, int nc, struct kevent *e, int ne, const struct timespec *t) { (void)kq; (void)c; (void)nc; (void)e; (void)ne; (void)t; errno = ENOSYS; return -1; }
#endif

/* Sends never raise SIGPIPE: MSG_NOSIGNAL on every send where the platform has it (Linux, FreeBSD),
   and SO_NOSIGPIPE set once on every connected socket where the platform has that option (macOS,
   the BSDs), since macOS has no MSG_NOSIGNAL on older releases. */
#ifdef MSG_NOSIGNAL
#  define FR_SEND_FLAGS MSG_NOSIGNAL
#else
#  define FR_SEND_FLAGS 0
#endif

#ifdef SO_NOSIGPIPE
#  define FR_HAVE_SO_NOSIGPIPE 1
#else
#  define FR_HAVE_SO_NOSIGPIPE 0
#endif

/* Set SO_NOSIGPIPE on `fd` where the platform has it; a no-op returning 0 elsewhere (Linux relies
   on FR_SEND_FLAGS). Call it on every connected stream socket the engine sends on: accepted,
   connected and adopted ones. -1 with errno set if setsockopt fails. */
static inline int fr_set_nosigpipe(int fd) {
#if FR_HAVE_SO_NOSIGPIPE
    int one = 1;
    return setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#else
    (void)fd;
    return 0;
#endif
}

static inline int fr_set_nonblocking_cloexec(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -1;
    fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) return -1;
    return 0;
}

/* accept4 where it exists; accept + fcntl elsewhere. */
static inline int fr_accept(int fd, struct sockaddr *addr, socklen_t *len) {
#if defined(__linux__) || defined(__FreeBSD__)
    return accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    int c = accept(fd, addr, len);
    if (c >= 0 && (fr_set_nonblocking_cloexec(c) < 0 || fr_set_nosigpipe(c) < 0)) {
        int saved = errno; close(c); errno = saved; return -1;
    }
    return c;
#endif
}

static inline double fr_wall_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Numeric host, port (and for IPv6 flow info and scope) of a socket address; family 0 if not IP. */
static inline int fr_sockaddr_parts(const struct sockaddr *sa, char *host, size_t hostlen, int *port,
                                    unsigned int *flowinfo, unsigned int *scope) {
    *port = 0; *flowinfo = 0; *scope = 0; host[0] = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, (socklen_t)hostlen);
        *port = ntohs(in->sin_port);
        return AF_INET;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        /* getnameinfo keeps the zone of a link-local address ("fe80::1%eth0"), as Python does. */
        if (getnameinfo(sa, sizeof(struct sockaddr_in6), host, (socklen_t)hostlen, NULL, 0, NI_NUMERICHOST) != 0)
            inet_ntop(AF_INET6, &in6->sin6_addr, host, (socklen_t)hostlen);
        *port = ntohs(in6->sin6_port);
        *flowinfo = ntohl(in6->sin6_flowinfo);
        *scope = in6->sin6_scope_id;
        return AF_INET6;
    }
    return 0;
}

static inline int fr_set_int_option(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof(value));
}

static inline int fr_get_int_option(int fd, int level, int name) {
    int value = 0;
    socklen_t len = sizeof(value);
    if (getsockopt(fd, level, name, &value, &len) < 0) return -1;
    return value;
}

/* Close with an RST instead of a FIN: SO_LINGER on with a zero timeout. */
static inline void fr_set_abortive_close(int fd) {
    struct linger l;
    l.l_onoff = 1;
    l.l_linger = 0;
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

#ifndef IOV_MAX
#  define IOV_MAX 1024
#endif
/* Buffers one send is offered at most: everything one loop turn wrote, up to the kernel's limit
   (one sendmsg, and one TLS record for small writes, as Twisted joins its buffer). */
#define FR_IOV_BATCH (IOV_MAX < 1024 ? IOV_MAX : 1024)


/* ---- datagram sockets (src/datagram.pyx) ---- */
#include <sys/un.h>
#include <stddef.h>

#ifndef MSG_DONTWAIT
#  define MSG_DONTWAIT 0
#endif

/* recvmmsg/sendmmsg: Linux only here (the BSDs' signatures differ); elsewhere the datagram
   transport loops over recvfrom and sendmsg, and these stubs are never called. */
#if defined(__linux__)
#  define FR_HAVE_MMSG 1
   typedef struct mmsghdr fr_mmsghdr;
   static inline int fr_recvmmsg(int fd, fr_mmsghdr *v, unsigned int n, int f) { return recvmmsg(fd, v, n, f, NULL); }
   static inline int fr_sendmmsg(int fd, fr_mmsghdr *v, unsigned int n, int f) { return sendmmsg(fd, v, n, f); }
#else
#  define FR_HAVE_MMSG 0
   /* Our own type and names: FreeBSD declares recvmmsg/sendmmsg with other types. */
   typedef struct { struct msghdr msg_hdr; unsigned int msg_len; } fr_mmsghdr;
   static inline int fr_recvmmsg(int fd, fr_mmsghdr *v, unsigned int n, int f) { (void)fd; (void)v; (void)n; (void)f; errno = ENOSYS; return -1; }
   static inline int fr_sendmmsg(int fd, fr_mmsghdr *v, unsigned int n, int f) { (void)fd; (void)v; (void)n; (void)f; errno = ENOSYS; return -1; }
#endif

/* Where a sockaddr_un's path starts, and how long the structure is. */
#define FR_SUN_PATH_OFFSET ((socklen_t)offsetof(struct sockaddr_un, sun_path))
#define FR_SUN_PATH_MAX ((socklen_t)sizeof(((struct sockaddr_un *)0)->sun_path))

/* Fill a sockaddr_in from a host already in network order and a host-order port. */
static inline socklen_t fr_fill_sockaddr_in(struct sockaddr_storage *ss, const struct in_addr *a, int port) {
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    memset(in, 0, sizeof(*in));
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    in->sin_addr = *a;
    return (socklen_t)sizeof(*in);
}

static inline socklen_t fr_fill_sockaddr_in6(struct sockaddr_storage *ss, const void *a16, int port,
                                             unsigned int flowinfo, unsigned int scope) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    memset(in6, 0, sizeof(*in6));
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    in6->sin6_flowinfo = htonl(flowinfo);
    in6->sin6_scope_id = scope;
    memcpy(&in6->sin6_addr, a16, 16);
    return (socklen_t)sizeof(*in6);
}

/* A sockaddr_un for `path` (`len` bytes, no terminator needed; a leading NUL names Linux's
   abstract namespace). -1 if it does not fit. */
static inline int fr_fill_sockaddr_un(struct sockaddr_storage *ss, const char *path, size_t len, socklen_t *out) {
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    if (len >= sizeof(un->sun_path) + (len > 0 && path[0] == 0 ? 1 : 0)) return -1;
    memset(un, 0, sizeof(*un));
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, len);
    if (len > 0 && path[0] == 0)
        *out = FR_SUN_PATH_OFFSET + (socklen_t)len;
    else
        *out = FR_SUN_PATH_OFFSET + (socklen_t)len + 1;
    return 0;
}

/* Whether the deque `d` holds anything. A deque keeps its length in ob_size, so with the GIL this
   reads one field instead of PyObject_IsTrue's generic path (the loop asks twice an iteration);
   free-threaded builds ask PyObject_Size, which reads it under the deque's own lock. */
#include <Python.h>
static inline int fr_deque_nonempty(PyObject *d)
{
#ifdef Py_GIL_DISABLED
    return PyObject_Size(d) > 0;
#else
    return Py_SIZE(d) != 0;
#endif
}

/* Whether the calling thread is the only Python thread of its interpreter, on a build with a GIL.
   Then no other thread can be waiting for the GIL it holds, except one entering Python only now
   from a thread of its own (PyGILState_Ensure, a ctypes callback): the loop keeps the GIL through a
   wait only for a few milliseconds (Loop.poll_once), so such a thread waits no longer than that.
   Always 0 where the GIL is disabled: a blocked thread must detach for the others to stop the
   world (garbage collection). */
static inline int fr_only_python_thread(void)
{
#ifdef Py_GIL_DISABLED
    return 0;
#else
    PyThreadState *ts = PyThreadState_Get();
    return PyInterpreterState_ThreadHead(PyThreadState_GetInterpreter(ts)) == ts
           && PyThreadState_Next(ts) == NULL;
#endif
}

#endif
