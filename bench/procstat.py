"""Read a process's CPU time and resident memory from /proc (Linux)."""
import os

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU seconds used so far by PID: the sum of its live threads' run time in
    nanoseconds from /proc/PID/task/*/schedstat where the kernel has it (a server's per-message CPU
    is ~3 us: the 10 ms ticks of /proc/PID/stat would be up to 1% off over a 2 s window), else
    utime + stime from /proc/PID/stat (which also counts threads that have exited)."""
    try:
        total = 0
        for task in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, task)) as f:
                    total += int(f.read().split()[0])
            except FileNotFoundError:
                continue    # the thread ended meanwhile
        return total / 1e9
    except (OSError, ValueError, IndexError):
        pass
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLOCK_TICKS


def rss_kib(pid):
    """Resident set size of PID in KiB, from VmRSS in /proc/PID/status."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise ValueError("no VmRSS for pid %d" % pid)


def machine_busy_seconds():
    """CPU seconds all cores spent busy (user, nice, system, irq, softirq, steal), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS
