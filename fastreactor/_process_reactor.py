"""IReactorProcess for both faces: spawnProcess (see fastreactor/process.py)."""
from fastreactor.process import Process, PTYProcess


class ProcessReactorMixin:
    """Twisted's IReactorProcess.spawnProcess, over the engine's pipes and exit watching."""

    _processClass = Process
    _ptyProcessClass = PTYProcess

    def spawnProcess(self, processProtocol, executable, args=(), env={}, path=None, uid=None,
                     gid=None, usePTY=0, childFDs=None):
        """Start `executable` with `args` (args[0] is the program's name) and return its process
        transport, connected to `processProtocol` (a ProcessProtocol).

        `env` is the child's whole environment (the default {} is an empty one; None passes
        this process's); `path` its working directory; `uid`/`gid` whom it runs as (needs the
        privilege). `childFDs` maps each child descriptor to 'r' (a pipe the parent reads:
        childDataReceived), 'w' (a pipe the parent writes: writeToChild) or a parent descriptor
        number to hand over; the default is {0: 'w', 1: 'r', 2: 'r'}, and the child inherits no
        other descriptor. `usePTY` runs the child on a new pseudo-terminal instead (not with
        childFDs: ValueError). The executable is searched in this process's PATH.

        Works before run() and on several reactors at once. No Python runs in the child. Errors
        are raised here: TypeError/ValueError for arguments the child could not be given, and
        OSError (FileNotFoundError, PermissionError, ...) when the child cannot be started (no
        such executable, a bad `path`, a closed parent descriptor in childFDs); nothing is left
        open then. With usePTY or uid/gid the child is started with fork+exec, otherwise with
        posix_spawn.
        """
        if usePTY:
            if childFDs is not None:
                raise ValueError("Using childFDs is not supported with usePTY=True.")
            return self._ptyProcessClass(self, executable, args, env, path, processProtocol,
                                         uid, gid, usePTY)
        return self._processClass(self, executable, args, env, path, processProtocol, uid, gid,
                                  childFDs)
