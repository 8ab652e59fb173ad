"""What the sandbox counted while an exec ran: the cgroup's counters of limits hit (v1 or v2, as the
runtime shows them) and the workspace's free room. The same counters a run's supervisor reports
(programs/supervisor.sh); the server maps both onto limits_hit with one rule (verdict.ts
limitsHitBy)."""

import os

# Each counter: the first of its files (cgroup v1, then v2) that has it, with the key of its
# "key value" line, or None where the file is one number. supervisor-protocol.ts describes them.
# fmt: off
COUNTERS = {
    "oom_kills": (("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill"), ("/sys/fs/cgroup/memory.events", "oom_kill")),
    "pids_refused": (("/sys/fs/cgroup/pids/pids.events", "max"), ("/sys/fs/cgroup/pids.events", "max")),
    "memory_at_limit": (("/sys/fs/cgroup/memory/memory.failcnt", None), ("/sys/fs/cgroup/memory.events", "max")),
}
# fmt: on


def cgroup_count(files):
    """A counter of the container's cgroup: the first of `files` that has it, as one number or as
    the value of its key in a "key value" file; 0 where the runtime shows none."""
    for path, key in files:
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
    return {name: cgroup_count(files) for name, files in COUNTERS.items()}


def workspace_free(workspace):
    """Free blocks and file slots of the workspace, or None each when it cannot be read."""
    try:
        found = os.statvfs(workspace)
        return found.f_bavail, found.f_favail
    except OSError:
        return None, None
