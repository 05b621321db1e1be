/*
 * unix_recv_cost: what each way of reading and writing a UNIX stream socket costs in the kernel,
 * measured in one process on a socketpair (issue 12: is recvmsg with a control buffer, which
 * descriptor passing needs, dearer than the read() of the C floor?).
 *
 *   cc -O2 -o bench/bin/unix_recv_cost bench/unix_recv_cost.c
 *   taskset -c 0 bench/bin/unix_recv_cost [ITERATIONS=100000] [SIZE=1024]
 *
 * Each iteration writes SIZE bytes into one end and reads them from the other; the ways
 * (read/write, recv, recvmsg without and with a control buffer, send) take turns iteration by
 * iteration, so drift of a shared machine spreads over all of them, and the table gives the 25th
 * percentile and median of each call's duration (two clock_gettime reads around it, the same
 * overhead for every row: compare rows, not absolute values).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum { READ, RECV, RECVMSG_NO_CONTROL, RECVMSG_CONTROL, RECVMSG_SMALL_CONTROL, SEND, WAYS };
static const char *names[WAYS] = {
    "write + read", "write + recv", "write + recvmsg, no control", "write + recvmsg, 253-fd control",
    "write + recvmsg, 1-fd control", "send + read",
};

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static char in[65536], out[65536];

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100000;
    int size = argc > 2 ? atoi(argv[2]) : 1024;
    int sv[2];
    long long *reads[WAYS], *writes[WAYS];
    if (n <= 0 || size <= 0 || size > (int)sizeof out) {
        fprintf(stderr, "usage: unix_recv_cost [ITERATIONS>0] [SIZE 1..65536]\n");
        return 2;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        perror("socketpair");
        return 2;
    }
    for (int w = 0; w < WAYS; w++) {
        reads[w] = malloc(sizeof(long long) * (size_t)n);
        writes[w] = malloc(sizeof(long long) * (size_t)n);
        if (!reads[w] || !writes[w]) return 2;
    }
    for (int i = 0; i < n * WAYS; i++) {
        int way = i % WAYS;
        union { struct cmsghdr align; char space[CMSG_SPACE(sizeof(int) * 253)]; } control;
        struct iovec iov = {in, sizeof in};
        struct msghdr msg;
        ssize_t got;
        long long a = now_ns();
        if (way == SEND) send(sv[0], out, (size_t)size, MSG_NOSIGNAL);
        else if (write(sv[0], out, (size_t)size) != size) return 1;
        long long b = now_ns();
        switch (way) {
        case RECV: got = recv(sv[1], in, sizeof in, 0); break;
        case RECVMSG_NO_CONTROL: case RECVMSG_CONTROL: case RECVMSG_SMALL_CONTROL:
            memset(&msg, 0, sizeof msg);
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            if (way != RECVMSG_NO_CONTROL) {
                msg.msg_control = control.space;
                msg.msg_controllen = way == RECVMSG_CONTROL ? sizeof control.space : CMSG_SPACE(sizeof(int));
            }
            got = recvmsg(sv[1], &msg, MSG_CMSG_CLOEXEC);
            break;
        default: got = read(sv[1], in, sizeof in);
        }
        long long c = now_ns();
        if (got != size) {
            fprintf(stderr, "short read: %zd of %d\n", got, size);
            return 1;
        }
        writes[way][i / WAYS] = b - a;
        reads[way][i / WAYS] = c - b;
    }
    printf("%d iterations of %d bytes per way; ns per call (25th percentile / median)\n", n, size);
    printf("%-34s %16s %16s\n", "way", "write side", "read side");
    for (int w = 0; w < WAYS; w++) {
        qsort(reads[w], (size_t)n, sizeof(long long), by_value);
        qsort(writes[w], (size_t)n, sizeof(long long), by_value);
        printf("%-34s %7lld / %6lld %7lld / %6lld\n", names[w], writes[w][n / 4], writes[w][n / 2],
               reads[w][n / 4], reads[w][n / 2]);
    }
    return 0;
}
