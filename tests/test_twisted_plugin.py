"""`trial --reactor=fastreactor` and `twistd --reactor=fastreactor` through Twisted's reactor plugin
(twisted/plugins/fastreactor_plugin.py, installed with the package), run as subprocesses."""
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

pytest.importorskip("twisted")

TRIAL_TEST = '''
from twisted.internet import protocol
from twisted.internet.defer import Deferred
from twisted.trial import unittest


class OnFastReactor(unittest.TestCase):
    def test_global_reactor_is_fastreactor(self):
        from twisted.internet import reactor
        from fastreactor.twisted import FastReactor
        self.assertIsInstance(reactor, FastReactor)

    def test_tcp_round_trip(self):
        from twisted.internet import reactor
        done = Deferred()

        class Echo(protocol.Protocol):
            def dataReceived(self, data):
                self.transport.write(data)

        class Client(protocol.Protocol):
            def connectionMade(self):
                self.transport.write(b"ping")

            def dataReceived(self, data):
                self.transport.loseConnection()
                done.callback(data)

        port = reactor.listenTCP(0, protocol.ServerFactory.forProtocol(Echo), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        reactor.connectTCP("127.0.0.1", port.getHost().port, protocol.ClientFactory.forProtocol(Client))
        return done.addCallback(self.assertEqual, b"ping")
'''

TAC = '''
from twisted.application import internet, service
from twisted.internet import protocol, reactor

from fastreactor.twisted import FastReactor

assert isinstance(reactor, FastReactor), reactor


class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


class Announce(service.Service):
    """Write the listening port's number to a file once it listens."""

    def __init__(self, server, path):
        self.server = server
        self.path = path

    def startService(self):
        service.Service.startService(self)
        with open(self.path + ".tmp", "w") as f:
            f.write(str(self.server._port.getHost().port))
        import os
        os.rename(self.path + ".tmp", self.path)


application = service.Application("echo")
server = internet.TCPServer(0, protocol.ServerFactory.forProtocol(Echo), interface="127.0.0.1")
server.setServiceParent(application)
Announce(server, %(path)r).setServiceParent(application)
'''


def run(args, cwd, **kw):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable] + args, cwd=str(cwd), env=env, capture_output=True,
                          text=True, timeout=120, **kw)


def test_trial_runs_tests_on_fastreactor(tmp_path):
    (tmp_path / "test_on_fast.py").write_text(textwrap.dedent(TRIAL_TEST))
    result = run(["-m", "twisted.trial", "--reactor=fastreactor", "test_on_fast"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED (successes=2)" in result.stdout, result.stdout


# Twisted's own suites for programs that use real TCP: FTP (producers, half-close, many
# connections), the HTTP client and proxy, loopback and policies.
TWISTED_PROGRAM_SUITES = ["twisted.test.test_ftp", "twisted.web.test.test_webclient",
                          "twisted.web.test.test_proxy", "twisted.test.test_loopback",
                          "twisted.test.test_policies"]


def test_twisteds_program_suites_pass_under_trial_on_fastreactor(tmp_path):
    result = run(["-m", "twisted.trial", "--reactor=fastreactor"] + TWISTED_PROGRAM_SUITES, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("PASSED") and "successes=" in last, last
    assert int(last.split("successes=")[1].rstrip(")")) >= 300, last


def test_trial_lists_the_reactor(tmp_path):
    result = run(["-m", "twisted.trial", "--help-reactors"], tmp_path)
    assert "fastreactor" in result.stdout, result.stdout + result.stderr


def test_twistd_serves_on_fastreactor(tmp_path):
    port_file = tmp_path / "port"
    (tmp_path / "echo.tac").write_text(TAC % {"path": str(port_file)})
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
         "--nodaemon", "--reactor=fastreactor", "--pidfile=", "--logfile=-", "-y", "echo.tac"],
        cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists():
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "twistd did not start listening"
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", int(port_file.read_text())), timeout=5) as s:
            s.sendall(b"hello twistd")
            assert s.recv(100) == b"hello twistd"
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, output
    assert "reactor class: fastreactor.twisted._reactor.FastReactor" in output, output
    assert "Server Shut Down." in output, output
