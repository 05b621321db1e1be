"""The lock file of listenUNIX(wantPID=True) and connectUNIX(checkPID=True): a symbolic link
named `<socket path>.lock` whose target is the owner's process id, the format of Twisted's
twisted.python.lockfile.FilesystemLock, so that either can read the other's locks. A lock whose
process no longer exists is stale and is taken over."""
import errno
import os

__all__ = ["PIDLock", "is_locked"]


class PIDLock:
    """A lock file held by this process. `lock()` takes it (True) or finds it held by a live
    process (False); `clean` is False after taking over a stale one (its owner died, so the socket
    it guarded may be left over); `unlock()` removes it."""

    def __init__(self, name):
        self.name = name
        self.locked = False
        self.clean = None

    def lock(self):
        """Take the lock: True if this process now holds it, False if a live process does."""
        clean = True
        while True:
            try:
                os.symlink(str(os.getpid()), self.name)
            except FileExistsError:
                try:
                    owner = int(os.readlink(self.name))
                except FileNotFoundError:
                    continue            # released meanwhile: try again
                except ValueError:
                    return False        # not a process id: not ours to take over
                try:
                    os.kill(owner, 0)
                except ProcessLookupError:
                    try:
                        os.unlink(self.name)    # stale: its owner is gone
                    except FileNotFoundError:
                        pass
                    clean = False
                    continue
                except PermissionError:
                    return False        # alive, owned by another user
                return False
            self.locked = True
            self.clean = clean
            return True

    def unlock(self):
        """Release the lock (ValueError if another process holds it now)."""
        try:
            owner = int(os.readlink(self.name))
        except (OSError, ValueError):
            self.locked = False
            return
        if owner != os.getpid():
            raise ValueError("lock %r is held by process %d, not by this one" % (self.name, owner))
        try:
            os.unlink(self.name)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
        self.locked = False


def is_locked(name):
    """Whether a live process holds the lock file `name`."""
    lock = PIDLock(name)
    taken = lock.lock()
    if taken:
        lock.unlock()
    return not taken
