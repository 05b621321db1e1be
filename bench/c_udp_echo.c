/*
 * c_udp_echo: a plain C UDP echo server, the floor of the fastreactor UDP benchmark.
 *
 *   c_udp_echo [PORT]      (default 0: the kernel picks a port)
 *
 * Prints "PORT <port> PID <pid>" on stdout once bound to 127.0.0.1, then serves until killed:
 * level-triggered epoll; per readiness one recvmmsg of up to 32 datagrams (buffers of 8 KiB,
 * the Python servers' maxPacketSize), answered by one sendmmsg to their senders.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 32
#define PACKET 8192

static char bufs[BATCH][PACKET];
static struct sockaddr_storage names[BATCH];
static struct iovec iov[BATCH];
static struct mmsghdr msgs[BATCH];

static void die(const char *what) {
    perror(what);
    exit(2);
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0) die("getsockname");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
    printf("PORT %d PID %d\n", ntohs(addr.sin_port), (int)getpid());
    fflush(stdout);
    for (;;) {
        struct epoll_event out[8];
        int n = epoll_wait(ep, out, 8, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < BATCH; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = PACKET;
            memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
            msgs[i].msg_hdr.msg_name = &names[i];
            msgs[i].msg_hdr.msg_namelen = sizeof names[i];
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int got = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (got <= 0) continue;
        for (int i = 0; i < got; i++) iov[i].iov_len = msgs[i].msg_len;
        int done = 0;
        while (done < got) {
            int sent = sendmmsg(fd, msgs + done, (unsigned)(got - done), 0);
            if (sent <= 0) break;   /* a full send buffer: drop the rest, as UDP may */
            done += sent;
        }
    }
}
