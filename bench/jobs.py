"""Run one job of the plan: one workload case against one implementation, once."""
import time

import impls
import procs
import procstat


class Context:
    """What a job needs: the built binaries, the two cores and the configuration."""

    def __init__(self, cfg, bins, servers):
        self.cfg = cfg
        self.bins = bins
        self.server_cpu, self.load_cpu = procs.cpus()
        self.servers = servers  # long-lived echo servers by implementation (echo, connect)
        self.web_servers = {}   # long-lived twisted.web servers by implementation (web)
        self.udp_servers = {}   # long-lived UDP echo servers by implementation (udp)
        self.unix_servers = {}  # long-lived echo servers on UNIX sockets by implementation (unix)
        self.unix_dir = None    # where their sockets live


def echo(ctx, server, case):
    """Closed-loop echo of case['size'] bytes over case['conns'] connections."""
    return procs.run_loadgen(ctx.bins["loadgen"], [
        "echo", "--port", server.port, "--conns", case["conns"], "--size", case["size"],
        "--duration", ctx.cfg.duration, "--warmup", ctx.cfg.warmup,
    ], ctx.load_cpu, server.pid)


def unix_echo(ctx, server, case):
    """Closed-loop echo over UNIX stream sockets (the server listens on server.unix_path)."""
    return procs.run_loadgen(ctx.bins["loadgen"], [
        "echo", "--unix", server.unix_path, "--conns", case["conns"], "--size", case["size"],
        "--duration", ctx.cfg.duration, "--warmup", ctx.cfg.warmup,
    ], ctx.load_cpu, server.pid)


def unix_server(ctx, name):
    """NAME's echo server on a UNIX socket of its own (started on first use, or if it died)."""
    import os
    import tempfile
    server = ctx.unix_servers.get(name)
    if server is None or not server.alive():
        if ctx.unix_dir is None:
            ctx.unix_dir = tempfile.mkdtemp(prefix="frbench")
        path = os.path.join(ctx.unix_dir, name + ".sock")
        if os.path.exists(path):
            os.unlink(path)     # a dead server's leftover
        server = procs.Server(impls.server_command(name, ctx.bins, unix=path), ctx.server_cpu)
        server.unix_path = path
        ctx.unix_servers[name] = server.start()
    return server


def connect(ctx, server, case):
    """Short-lived connections: connect, 16 bytes there and back, close, repeat."""
    return procs.run_loadgen(ctx.bins["loadgen"], [
        "connect", "--port", server.port, "--conns", case["conns"],
        "--duration", ctx.cfg.duration, "--warmup", ctx.cfg.warmup,
    ], ctx.load_cpu, server.pid)


def web(ctx, server, case):
    """Closed-loop keep-alive HTTP GETs over case['conns'] connections; any bad response fails the run."""
    result = procs.run_loadgen(ctx.bins["loadgen"], [
        "http", "--port", server.port, "--conns", case["conns"],
        "--duration", ctx.cfg.duration, "--warmup", ctx.cfg.warmup,
    ], ctx.load_cpu, server.pid)
    if result["errors"] or result["count"] <= 0:
        raise procs.LoadError("%d requests answered, %d errors (%d non-200)"
                              % (result["count"], result["errors"], result.get("bad_status", 0)))
    return result


def udp(ctx, server, case):
    """Closed-loop UDP echo: case['conns'] sockets with one datagram of case['size'] in flight."""
    return procs.run_loadgen(ctx.bins["loadgen"], [
        "udp", "--port", server.port, "--conns", case["conns"], "--size", case["size"],
        "--duration", ctx.cfg.duration, "--warmup", ctx.cfg.warmup,
    ], ctx.load_cpu, server.pid)


def idle(ctx, name, case):
    """Server RSS per idle connection: (RSS with N connections - RSS with none) / N, fresh server."""
    with procs.Server(impls.server_command(name, ctx.bins), ctx.server_cpu) as server:
        # touch the connection code paths once so the baseline includes them
        procs.run_loadgen(ctx.bins["loadgen"], ["echo", "--port", server.port, "--conns", 1, "--size", 64,
                                                "--duration", 0.1, "--warmup", 0], ctx.load_cpu)
        time.sleep(0.3)
        base = procstat.rss_kib(server.pid)
        clients = procs.IdleClients(ctx.bins["loadgen"], server.port, case["conns"], ctx.load_cpu)
        try:
            ready = clients.wait_ready()
            time.sleep(0.5)  # let the server finish accepting and settle
            rss = procstat.rss_kib(server.pid)
        finally:
            clients.close()
        if ready["ready"] != case["conns"]:
            raise procs.LoadError("only %d of %d connections established" % (ready["ready"], case["conns"]))
        return {"rss_base_kib": base, "rss_kib": rss, "conns": case["conns"],
                "bytes_per_conn": (rss - base) * 1024.0 / case["conns"], "connect_s": ready["wall_s"]}


def timers(ctx, name, case):
    """The in-process timers workload in its own process, pinned to the server core."""
    return procs.run_worker(impls.timers_command(name, case["n"]), ctx.server_cpu)


def framing(ctx, name, case):
    """The in-process framing workload in its own process, pinned to the server core."""
    return procs.run_worker(impls.framing_command(name, case["kind"], ctx.cfg.framing_seconds), ctx.server_cpu)


def run(ctx, workload, case, name):
    """Run one job and return its metrics (raise procs.Unavailable or another error on failure)."""
    if workload in ("echo", "connect"):
        server = ctx.servers.get(name)
        if server is None or not server.alive():  # first use, or it died: (re)start it
            server = ctx.servers[name] = procs.Server(impls.server_command(name, ctx.bins), ctx.server_cpu).start()
        return (echo if workload == "echo" else connect)(ctx, server, case)
    if workload == "udp":
        server = ctx.udp_servers.get(name)
        if server is None or not server.alive():
            server = ctx.udp_servers[name] = procs.Server(impls.udp_command(name, ctx.bins), ctx.server_cpu).start()
        return udp(ctx, server, case)
    if workload == "unix":
        return unix_echo(ctx, unix_server(ctx, name), case)
    if workload == "web":
        server = ctx.web_servers.get(name)
        if server is None or not server.alive():
            server = ctx.web_servers[name] = procs.Server(impls.web_command(name), ctx.server_cpu).start()
        return web(ctx, server, case)
    return {"idle": idle, "timers": timers, "framing": framing}[workload](ctx, name, case)
