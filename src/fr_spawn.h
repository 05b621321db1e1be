/* Starting a child process without running Python in it (fastreactor._core, src/process.pyx).

   fr_spawn() makes the pipes, starts the child and returns its pid:
   - posix_spawnp() when nothing but descriptors, a working directory and the environment is
     asked for: every descriptor not named in the mapping is closed in the child
     (posix_spawn_file_actions_addclosefrom_np on glibc >= 2.34, POSIX_SPAWN_CLOEXEC_DEFAULT on
     macOS, else explicit close actions for the inherited descriptors the caller lists);
   - fork() + execve() otherwise (uid/gid, a controlling terminal, a working directory where
     posix_spawn cannot change it), with only async-signal-safe calls in the child; an error in
     the child (chdir, setgid, setuid, exec...) travels back through a close-on-exec pipe as
     (stage, errno), so the parent reports it and never waits for a child that will not run.
   Either way the parent learns synchronously whether the exec succeeded.

   The descriptor mapping child_fds[i] <- parent_fds[i] is applied with dup2. Every source that
   could be overwritten by an earlier dup2 (a source <= the largest child descriptor) is first
   duplicated above that number (close-on-exec, closed again here), so the order of the dup2
   calls never matters and dup2 always clears close-on-exec on the target. */
#ifndef FASTREACTOR_SPAWN_H
#define FASTREACTOR_SPAWN_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>
#include <grp.h>
#include <termios.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#ifdef __linux__
#  include <sys/syscall.h>
#endif

extern char **environ;

#ifdef __FreeBSD__
#  include <sys/param.h>    /* __FreeBSD_version */
#endif
#if (defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))) \
    || (defined(__FreeBSD__) && __FreeBSD_version >= 1301000)
#  define FR_SPAWN_CLOSEFROM 1
#else
#  define FR_SPAWN_CLOSEFROM 0
#endif
#if (defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 29))) \
    || (defined(__FreeBSD__) && __FreeBSD_version >= 1301000)
#  define FR_SPAWN_CHDIR 1
#else
#  define FR_SPAWN_CHDIR 0
#endif
#if defined(__APPLE__) && defined(POSIX_SPAWN_CLOEXEC_DEFAULT)
#  define FR_SPAWN_CLOEXEC_DEFAULT 1
#else
#  define FR_SPAWN_CLOEXEC_DEFAULT 0
#endif

/* What the child failed at (reported with its errno). */
enum { FR_STAGE_NONE = 0, FR_STAGE_DUP2, FR_STAGE_SETSID, FR_STAGE_TTY, FR_STAGE_CHDIR,
       FR_STAGE_SETGROUPS, FR_STAGE_SETGID, FR_STAGE_SETUID, FR_STAGE_EXEC, FR_STAGE_PIPE,
       FR_STAGE_FORK, FR_STAGE_SPAWN };

typedef struct {
    const char *file;               /* for posix_spawnp (searched in the parent's PATH) */
    char *const *candidates;        /* for fork+exec: the paths to try, in order */
    int ncandidates;
    char *const *argv;
    char *const *envp;              /* NULL: the parent's environment */
    const char *cwd;                /* NULL: the parent's */
    const int *child_fds;
    const int *parent_fds;
    int nfds;
    const int *close_fds;           /* inherited descriptors to close where nothing closes them */
    int nclose;
    int has_uid, has_gid;
    uid_t uid;
    gid_t gid;
    const gid_t *groups;            /* supplementary groups to set with uid (NULL: leave) */
    int ngroups;
    int tty_fd;                     /* >= 0: make it the controlling terminal (new session) */
    int tty_master;                 /* closed in the child */
    int use_fork;
    int open_max;                   /* close() loop bound where close_range is missing */
} fr_spawn_req;

static inline int fr_is_target(const fr_spawn_req *r, int fd) {
    for (int i = 0; i < r->nfds; i++)
        if (r->child_fds[i] == fd) return 1;
    return 0;
}

