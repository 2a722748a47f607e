#!/usr/bin/python3
"""Process figures for bench/smtp.sh, from /proc only.

  smtp_proc.py cpu PID     CPU seconds of PID and all its descendants, living or reaped:
                           utime+stime+cutime+cstime of PID plus the same of every living
                           descendant (a reaped child's time is in its parent's cutime/cstime)
  smtp_proc.py mem PID     "RSS_KIB HWM_KIB PSS_SUM_KIB NPROC": VmRSS and VmHWM of PID, and
                           the proportional set size summed over PID and its descendants
                           (shared pages counted once overall)
  smtp_proc.py fds PID     "OPEN LIMIT": open file descriptors and RLIMIT_NOFILE (soft)
  smtp_proc.py host        "BUSY TOTAL" jiffies of the whole machine from /proc/stat
"""
import os, sys

TICK = os.sysconf("SC_CLK_TCK")


def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
    return fields  # fields[0] = state, fields[1] = ppid, fields[11..14] = utime stime cutime cstime


def children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                kids.setdefault(int(stat(name)[1]), []).append(int(name))
            except (OSError, ValueError, IndexError):
                pass
    return kids


def tree(pid):
    kids, found, todo = children_map(), [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(kids.get(p, []))
    return found


def cpu(pid):
    total = 0
    for p in tree(pid):
        try:
            f = stat(p)
            total += sum(int(x) for x in f[11:15])
        except OSError:
            pass
    return total / TICK


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def mem(pid):
    pss, n = 0, 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
                        n += 1
                        break
        except OSError:
            pass
    return f"{status_kib(pid, 'VmRSS')} {status_kib(pid, 'VmHWM')} {pss} {n}"


def fds(pid):
    with open(f"/proc/{pid}/limits") as f:
        limit = next(int(l.split()[3]) for l in f if l.startswith("Max open files"))
    return f"{len(os.listdir(f'/proc/{pid}/fd'))} {limit}"


def host():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
    busy = user + nice + system + irq + softirq + steal
    return f"{busy} {busy + idle + iowait}"


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "cpu":
        print(f"{cpu(int(sys.argv[2])):.2f}")
    elif what == "mem":
        print(mem(int(sys.argv[2])))
    elif what == "fds":
        print(fds(int(sys.argv[2])))
    elif what == "host":
        print(host())
    else:
        sys.exit(__doc__)
