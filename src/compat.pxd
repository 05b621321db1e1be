# C declarations for the system calls the core uses (see compat.h for the per-platform glue).
from libc.stdint cimport uint16_t, uint32_t, uint64_t, uintptr_t, intptr_t
from libc.errno cimport errno

cdef extern from "compat.h" nogil:
    int FR_HAVE_EPOLL
    int FR_HAVE_KQUEUE
    int FR_HAVE_EVENTFD
    int FR_SEND_FLAGS
    int FR_HAVE_SO_NOSIGPIPE
    enum: FR_IOV_BATCH     # a constant: the size of on-stack iovec arrays

    ctypedef unsigned int socklen_t


    struct sockaddr:
        unsigned short sa_family
    struct sockaddr_storage:
        unsigned short ss_family
    struct in_addr:
        uint32_t s_addr
    struct sockaddr_in:
        unsigned short sin_family
        unsigned short sin_port
        in_addr sin_addr
    uint16_t ntohs(uint16_t)
    struct iovec:
        void *iov_base
        size_t iov_len
    struct msghdr:
        void *msg_name
        socklen_t msg_namelen
        iovec *msg_iov
        size_t msg_iovlen
        void *msg_control
        size_t msg_controllen
        int msg_flags

    # sockets
    int AF_INET, AF_INET6, AF_UNIX, SOCK_STREAM
    int SOL_SOCKET, SO_ERROR, SHUT_WR, SHUT_RDWR
    int socket(int, int, int)
    int fr_accept(int fd, sockaddr *addr, socklen_t *len)
    ssize_t recv(int fd, void *buf, size_t n, int flags)
    ssize_t send(int fd, const void *buf, size_t n, int flags)
    ssize_t sendmsg(int fd, const msghdr *msg, int flags)
    int shutdown(int fd, int how)
    int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
    int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
    int close(int fd)
    ssize_t read(int fd, void *buf, size_t n)
    ssize_t write(int fd, const void *buf, size_t n)
    int pipe(int fds[2])
    int fr_set_nonblocking_cloexec(int fd)
    int fr_set_nosigpipe(int fd)
    double fr_wall_seconds()
    int fr_sockaddr_parts(const sockaddr *sa, char *host, size_t hostlen, int *port,
                          unsigned int *flowinfo, unsigned int *scope)
    int fr_set_int_option(int fd, int level, int name, int value)
    int fr_get_int_option(int fd, int level, int name)
    void fr_set_abortive_close(int fd)
    int getsockname(int fd, sockaddr *addr, socklen_t *len)
    int getpeername(int fd, sockaddr *addr, socklen_t *len)
    int IPPROTO_TCP, TCP_NODELAY, SO_KEEPALIVE, INET6_ADDRSTRLEN

    # errno values
    int EAGAIN, EWOULDBLOCK, EINTR, EINPROGRESS, EMFILE, ENFILE, ENOBUFS, ENOMEM
    int ECONNABORTED, EPERM, EPIPE, ECONNRESET, ENOTCONN, EBADF, EINVAL, ENOSYS

    # epoll
    ctypedef union epoll_data_t:
        uint64_t u64
        int fd
    struct epoll_event:
        uint32_t events
        epoll_data_t data
    uint32_t EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP
    int EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL, EPOLL_CLOEXEC
    int epoll_create1(int flags)
    int epoll_ctl(int epfd, int op, int fd, epoll_event *ev)
    int epoll_wait(int epfd, epoll_event *evs, int maxevents, int timeout)

    # eventfd
    int EFD_CLOEXEC, EFD_NONBLOCK
    int eventfd(unsigned int initval, int flags)

    # poll / select
    struct pollfd:
        int fd
        short events
        short revents
    short POLLIN, POLLOUT, POLLERR, POLLHUP, POLLNVAL
    int poll(pollfd *fds, unsigned long nfds, int timeout)
    ctypedef struct fd_set:
        pass
    struct timeval:
        long tv_sec
        long tv_usec
    int FD_SETSIZE
    void FD_ZERO(fd_set *s)
    void FD_SET(int fd, fd_set *s)
    void FD_CLR(int fd, fd_set *s)
    int FD_ISSET(int fd, fd_set *s)
    int select(int n, fd_set *r, fd_set *w, fd_set *e, timeval *t)

    # kqueue
    struct timespec:
        long tv_sec
        long tv_nsec
    struct kevent_t "kevent":
        uintptr_t ident
        short filter
        unsigned short flags
        unsigned int fflags
        intptr_t data
        void *udata
    short EVFILT_READ, EVFILT_WRITE
    unsigned short EV_ADD, EV_DELETE, EV_ERROR, EV_EOF
    void EV_SET(kevent_t *kev, uintptr_t ident, short filter, unsigned short flags, unsigned int fflags, intptr_t data, void *udata)
    int kqueue()
    int kevent(int kq, const kevent_t *changes, int nchanges, kevent_t *events, int nevents, const timespec *timeout)

    # datagram sockets (src/datagram.pyx)
    int FR_HAVE_MMSG
    int SOCK_DGRAM, MSG_DONTWAIT, MSG_TRUNC
    int EMSGSIZE, ECONNREFUSED
    socklen_t FR_SUN_PATH_OFFSET, FR_SUN_PATH_MAX
    struct in6_addr:
        unsigned char s6_addr[16]
    ctypedef struct mmsghdr "fr_mmsghdr":
        msghdr msg_hdr
        unsigned int msg_len
    int recvmmsg "fr_recvmmsg"(int fd, mmsghdr *vec, unsigned int n, int flags)
    int sendmmsg "fr_sendmmsg"(int fd, mmsghdr *vec, unsigned int n, int flags)
    ssize_t recvfrom(int fd, void *buf, size_t n, int flags, sockaddr *addr, socklen_t *len)
    ssize_t sendto(int fd, const void *buf, size_t n, int flags, const sockaddr *addr, socklen_t len)
    int inet_pton(int af, const char *src, void *dst)
    socklen_t fr_fill_sockaddr_in(sockaddr_storage *ss, const in_addr *a, int port)
    socklen_t fr_fill_sockaddr_in6(sockaddr_storage *ss, const void *a16, int port,
                                   unsigned int flowinfo, unsigned int scope)
    int fr_fill_sockaddr_un(sockaddr_storage *ss, const char *path, size_t length, socklen_t *out)
