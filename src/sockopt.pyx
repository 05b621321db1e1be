# Socket options every stream socket of the engine gets, with Python hooks for the tests.


def _set_nosigpipe(int fd):
    """Set SO_NOSIGPIPE on the socket `fd` where the platform has the option (macOS, the BSDs):
    True then, False where it is a no-op (Linux suppresses SIGPIPE per send with MSG_NOSIGNAL).
    OSError if setsockopt fails. The engine calls the C function fr_set_nosigpipe itself."""
    if fr_set_nosigpipe(fd) < 0:
        raise OSError(errno, "setsockopt(SO_NOSIGPIPE): %s" % (os.strerror(errno),))
    return bool(FR_HAVE_SO_NOSIGPIPE)


HAVE_SO_NOSIGPIPE = bool(FR_HAVE_SO_NOSIGPIPE)
SEND_SUPPRESSES_SIGPIPE = FR_SEND_FLAGS != 0
