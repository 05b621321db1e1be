"""Loop statistics of a worker, and their Prometheus text exposition in the supervisor.

A worker reports `collect(reactor)` (a dict with `STATS_KEYS`) to the supervisor; the supervisor
serves, on `--metrics ENDPOINT`, each worker's values (label `worker="SLOT"`) and, in families
named `fastreactor_all_...`, their sum over workers (the maximum for the longest callback), so
that a query never adds a total to its own parts. With `prometheus_client` installed the text is
produced by it; otherwise by `render_plain`, in the same format (text/plain; version=0.0.4).
"""

# key -> (Prometheus family name, type, help). Counters end in _total.
METRICS = {
    "iterations": ("fastreactor_loop_iterations_total", "counter",
                   "Loop iterations (poll calls)."),
    "poll_seconds": ("fastreactor_loop_poll_seconds_total", "counter",
                     "Time blocked waiting in the poller."),
    "callback_seconds": ("fastreactor_loop_callback_seconds_total", "counter",
                         "Time spent running callbacks (everything but the poll)."),
    "longest_callback_seconds": ("fastreactor_loop_longest_callback_seconds", "gauge",
                                 "Longest single loop iteration's callback time seen."),
    "timers_pending": ("fastreactor_timers_pending", "gauge", "Scheduled timers."),
    "descriptors_watched": ("fastreactor_descriptors_watched", "gauge",
                            "Descriptors registered with the poller."),
    "bytes_read": ("fastreactor_read_bytes_total", "counter", "Bytes read from connections."),
    "bytes_written": ("fastreactor_written_bytes_total", "counter",
                      "Bytes written to connections."),
    "connections_open": ("fastreactor_connections_open", "gauge", "Open connections."),
    "connections_accepted": ("fastreactor_connections_accepted_total", "counter",
                             "Connections accepted."),
}
STATS_KEYS = tuple(METRICS)
MAX_KEYS = ("longest_callback_seconds",)


def open_connections(reactor):
    """The connection transports the reactor watches (readers and writers that have a peer),
    counted once each; ports and wakers are not connections."""
    seen = set()
    for selectable in list(reactor.getReaders()) + list(reactor.getWriters()):
        if hasattr(selectable, "getPeer"):
            seen.add(id(selectable))
    return len(seen)


def collect(reactor):
    """The worker's statistics: `reactor.stats()` where the reactor has it, completed from what
    is visible from Python (timers pending, descriptors watched, open connections); a key that
    cannot be known is absent rather than zero."""
    stats = {}
    own = getattr(reactor, "stats", None)
    if callable(own):
        stats.update(own())
    if "timers_pending" not in stats:
        stats["timers_pending"] = len(reactor.getDelayedCalls())
    if "descriptors_watched" not in stats and hasattr(reactor, "_handleCount"):
        stats["descriptors_watched"] = reactor._handleCount()
    if "connections_open" not in stats:
        stats["connections_open"] = open_connections(reactor)
    return {key: value for key, value in stats.items() if key in METRICS}


def aggregate(per_worker):
    """Sum (maximum for MAX_KEYS) of each key over the workers' stats dicts."""
    total = {}
    for stats in per_worker.values():
        for key, value in stats.items():
            if key not in METRICS:
                continue
            if key in MAX_KEYS:
                total[key] = max(total.get(key, value), value)
            else:
                total[key] = total.get(key, 0) + value
    return total


def _families(per_worker, supervisor):
    """(name, type, help, [(labels, value)]) for every family to expose."""
    families = []
    for key, (name, kind, text) in METRICS.items():
        samples = [({"worker": str(slot)}, stats[key])
                   for slot, stats in sorted(per_worker.items()) if key in stats]
        if samples:
            families.append((name, kind, text, samples))
    total = aggregate(per_worker)
    for key, (name, kind, text) in METRICS.items():
        if key in total:
            families.append((name.replace("fastreactor_", "fastreactor_all_", 1), kind,
                             text + " Over all workers.", [({}, total[key])]))
    families.append(("fastreactor_workers", "gauge", "Workers running.",
                     [({}, supervisor.get("workers", 0))]))
    families.append(("fastreactor_worker_restarts_total", "counter",
                     "Workers restarted after dying.", [({}, supervisor.get("restarts", 0))]))
    return families


def _number(value):
    if isinstance(value, float):
        return repr(value)
    return str(int(value))


def render_plain(per_worker, supervisor):
    """Prometheus text format, without prometheus_client."""
    lines = []
    for name, kind, text, samples in _families(per_worker, supervisor):
        lines.append("# HELP %s %s" % (name, text))
        lines.append("# TYPE %s %s" % (name, kind))
        for labels, value in samples:
            label_text = ",".join('%s="%s"' % item for item in sorted(labels.items()))
            lines.append("%s%s %s" % (name, "{%s}" % label_text if label_text else "",
                                      _number(value)))
    return ("\n".join(lines) + "\n").encode("utf-8")


def render_prometheus_client(per_worker, supervisor):
    """Prometheus text format produced by prometheus_client (ImportError if it is absent)."""
    from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.exposition import generate_latest

    families = _families(per_worker, supervisor)

    class Collector:
        def collect(self):
            for name, kind, text, samples in families:
                if kind == "counter":
                    family = CounterMetricFamily(name[:-len("_total")], text,
                                                 labels=sorted(samples[0][0]))
                else:
                    family = GaugeMetricFamily(name, text, labels=sorted(samples[0][0]))
                for labels, value in samples:
                    family.add_metric([labels[k] for k in sorted(labels)], value)
                yield family

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())
    return generate_latest(registry)


def render(per_worker, supervisor, use_prometheus_client=True):
    """The metrics page: with prometheus_client if it is installed (and wanted), else plain."""
    if use_prometheus_client:
        try:
            return render_prometheus_client(per_worker, supervisor)
        except ImportError:
            pass
    return render_plain(per_worker, supervisor)
