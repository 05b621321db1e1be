#!/usr/bin/env python3
"""List the Twisted conformance tests that are skipped on FastReactor but run on EPollReactor.

Usage (from the repository root, with fastreactor and the test extra installed):

    python tools/conformance_skips.py [pytest arguments...]

Runs tests/test_twisted_conformance.py twice, on FastReactor and with
FR_CONFORMANCE_REACTOR=twisted.internet.epollreactor.EPollReactor, and prints every test skipped
on the first and not on the second, with its reason. The exit status is 1 if one of those reasons
is not written in the test module (SKIPS or NOT_YET), i.e. a test skips silently; 0 otherwise.
Install pyOpenSSL and service_identity to see the TLS tests too (without them Twisted skips those
on both reactors).
"""
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE = "tests/test_twisted_conformance.py"
EPOLL = "twisted.internet.epollreactor.EPollReactor"


def run(reactor, xml_path, extra):
    """Run the conformance module on `reactor` (None: FastReactor), JUnit XML into `xml_path`."""
    env = dict(os.environ)
    env.pop("FR_CONFORMANCE_REACTOR", None)
    if reactor:
        env["FR_CONFORMANCE_REACTOR"] = reactor
    # The pytest script beside this interpreter: `python -m pytest` would put the source tree first
    # on sys.path, which the tests refuse.
    pytest = os.path.join(os.path.dirname(sys.executable), "pytest")
    subprocess.run([pytest, "-q", "-p", "no:randomly", MODULE, "--junitxml", xml_path] + extra,
                   cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def outcomes(xml_path):
    """Test id (class name without the reactor suffix . method) -> skip message, or None if it ran."""
    result = {}
    for case in ET.parse(xml_path).iter("testcase"):
        cls = case.get("classname").rsplit(".", 1)[-1]
        for suffix in ("_FastReactorTests", "_EPollReactorTests"):
            cls = cls.replace(suffix, "")
        skipped = case.find("skipped")
        result[cls + "." + case.get("name")] = None if skipped is None else skipped.get("message", "")
    return result


def written_reasons():
    """Every reason the test module writes down (SKIPS values and NOT_YET values)."""
    code = ("import importlib.util, sys, json;"
            "spec = importlib.util.spec_from_file_location('conf', %r);"
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m);"
            "r = [getattr(v, 'why', v) for v in m.SKIPS.values()] + list(m.NOT_YET.values());"
            "print(json.dumps(r))") % os.path.join(ROOT, MODULE)
    out = subprocess.run([sys.executable, "-c", code], cwd=tempfile.gettempdir(), capture_output=True,
                         text=True, check=True).stdout
    return set(json.loads(out))


def main(argv):
    with tempfile.TemporaryDirectory() as tmp:
        fast_xml, epoll_xml = os.path.join(tmp, "fast.xml"), os.path.join(tmp, "epoll.xml")
        run(None, fast_xml, argv)
        run(EPOLL, epoll_xml, argv)
        fast, epoll = outcomes(fast_xml), outcomes(epoll_xml)
    known = written_reasons()
    silent = 0
    for test_id in sorted(fast):
        reason = fast[test_id]
        if reason is None or epoll.get(test_id, "") is not None:
            continue
        # pytest prefixes unittest skip messages with nothing, or "Skipped: " in some versions.
        bare = reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason
        ok = bare in known or all(part in known for part in bare.split("; "))
        silent += not ok
        print("%s %s\n    %s" % ("  " if ok else "!!", test_id, reason))
    only_epoll = sorted(t for t in epoll if t not in fast)
    for test_id in only_epoll:
        print("!! %s\n    runs on EPollReactor, not collected on FastReactor" % (test_id,))
    print("%d skipped on FastReactor only, %d without a written reason, %d not collected"
          % (sum(1 for t in fast if fast[t] is not None and epoll.get(t, "") is None),
             silent, len(only_epoll)))
    return 1 if silent or only_epoll else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
