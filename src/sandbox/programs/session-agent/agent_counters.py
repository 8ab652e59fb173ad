"""What the sandbox counted while an exec ran: the cgroup's counters of limits hit (v1 or v2, as the
runtime shows them) and the workspace's free room. The same counters a run's supervisor reports
(programs/supervisor.sh); the server maps both onto limits_hit with one rule (verdict.ts
limitsHitBy)."""

import os

COUNTER_FILES = {
    "oom_kills": (("/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"), "oom_kill"),
    "pids_refused": (("/sys/fs/cgroup/pids/pids.events", "/sys/fs/cgroup/pids.events"), "max"),
}


def cgroup_count(files, key=None):
    """A counter of the container's cgroup: the first of `files` that can be read, as one number
    or as the value of `key` in a "key value" file; 0 where the runtime shows none."""
    for path in files:
        try:
            with open(path) as counters:
                for line in counters:
                    name, _, value = line.partition(" ")
                    if key is None:
                        return int(name)
                    if name == key:
                        return int(value)
        except (OSError, ValueError):
            continue
    return 0


def counters():
    """The cgroup's counts of limits hit so far: OOM kills, forks refused, memory at its limit."""
    found = {name: cgroup_count(files, key) for name, (files, key) in COUNTER_FILES.items()}
    found["memory_at_limit"] = cgroup_count(("/sys/fs/cgroup/memory/memory.failcnt",)) or cgroup_count(
        ("/sys/fs/cgroup/memory.events",), "max"
    )
    return found


def workspace_free(workspace):
    """Free blocks and file slots of the workspace, or None each when it cannot be read."""
    try:
        found = os.statvfs(workspace)
        return found.f_bavail, found.f_favail
    except OSError:
        return None, None
