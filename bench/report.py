"""Turn the runs of a benchmark into medians, ratios and tables (plain text and Markdown)."""
import statistics

import impls
import plan

# (key, column title, format, give a ratio for ours); rates: higher is better, the rest lower.
# Server CPU per operation has two decimals ("f2"): a 5% difference at ~3 us is 0.15 us, which one
# decimal cannot show.
COLUMNS = {
    "echo": [("rate", "msg/s", "int", True), ("mib_s", "MiB/s", "f1", True), ("p50_us", "p50 us", "f1", True),
             ("p99_us", "p99 us", "f1", True), ("server_us_op", "server CPU us/msg", "f2", True),
             ("server_cpu_pct", "server CPU", "pct", False),
             ("cpu_pct", "loadgen CPU", "pct", False), ("other_cpu_pct", "other CPU", "pct", False)],
    "connect": [("rate", "conn/s", "int", True), ("p50_us", "p50 us", "f1", True), ("p99_us", "p99 us", "f1", True),
                ("server_us_op", "server CPU us/conn", "f2", True), ("server_cpu_pct", "server CPU", "pct", False),
                ("cpu_pct", "loadgen CPU", "pct", False), ("other_cpu_pct", "other CPU", "pct", False)],
    "web": [("rate", "req/s", "int", True), ("p50_us", "p50 us", "f1", True), ("p99_us", "p99 us", "f1", True),
            ("server_us_op", "server CPU us/req", "f2", True), ("server_cpu_pct", "server CPU", "pct", False),
            ("cpu_pct", "loadgen CPU", "pct", False), ("other_cpu_pct", "other CPU", "pct", False)],
    "udp": [("rate", "dgram/s", "int", True), ("p50_us", "p50 us", "f1", True), ("p99_us", "p99 us", "f1", True),
            ("server_us_op", "server CPU us/dgram", "f2", True), ("server_cpu_pct", "server CPU", "pct", False),
            ("cpu_pct", "loadgen CPU", "pct", False), ("other_cpu_pct", "other CPU", "pct", False),
            ("errors", "lost", "int", False)],
    "idle": [("bytes_per_conn", "bytes/conn", "int", True), ("rss_base_kib", "RSS at 0 (KiB)", "int", False),
             ("rss_kib", "RSS at N (KiB)", "int", False)],
    "timers": [("ops_s", "timers/s", "int", True), ("ops_cpu_s", "timers/CPU-s", "int", True)],
    "framing": [("rate", "msg/s", "int", True), ("mib_s", "MiB/s", "f1", True)],
}

COLUMNS["unix"] = COLUMNS["echo"]

TITLES = {
    "echo": "Echo (closed loop, one message in flight per connection)",
    "unix": "Echo over UNIX stream sockets (closed loop, one message in flight per connection)",
    "connect": "Short-lived connections (connect, 16 B echo, close)",
    "web": "twisted.web hello world (keep-alive GET /, one request in flight per connection)",
    "udp": "UDP echo (closed loop, one datagram in flight per client socket; lost = not answered in 200 ms)",
    "idle": "Server memory per idle connection",
    "timers": "Timers (schedule, cancel a third, fire the rest)",
    "framing": "Framing (64 KiB chunks fed to dataReceived, no sockets)",
}


def summarize(runs):
    """Median of every metric per (workload, case, implementation): a list of row dicts.

    Each row has workload, case, impl, n (successful runs), median {metric: value} and errors.
    """
    groups = {}
    for run in runs:
        key = (run["workload"], run["case"]["id"], run["impl"])
        row = groups.setdefault(key, {"workload": run["workload"], "case": run["case"], "impl": run["impl"],
                                      "samples": [], "errors": []})
        if "error" in run:
            row["errors"].append(run["error"])
        elif "metrics" in run:
            row["samples"].append(run["metrics"])
    rows = list(groups.values())
    for row in rows:
        samples = row.pop("samples")
        row["n"] = len(samples)
        row["median"] = {}
        for key, _, _, _ in COLUMNS[row["workload"]]:
            values = [s[key] for s in samples if s.get(key) is not None]
            if values:
                row["median"][key] = statistics.median(values)
    return rows