static inline int fr_max_child_fd(const fr_spawn_req *r) {
    int m = -1;
    for (int i = 0; i < r->nfds; i++)
        if (r->child_fds[i] > m) m = r->child_fds[i];
    return m;
}

/* Close every descriptor > `above` but `keep`, in the child. */
static void fr_child_close_above(int above, int keep, int open_max) {
#if defined(__linux__) && defined(SYS_close_range)
    int ok = 1;
    if (keep > above + 1 && syscall(SYS_close_range, (unsigned)(above + 1), (unsigned)(keep - 1), 0) < 0) ok = 0;
    if (ok && syscall(SYS_close_range, (unsigned)(keep > above ? keep + 1 : above + 1), ~0U, 0) < 0) ok = 0;
    if (ok) return;
#endif
    for (int fd = above + 1; fd < open_max; fd++)
        if (fd != keep) close(fd);
}

static const char *const fr_stage_names[] = {"", "dup2", "setsid", "TIOCSCTTY", "chdir",
    "setgroups", "setgid", "setuid", "exec", "pipe", "fork", "posix_spawn"};

static void fr_write_all(int fd, const char *text, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, text, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        text += w;
        n -= (size_t)w;
    }
}

static void fr_write_str(int fd, const char *text) { fr_write_all(fd, text, strlen(text)); }

/* The child could not exec: as Twisted's forked child does, say so on its stderr (here one line
   instead of a Python traceback) and exit with 1; the parent also learns (stage, errno) through
   the error pipe. Only async-signal-safe calls. */
static void fr_child_fail(int errfd, int stage, int err, const char *file) {
    int msg[2];
    char number[16];
    int i = (int)sizeof(number) - 1, e = err;
    number[i] = 0;
    do { number[--i] = (char)('0' + e % 10); e /= 10; } while (e > 0 && i > 0);
    fr_write_str(2, "Upon execvpe ");
    fr_write_str(2, file);
    fr_write_str(2, ": ");
    fr_write_str(2, fr_stage_names[stage]);
    fr_write_str(2, " failed: ");
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    {
        const char *text = strerrordesc_np(err);
        if (text != NULL) { fr_write_str(2, text); fr_write_str(2, " "); }
    }
#endif
    fr_write_str(2, "(errno ");
    fr_write_str(2, number + i);
    fr_write_str(2, ")\n");
    msg[0] = stage;
    msg[1] = err;
    fr_write_all(errfd, (const char *)msg, sizeof(msg));
    _exit(1);
}

static void fr_child(const fr_spawn_req *r, const int *sources, int errfd, int max_child) {
    struct sigaction sa;
    sigset_t none;
    int i, sig, saved = ENOENT, seen_eacces = 0;
    /* As Twisted does: signals the parent ignores are default again in the child. */
    for (sig = 1; sig < NSIG; sig++) {
        if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN) {
            sa.sa_handler = SIG_DFL;
            sigaction(sig, &sa, NULL);
        }
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (r->tty_fd >= 0) {
        if (r->tty_master >= 0) close(r->tty_master);
        if (setsid() < 0) fr_child_fail(errfd, FR_STAGE_SETSID, errno, r->file);
#ifdef TIOCSCTTY
        if (ioctl(r->tty_fd, TIOCSCTTY, 0) < 0) fr_child_fail(errfd, FR_STAGE_TTY, errno, r->file);
#endif
    }
    for (i = 0; i < r->nfds; i++)
        if (dup2(sources[i], r->child_fds[i]) < 0) fr_child_fail(errfd, FR_STAGE_DUP2, errno, r->file);
    for (i = 0; i <= max_child; i++)
        if (!fr_is_target(r, i)) close(i);
    fr_child_close_above(max_child, errfd, r->open_max);
    if (r->cwd != NULL && chdir(r->cwd) < 0) fr_child_fail(errfd, FR_STAGE_CHDIR, errno, r->file);
    if (r->has_gid && setgid(r->gid) < 0) fr_child_fail(errfd, FR_STAGE_SETGID, errno, r->file);
    if (r->groups != NULL && setgroups((size_t)r->ngroups, r->groups) < 0 && errno != EPERM)
        fr_child_fail(errfd, FR_STAGE_SETGROUPS, errno, r->file);
    if (r->has_uid && setuid(r->uid) < 0) fr_child_fail(errfd, FR_STAGE_SETUID, errno, r->file);
    char *const *envp = r->envp != NULL ? r->envp : environ;
    for (i = 0; i < r->ncandidates; i++) {
        execve(r->candidates[i], r->argv, envp);
        /* execvp's rules: go on past a directory without the file; remember a permission error. */
        if (errno == EACCES) seen_eacces = 1;
        else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ENODEV && errno != ETIMEDOUT) {
            saved = errno;
            break;
        }
        saved = errno;
    }
    fr_child_fail(errfd, FR_STAGE_EXEC, seen_eacces && saved != 0 && (saved == ENOENT || saved == ENOTDIR) ? EACCES : saved, r->file);
}

