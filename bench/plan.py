"""Benchmark configurations (full, quick, tiny) and the ordered list of jobs they make."""
import dataclasses

import impls

WORKLOADS = ("echo", "unix", "connect", "web", "udp", "idle", "timers", "framing")
FRAMING_KINDS = (("line", "LineReceiver, 32 B lines"), ("int32", "Int32StringReceiver, 1 KiB strings"))


@dataclasses.dataclass
class Config:
    """Everything that shapes a run; the presets below are the documented modes."""

    mode: str = "full"
    runs: int = 3                     # alternated runs per case; the median is reported
    duration: float = 2.0             # measured seconds per echo/connect run
    warmup: float = 0.3               # unmeasured seconds before that
    sizes: tuple = (64, 1024, 16384, 65536)
    conns: tuple = (1, 10, 100)
    unix_sizes: tuple = (1024, 65536)  # echo over UNIX stream sockets
    unix_conns: tuple = (10,)
    connect_conns: int = 10           # concurrent slots of the short-lived connections workload
    web_conns: tuple = (1, 10, 100)   # keep-alive connections of the twisted.web workload
    udp_sizes: tuple = (64, 1024)     # datagram sizes of the UDP echo workload
    udp_conns: tuple = (10,)          # client sockets of the UDP echo workload, one datagram each
    timers: int = 200_000
    idle_conns: int = 10_000
    framing_seconds: float = 1.0
    workloads: tuple = WORKLOADS
    impls: tuple = impls.ORDER


PRESETS = {
    "full": {},
    "quick": dict(runs=1, duration=0.4, warmup=0.1, timers=50_000, framing_seconds=0.3),
    "tiny": dict(runs=1, duration=0.15, warmup=0.05, sizes=(64, 65536), conns=(1, 10), connect_conns=4,
                 unix_sizes=(1024,), unix_conns=(10,),
                 web_conns=(10,), udp_sizes=(64,), timers=5_000, idle_conns=200, framing_seconds=0.05),
}


def make_config(mode, **overrides):
    """The preset MODE with OVERRIDES (None values ignored) applied."""
    values = dict(PRESETS[mode])
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Config(mode=mode, **values)


def size_label(size):
    """64 -> '64 B', 1024 -> '1 KiB'."""
    return "%d KiB" % (size // 1024) if size >= 1024 and size % 1024 == 0 else "%d B" % size


def cases(cfg, workload):
    """The cases of WORKLOAD under CFG, each a dict with id, label and parameters."""
    if workload == "echo":
        return [dict(id="echo-%d-%d" % (s, c), label="%s x %d conn%s" % (size_label(s), c, "s" * (c > 1)),
                     size=s, conns=c) for s in cfg.sizes for c in cfg.conns]
    if workload == "unix":
        return [dict(id="unix-%d-%d" % (s, c), label="%s x %d conn%s, UNIX" % (size_label(s), c, "s" * (c > 1)),
                     size=s, conns=c) for s in cfg.unix_sizes for c in cfg.unix_conns]
    if workload == "connect":
        return [dict(id="connect-%d" % cfg.connect_conns, label="16 B, %d concurrent" % cfg.connect_conns,
                     conns=cfg.connect_conns)]
    if workload == "web":
        return [dict(id="web-%d" % c, label="hello world x %d conn%s" % (c, "s" * (c > 1)), conns=c)
                for c in cfg.web_conns]
    if workload == "udp":
        return [dict(id="udp-%d-%d" % (s, c), label="%s x %d socket%s" % (size_label(s), c, "s" * (c > 1)),
                     size=s, conns=c) for s in cfg.udp_sizes for c in cfg.udp_conns]
    if workload == "idle":
        return [dict(id="idle-%d" % cfg.idle_conns, label="%d idle conns" % cfg.idle_conns, conns=cfg.idle_conns)]
    if workload == "timers":
        return [dict(id="timers-%d" % cfg.timers, label="%d timers, 1/3 cancelled" % cfg.timers, n=cfg.timers)]
    if workload == "framing":
        return [dict(id="framing-" + k, label=label, kind=k) for k, label in FRAMING_KINDS]
    raise ValueError(workload)


def participants(workload):
    """The implementations that take part in WORKLOAD."""
    if workload == "timers":
        return impls.TIMERS
    if workload == "framing":
        return impls.FRAMING
    if workload == "web":
        return impls.WEB
    if workload == "udp":
        return impls.UDP
    return impls.ORDER


def jobs(cfg, skip=()):
    """Every job of the run in execution order: (workload, case, impl, rep).

    Implementations alternate within each case (A B C A B C ..., never A A A B B B), so that
    drift of the machine spreads over all of them.  SKIP holds implementations known to be
    unavailable for every workload.
    """
    out = []
    for workload in cfg.workloads:
        names = [i for i in participants(workload) if i in cfg.impls and i not in skip]
        for case in cases(cfg, workload):
            for rep in range(cfg.runs):
                out.extend((workload, case, name, rep) for name in names)
    return out
