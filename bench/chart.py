"""Draw a PNG chart of a run's medians (matplotlib, imported only when a chart is wanted)."""
import impls
import plan
import report

COLORS = {"fastreactor": "#d62728", "fastreactor-twisted": "#ff9896", "twisted": "#1f77b4",
          "asyncio": "#2ca02c", "uvloop": "#9467bd",
          "rloop": "#8c564b", "aiofastnet": "#e377c2", "c": "#7f7f7f",
          "c-python": "#bcbd22"}


def _bars(ax, groups, series, title, ylabel, log=False):
    """Grouped bars: GROUPS on the x axis, one bar per implementation of SERIES {impl: [values]}."""
    names = [n for n in impls.ORDER if n in series]
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        xs = [g + (i - (len(names) - 1) / 2) * width for g in range(len(groups))]
        ax.bar(xs, [v or 0 for v in series[name]], width, label=name, color=COLORS.get(name))
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    if log:
        ax.set_yscale("log")


def draw(result, path):
    """Write the chart of RESULT (run.py's JSON document) to PATH."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report.summarize(result["runs"])
    med = {(r["workload"], r["case"]["id"], r["impl"]): r["median"] for r in rows}
    cfg = result["config"]
    panels = []
    if "echo" in cfg["workloads"]:
        for size in cfg["sizes"]:
            cs = [c for c in result["cases"]["echo"] if c["size"] == size]
            panels.append(("echo", cs, [str(c["conns"]) + " conn" for c in cs], "rate",
                           "echo %s: messages/s" % plan.size_label(size), "msg/s", True))
    if "web" in cfg["workloads"]:
        cs = result["cases"]["web"]
        panels.append(("web", cs, [str(c["conns"]) + " conn" for c in cs], "rate",
                       "twisted.web hello world: requests/s", "req/s", False))
    for workload, key, title, unit, log in (
            ("connect", "rate", "short-lived connections/s", "conn/s", False),
            ("idle", "bytes_per_conn", "server bytes per idle connection (lower is better)", "bytes", False),
            ("timers", "ops_s", "timers/s", "timers/s", False),
            ("framing", "rate", "framing messages/s", "msg/s", True)):
        if workload in cfg["workloads"]:
            cs = result["cases"][workload]
            panels.append((workload, cs, [c.get("kind", "") or c["label"].split(",")[0] for c in cs], key, title,
                           unit, log))
    cols = 4
    nrows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.3 * nrows), squeeze=False)
    for ax, (workload, cs, groups, key, title, unit, log) in zip(axes.flat, panels):
        series = {}
        for name in plan.participants(workload):
            values = [med.get((workload, c["id"], name), {}).get(key) for c in cs]
            if any(v for v in values):
                series[name] = values
        _bars(ax, groups, series, title, unit, log)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles, labels = {}, {}
    for ax in axes.flat:
        for h, l in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(l, h)
    fig.legend([handles[n] for n in impls.ORDER if n in handles], [n for n in impls.ORDER if n in handles],
               loc="upper center", bbox_to_anchor=(0.5, 0.96), ncol=6, fontsize=9)
    m = result["machine"]
    fig.suptitle("fastreactor bench (%s mode) - %s, %s cores, %s" % (cfg["mode"], m["cpu"], m["cores"], m["python"]),
                 fontsize=10, y=0.998)
    fig.tight_layout(rect=(0, 0, 1, 0.90))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