static int fr_spawn_fork(const fr_spawn_req *r, const int *sources, int max_child, pid_t *pid, int *stage, int *child_err) {
    int errpipe[2], msg[2];
    ssize_t n;
    size_t got = 0;
#if defined(__linux__)
    if (pipe2(errpipe, O_CLOEXEC) < 0) { *stage = FR_STAGE_PIPE; return errno; }
#else
    if (pipe(errpipe) < 0) { *stage = FR_STAGE_PIPE; return errno; }
    fcntl(errpipe[0], F_SETFD, FD_CLOEXEC);
    fcntl(errpipe[1], F_SETFD, FD_CLOEXEC);
#endif
    if (errpipe[1] <= max_child) {
        int moved = fcntl(errpipe[1], F_DUPFD_CLOEXEC, max_child + 1);
        if (moved < 0) { int e = errno; close(errpipe[0]); close(errpipe[1]); *stage = FR_STAGE_PIPE; return e; }
        close(errpipe[1]);
        errpipe[1] = moved;
    }
    pid_t child = fork();
    if (child < 0) {
        int e = errno;
        close(errpipe[0]); close(errpipe[1]);
        *stage = FR_STAGE_FORK;
        return e;
    }
    if (child == 0) {
        close(errpipe[0]);
        fr_child(r, sources, errpipe[1], max_child);
        _exit(127);
    }
    close(errpipe[1]);
    while (got < sizeof(msg)) {
        n = read(errpipe[0], (char *)msg + got, sizeof(msg) - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(errpipe[0]);
    *pid = child;
    if (got == sizeof(msg)) {
        /* The child failed before or at exec and exits with 1, as Twisted's does; it is watched
           and reaped like any other. */
        *stage = msg[0];
        *child_err = msg[1] != 0 ? msg[1] : EINVAL;
    }
    return 0;
}

static int fr_spawn_posix(const fr_spawn_req *r, const int *sources, int max_child, pid_t *pid, int *stage) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t all, none;
    short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
    int i, err = 0;
    *stage = FR_STAGE_SPAWN;
    if ((err = posix_spawn_file_actions_init(&fa)) != 0) return err;
    if ((err = posix_spawnattr_init(&attr)) != 0) { posix_spawn_file_actions_destroy(&fa); return err; }
    for (i = 0; i < r->nfds && !err; i++)
        err = posix_spawn_file_actions_adddup2(&fa, sources[i], r->child_fds[i]);
#if !FR_SPAWN_CLOEXEC_DEFAULT
    /* Descriptors below the largest child one that the mapping does not name: only open ones
       (some posix_spawn implementations fail a close action on a closed descriptor). */
    for (i = 0; i <= max_child && !err; i++)
        if (!fr_is_target(r, i) && fcntl(i, F_GETFD) >= 0) err = posix_spawn_file_actions_addclose(&fa, i);
#endif
#if FR_SPAWN_CLOSEFROM
    if (!err) err = posix_spawn_file_actions_addclosefrom_np(&fa, max_child + 1);
#else
    for (i = 0; i < r->nclose && !err; i++)
        err = posix_spawn_file_actions_addclose(&fa, r->close_fds[i]);
#endif
#if FR_SPAWN_CHDIR
    if (!err && r->cwd != NULL) err = posix_spawn_file_actions_addchdir_np(&fa, r->cwd);
#endif
#if FR_SPAWN_CLOEXEC_DEFAULT
    flags |= POSIX_SPAWN_CLOEXEC_DEFAULT;
#endif
    /* Every catchable signal back to its default: what the parent ignored (Twisted resets SIG_IGN)
       and what it handled (exec resets those anyway). */
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    sigemptyset(&none);
    if (!err) err = posix_spawnattr_setsigdefault(&attr, &all);
    if (!err) err = posix_spawnattr_setsigmask(&attr, &none);
    if (!err) err = posix_spawnattr_setflags(&attr, flags);
    if (!err) err = posix_spawnp(pid, r->file, &fa, &attr, r->argv, r->envp != NULL ? r->envp : environ);
    if (err) *stage = FR_STAGE_EXEC;
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return err;
}

/* Start the child described by `r`: 0 with *pid set, or an errno with *stage saying what failed.
   With fork+exec, a failure in the child (stage and errno in *stage, *child_err) still returns 0
   with *pid set: that child has written why to its stderr and exits with 1. */
static int fr_spawn(const fr_spawn_req *r, pid_t *pid, int *stage, int *child_err) {
    int sources[r->nfds > 0 ? r->nfds : 1];
    int moved[r->nfds > 0 ? r->nfds : 1];
    int nmoved = 0, i, err = 0;
    int max_child = fr_max_child_fd(r);
    *stage = FR_STAGE_NONE;
    *child_err = 0;
    for (i = 0; i < r->nfds; i++) {
        sources[i] = r->parent_fds[i];
        if (sources[i] <= max_child) {
            int m = fcntl(sources[i], F_DUPFD_CLOEXEC, max_child + 1);
            if (m < 0) { err = errno; *stage = FR_STAGE_DUP2; goto done; }
            moved[nmoved++] = m;
            sources[i] = m;
        }
    }
    if (r->use_fork)
        err = fr_spawn_fork(r, sources, max_child, pid, stage, child_err);
    else
        err = fr_spawn_posix(r, sources, max_child, pid, stage);
done:
    for (i = 0; i < nmoved; i++) close(moved[i]);
    return err;
}

/* A descriptor that becomes readable when the child exits: a pidfd (Linux >= 5.3), or a kqueue
   holding one EVFILT_PROC/NOTE_EXIT event (BSD, macOS); -1 with errno where neither works. */
static inline int fr_exit_descriptor(pid_t pid) {
#if defined(__linux__)
#  ifndef SYS_pidfd_open
#    define SYS_pidfd_open 434
#  endif
    return (int)syscall(SYS_pidfd_open, pid, 0);   /* close-on-exec by definition */
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__) || defined(__DragonFly__)
    struct kevent ev;
    int kq = kqueue();
    if (kq < 0) return -1;
    fcntl(kq, F_SETFD, FD_CLOEXEC);
    EV_SET(&ev, (uintptr_t)pid, EVFILT_PROC, EV_ADD | EV_ONESHOT, NOTE_EXIT, 0, NULL);
    if (kevent(kq, &ev, 1, NULL, 0, NULL) < 0) {
        int e = errno;
        close(kq);
        errno = e;   /* ESRCH: already a zombie; the caller reaps it at once */
        return -1;
    }
    return kq;
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

static inline int fr_pipe_cloexec(int fds[2]) {
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
    return pipe2(fds, O_CLOEXEC);
#else
    if (pipe(fds) < 0) return -1;
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    return 0;
#endif
}

static inline int fr_set_nonblocking(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -1;
    return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

#endif
