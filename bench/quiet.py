"""Waiting for the system under test to go quiet between phases of a benchmark.

A phase that starts while the previous one's after-effects still run measures those too: the
backlog draining, and PostgreSQL's own work after a burst of inserts (autovacuum and analyze of
the new rows, the checkpointer, WAL writes). Measured with bench/ingest.py: starting the 20k/s
latency phase straight after the full-load phase put the worst latencies of the whole phase in
its first two seconds (290-370 ms a half-second, against 50-100 ms later in the same phase).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil

from devstack.postgres import PostgresServer


def pg_processes(pg: PostgresServer) -> list[int]:
    """The postmaster and every process under it, taken afresh: backends, the WAL writer, the
    checkpointer and autovacuum workers come and go."""
    assert pg.process is not None
    root = psutil.Process(pg.process.pid)
    return [root.pid, *(c.pid for c in root.children(recursive=True))]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes; one that has ended counts nothing."""
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def wait_quiet(processes: Callable[[], list[int]], quiet_s: float = 3.0,
               timeout: float = 180.0, busy_cores: float = 0.1) -> float:
    """Wait until the processes together use under `busy_cores` of a core for `quiet_s`
    seconds in a row (each second measured afresh, so new processes count), or `timeout`.
    Returns the seconds waited."""
    started = time.monotonic()
    quiet = 0.0
    while quiet < quiet_s and time.monotonic() - started < timeout:
        pids = processes()
        before = cpu_seconds(pids)
        time.sleep(1.0)
        # A process that ended during the second drops out of both sums alike.
        used = cpu_seconds(pids) - before
        quiet = quiet + 1.0 if used < busy_cores else 0.0
    return time.monotonic() - started