def ratios(rows):
    """For each row of ours, {peer: {metric: ours / peer}} from the medians of the same run."""
    by_case = {}
    for row in rows:
        by_case.setdefault((row["workload"], row["case"]["id"]), {})[row["impl"]] = row
    out = {}
    for row in rows:
        if row["impl"] not in impls.OURS or not row["median"]:
            continue
        peers = by_case[(row["workload"], row["case"]["id"])]
        for peer in impls.PEERS:
            if peer not in plan.participants(row["workload"]):
                continue  # e.g. no uvloop in the twisted.web workload
            p = peers.get(peer)
            r = {}
            if p and p["median"]:
                for key, _, _, want in COLUMNS[row["workload"]]:
                    if want and row["median"].get(key) and p["median"].get(key):
                        r[key] = row["median"][key] / p["median"][key]
            out.setdefault((row["workload"], row["case"]["id"], row["impl"]), {})[peer] = r
    return out


def fmt(value, kind):
    """Format a number for a table cell."""
    if value is None:
        return "-"
    if kind == "int":
        return "{:,.0f}".format(value)
    if kind == "f1":
        return "{:,.1f}".format(value)
    if kind == "f2":
        return "{:,.2f}".format(value)
    if kind == "pct":
        return "%.0f%%" % value
    if kind == "ratio":
        return "x%.2f" % value
    return str(value)


def tables(result):
    """Sections of the report, each {title, header, rows, notes}; rows are lists of cell strings.

    RESULT is the JSON document written by run.py (runs, unavailable, config).
    """
    rows = summarize(result["runs"])
    rat = ratios(rows)
    unavailable = result.get("unavailable", {})
    sections = []
    for workload in result["config"]["workloads"]:
        cols = COLUMNS[workload]
        header = ["case", "implementation"] + [c[1] for c in cols]
        body, notes = [], []
        for case in result["cases"][workload]:
            first = True
            for name in plan.participants(workload):
                if name not in result["config"]["impls"]:
                    continue
                reason = unavailable.get(workload, {}).get(name)
                row = next((r for r in rows if r["workload"] == workload and r["case"]["id"] == case["id"]
                            and r["impl"] == name), None)
                label, first = (case["label"] if first else ""), False
                if reason is not None:
                    if reason not in notes:
                        notes.append(reason)
                    body.append([label, name, "not available (see note %d)" % (notes.index(reason) + 1)]
                                + [""] * (len(cols) - 1))
                    continue
                if row is None or not row["median"]:
                    err = row["errors"][-1] if row and row["errors"] else "no result"
                    if err not in notes:
                        notes.append(err)
                    body.append([label, name, "failed (see note %d)" % (notes.index(err) + 1)] + [""] * (len(cols) - 1))
                    continue
                body.append([label, name] + [fmt(row["median"].get(k), f) for k, _, f, _ in cols])
                for peer, r in rat.get((workload, case["id"], name), {}).items():
                    body.append(["", "  %s / %s" % (name, peer)] +
                                [fmt(r.get(k), "ratio") if want else "" for k, _, _, want in cols])
        sections.append({"workload": workload, "title": TITLES[workload], "header": header, "rows": body,
                         "notes": notes})
    return sections


def render_text(sections):
    """The sections as aligned plain-text tables."""
    out = []
    for s in sections:
        widths = [max(len(r[i]) for r in [s["header"]] + s["rows"]) for i in range(len(s["header"]))]
        out.append(s["title"])
        out.append("  ".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(s["header"], widths))))
        out.append("  ".join("-" * w for w in widths))
        for r in s["rows"]:
            if r[0] and out[-1] and not out[-1].startswith("-"):
                out.append("")
            if r[2].startswith(("not available", "failed")):
                out.append("  ".join([r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2]]))
                continue
            out.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        for i, n in enumerate(s["notes"], 1):
            out.append("  note %d: %s" % (i, n))
        out.append("")
    return "\n".join(out)


def render_markdown(sections):
    """The sections as Markdown tables."""
    out = []
    for s in sections:
        out.append("### " + s["title"])
        out.append("")
        out.append("| " + " | ".join(s["header"]) + " |")
        out.append("|" + "|".join(["---", "---"] + ["---:"] * (len(s["header"]) - 2)) + "|")
        for r in s["rows"]:
            cells = list(r)
            if cells[1].startswith("  "):
                cells[1] = "&nbsp;&nbsp;" + cells[1].strip()
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        if s["notes"]:
            out.append("")
            for i, n in enumerate(s["notes"], 1):
                out.append("Note %d: %s  " % (i, n))
        out.append("")
    return "\n".join(out)
