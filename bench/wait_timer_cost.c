/*
 * wait_timer_cost: what a blocking epoll_wait with a timeout costs the kernel over one without.
 *
 *   cc -O2 -o wait_timer_cost bench/wait_timer_cost.c
 *   for t in -1 5 -1 5 -1 5; do taskset -c 0 ./wait_timer_cost $t 200000; done
 *
 * A server and a client on one core ping-pong 1 KiB over a UNIX socketpair, so every wait of the
 * server blocks; the server waits with epoll_wait(TIMEOUT ms) and prints its CPU time per message
 * (getrusage). A finite timeout arms a high-resolution timer on every blocking wait; -1 arms none.
 * This is why the loop keeps the GIL through a wait only when the wait has a timeout anyway
 * (src/loop.pyx, poll_once).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static double seconds(struct timeval tv) {
    return tv.tv_sec + tv.tv_usec / 1e6;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: wait_timer_cost TIMEOUT_MS MESSAGES\n");
        return 2;
    }
    int timeout = atoi(argv[1]);
    long n = atol(argv[2]);
    int sv[2];
    char buf[1024] = {0};
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) return 1;
    pid_t child = fork();
    if (child == 0) {
        close(sv[0]);
        for (long i = 0; i < n; i++) {
            if (write(sv[1], buf, sizeof buf) != (ssize_t)sizeof buf) _exit(1);
            size_t got = 0;
            while (got < sizeof buf) {
                ssize_t r = read(sv[1], buf + got, sizeof buf - got);
                if (r <= 0) _exit(1);
                got += (size_t)r;
            }
        }
        _exit(0);
    }
    close(sv[1]);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = sv[0]}, fired[8];
    epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev);
    long done = 0;
    while (done < n) {
        if (epoll_wait(ep, fired, 8, timeout) <= 0) continue;
        ssize_t r = read(sv[0], buf, sizeof buf);
        if (r <= 0) break;
        if (write(sv[0], buf, (size_t)r) != r) break;
        done++;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("timeout %d ms: server CPU %.3f us/msg (system %.3f)\n", timeout,
           (seconds(ru.ru_utime) + seconds(ru.ru_stime)) / (double)n * 1e6,
           seconds(ru.ru_stime) / (double)n * 1e6);
    waitpid(child, NULL, 0);
    return 0;
}
