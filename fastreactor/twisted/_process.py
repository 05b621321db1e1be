"""The Twisted face's process transports: fastreactor.process's, declaring IProcessTransport."""
from zope.interface import implementer

from twisted.internet import process as twisted_process
from twisted.internet.interfaces import IProcessTransport

from fastreactor._process_reactor import ProcessReactorMixin
from fastreactor.process import Process, PTYProcess


@implementer(IProcessTransport)
class TwistedProcess(Process):
    """A child with pipes, as Twisted's twisted.internet.process.Process (registered in
    twisted.internet.process.reapProcessHandlers until it is reaped, as Twisted's are)."""

    @property
    def _reapRegistry(self):
        # Looked up each time: Twisted's tests replace the module's dict.
        return twisted_process.reapProcessHandlers


@implementer(IProcessTransport)
class TwistedPTYProcess(PTYProcess):
    """A child on a pseudo-terminal, as Twisted's twisted.internet.process.PTYProcess."""

    @property
    def _reapRegistry(self):
        # Looked up each time: Twisted's tests replace the module's dict.
        return twisted_process.reapProcessHandlers


class TwistedProcessReactorMixin(ProcessReactorMixin):
    """IReactorProcess on FastReactor: spawnProcess returning the classes above."""

    _processClass = TwistedProcess
    _ptyProcessClass = TwistedPTYProcess
