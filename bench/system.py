"""System benchmark: the whole pipeline co-located on this machine, with the fleet as load.

    .venv/bin/python bench/system.py                 # stepped search, both mixes, ~25 s a step
    .venv/bin/python bench/system.py --quick         # 0.5k, 1k, 2k readings/s, 8 s a step
    .venv/bin/python bench/system.py --rates 2000,5000,10000,20000 --mix virtual-ward \\
        --profile var/ingest-profile.txt            # plus py-spy of ingest on the first step
    .venv/bin/python bench/system.py --mix virtual-ward --rates 2000,4000 --step-seconds 15 \\
        --all-steps --pg-statements 15              # plus PostgreSQL's top statements a step
    .venv/bin/python bench/system.py --mix virtual-ward --ingest-workers 2   # scaled-out ingest

What runs (all child processes we own, loopback, nothing else touched): PostgreSQL, Mosquitto
(no persistence: the devstack default rewrites its store per message), `vigil ingest` (alerting
and sweeper on, as deployed), `vigil api` (idle, answering a health probe: it is part of the
co-located footprint), and `vigil sim fleet` as the load, in its own process. With
--ingest-workers N, N ingest processes each own a share of the topic buckets (deploy/).

For each mix, a stepped search over readings/s: each step is a fresh fleet (own prefix, enrolled
first in a separate process) generating at that rate for --step-seconds, then draining. A step
passes when the fleet's oracle holds (nothing lost, nothing doubled, the database agrees) and
p99 publish-to-ack is under --p99-ms; the search stops at the first step that fails (--all-steps:
it goes on, for figures beyond the limit). Patients supported = the highest passing rate divided
by what one patient produces in that mix. The raw COPY ceiling comes from
bench/ingest.py's run_ceiling in the same run, against the same server.

The fleet reports latency from publish to the gateway receiving ingest's end-to-end ack: that is
publish-to-commit plus one broker hop, so it is an upper bound on publish-to-commit.
CPU per process is metered over the fleet's traffic window only (generation + drain, from the
wall-clock start the fleet reports): not enrolment, the fleet's start-up, nor the database
cross-check after it. The fleet's own figure is its process CPU over that window (FleetReport
cpu_s). With --max-gateways below the patient count the fleet time-compresses, so each message
carries more readings than a real 1 Hz gateway's two: the step line says how many.
The machine is shared: figures move with the neighbours; CPU seconds per reading move less.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402
import psycopg  # noqa: E402
from ingest_module import load_ingest_bench  # noqa: E402 (bench/, beside this script)
from pg_statements import SETTINGS as PG_STATEMENTS_SETTINGS  # noqa: E402 (bench/ too)
from pg_statements import StatementMeter  # noqa: E402
from quiet import pg_processes, wait_quiet  # noqa: E402
from teardown import end_run  # noqa: E402

from devstack.mosquitto import MosquittoBroker  # noqa: E402
from devstack.ports import free_port  # noqa: E402
from devstack.postgres import PostgresServer  # noqa: E402
from ingest import migrate  # noqa: E402
from simulators.fleet.cadence import KIT_ORDER, MIX_CADENCE, readings_per_second  # noqa: E402
from simulators.fleet.config import Mix  # noqa: E402
from simulators.fleet.report import FleetReport  # noqa: E402

# Virtual ward: a continuous pulse oximeter. Caseload: oximeter, BP, thermometer, scale, glucose.
DEVICES = {Mix.VIRTUAL_WARD: 1, Mix.CASELOAD: 5}
# Simulated gateways per step at most (see run_step): the goal's 10,000 patients one each.
DEFAULT_MAX_GATEWAYS = {Mix.VIRTUAL_WARD: 10_000, Mix.CASELOAD: 500}



def per_patient_rate(mix: Mix, devices: int) -> float:
    """Readings per second one patient's kit produces in real time."""
    return sum(readings_per_second(kind, MIX_CADENCE[mix][kind]) for kind in KIT_ORDER[:devices])


@dataclass
class Step:
    mix: Mix
    rate: float
    report: FleetReport | None
    error: str
    cpu_s: dict[str, float]
    rss_mb: dict[str, float]
    wall_s: float
    # The fleet's traffic window (wall-clock start, end), when it reported one.
    window: tuple[float, float] | None = None
    ingest_workers: int = 1

    @property
    def passed(self) -> bool:
        r = self.report
        return (r is not None and r.ok and r.readings_lost == 0 and r.readings_generated > 0
                and r.latency.p99_ms is not None and r.latency.p99_ms < P99_LIMIT_MS[0]
                and not self.fleet_bound)

    @property
    def fleet_bound(self) -> bool:
        """The load generator could not reach the target: the step did not test it."""
        return self.report is not None and self.report.generated_per_s < 0.9 * self.rate


P99_LIMIT_MS = [1000.0]


class Processes:
    """CPU seconds and peak resident memory of named process groups, sampled with psutil."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = {name: [psutil.Process(p) for p in pids] for name, pids in groups.items()}
        self.start = {name: self._cpu(name) for name in self.groups}
        self.last = dict(self.start)  # a process that exits keeps its last reading
        self.peak: Counter[str] = Counter()
        # (wall time, cumulative CPU s) per group, to meter exactly the fleet's traffic window.
        self.series: dict[str, list[tuple[float, float]]] = {
            name: [(time.time(), self.start[name])] for name in self.groups}

    def add(self, name: str, pid: int) -> None:
        with contextlib.suppress(psutil.Error):
            self.groups[name] = [psutil.Process(pid)]
            self.start[name] = self.last[name] = 0.0
            self.series[name] = [(time.time(), 0.0)]

    def _cpu(self, name: str) -> float:
        total = 0.0
        for p in self.groups[name]:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
        return total

    def sample(self) -> None:
        for name, procs in self.groups.items():
            self.last[name] = max(self.last[name], self._cpu(name))
            self.series[name].append((time.time(), self.last[name]))
            rss = 0
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    rss += p.memory_info().rss
            self.peak[name] = max(self.peak[name], rss)

    def cpu_used(self) -> dict[str, float]:
        return {name: max(self.last[name], self._cpu(name)) - self.start[name]
                for name in self.groups}

    def cpu_between(self, name: str, start: float, end: float) -> float:
        """CPU seconds the group used between two wall times (linear between samples)."""
        return self._at(name, end) - self._at(name, start)

    def _at(self, name: str, when: float) -> float:
        points = self.series[name]
        if when <= points[0][0]:
            return points[0][1]
        for (t0, c0), (t1, c1) in itertools.pairwise(points):
            if t0 <= when <= t1:
                return c0 + (c1 - c0) * ((when - t0) / (t1 - t0) if t1 > t0 else 1.0)
        return points[-1][1]


def wait_log(path: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{path.name}: {text!r} never appeared:\n"
                               + path.read_text(errors="replace")[-2000:])
        time.sleep(0.1)


def settle(ingest_pids: list[int]) -> float:
    """Wait until ingest is idle (under 10 % of a core for 3 s): a previous step's backlog,
    resends included (which add no rows), has drained, so a step never pays for the one before
    it. Returns the seconds waited."""
    return wait_quiet(lambda: ingest_pids, busy_cores=0.1)


def run_step(mix: Mix, rate: float, seconds: float, args: argparse.Namespace, pg: PostgresServer,
             broker: MosquittoBroker, pids: dict[str, list[int]], work: Path, n: int,
             profile: Path | None, statements: StatementMeter | None = None) -> Step:
    devices = DEVICES[mix]
    patients = rate / per_patient_rate(mix, devices)
    # One gateway per patient up to --max-gateways; beyond that the fleet time-compresses
    # (each simulated home then sends proportionally more per message: fewer, fuller batches).
    # Measured: compression flatters the system -- at 2,000 readings/s with 500 gateways
    # (4 readings a message) ingest cost 195 us a reading and kept up; with 1,000 gateways
    # (2 a message, what real 1 Hz gateways send) 415 us, and it fell behind. So the virtual
    # ward defaults to one gateway per patient; the caseload, a day squeezed into minutes,
    # cannot avoid compression and keeps 500.
    limit = args.max_gateways or DEFAULT_MAX_GATEWAYS[mix]
    gateways = int(max(1, min(patients, limit)))
    prefix = f"s{n}{mix.value[:2]}"
    fleet_args = ["--gateways", str(gateways), "--devices-per-gateway", str(devices),
                  "--mix", mix.value, "--prefix", prefix, "--seed", str(n)]
    # Enrolment first, in its own process: its database work is not the step's load.
    enrol = subprocess.run([sys.executable, "-m", "vigil.cli", "sim", "fleet", *fleet_args,
                            "--enrol", pg.url, "--no-run"], cwd=REPO, capture_output=True)
    if enrol.returncode != 0:
        raise RuntimeError(f"enrolling {prefix} failed:\n{enrol.stderr.decode()[-2000:]}")
    cmd = [sys.executable, "-m", "vigil.cli", "sim", "fleet", "--mqtt-url", broker.url,
           *fleet_args, "--rate", str(rate), "--duration", str(seconds),
           "--drain", str(args.drain), "--values", "flat",
           "--connections", str(args.connections), "--database-url", pg.url,
           "--alert-settle", "0", "--json", "--quiet", *args.fleet_arg]
    out = work / f"fleet-{n}.json"
    err = work / f"fleet-{n}.log"
    if statements is not None:
        statements.reset()  # after enrolment: only the step's traffic counts
    with open(out, "wb") as o, open(err, "wb") as e:
        fleet = subprocess.Popen(cmd, cwd=REPO, stdout=o, stderr=e)
    meter = Processes(pids)
    meter.add("fleet", fleet.pid)
    profiler = None
    started = time.monotonic()
    while fleet.poll() is None:
        meter.sample()
        if statements is not None:
            statements.maybe_snapshot()
        if profile is not None and profiler is None and time.monotonic() - started > 3:
            # After enrolment and warm-up; py-spy samples ingest while the fleet generates.
            profiler = subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "-o", str(profile),
                 "-p", str(pids["ingest"][0]), "-d", str(int(max(5, seconds - 2))), "-r", "100",
                 "--nonblocking", "--format", "raw"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    cpu = meter.cpu_used()
    if profiler is not None:
        profiler.wait(60)
    wall = time.monotonic() - started
    window = None
    text = out.read_text()
    try:
        report = FleetReport.model_validate(json.loads(text))
        error = ""
    except ValueError:
        report, error = None, err.read_text(errors="replace")[-1500:]
    if report is not None and report.started_unix is not None and report.cpu_s is not None:
        # Meter the traffic window only: not the fleet's start-up, nor the database check
        # after it (a SELECT of every stored id, which PostgreSQL would be charged for).
        start = report.started_unix
        end = start + report.generating_s + report.draining_s
        cpu = {name: meter.cpu_between(name, start, end) for name in cpu if name != "fleet"}
        cpu["fleet"] = report.cpu_s
        window = (start, end)
    return Step(mix, rate, report, error, cpu, {k: v / 2**20 for k, v in meter.peak.items()},
                wall, window, args.ingest_workers)


SYSTEM = ("ingest", "postgres", "mosquitto")


def cpu_capacity(step: Step) -> float:
    """Readings/s the system side (ingest + PostgreSQL + Mosquitto, not the load generator)
    could carry on this machine's idle cores at this step's CPU cost per reading, bounded by
    ingest's GIL-bound processes (one core each at most)."""
    r = step.report
    if r is None or not r.readings_generated:
        return float("nan")
    per = {k: step.cpu_s[k] / r.readings_generated for k in SYSTEM}
    total = sum(per.values())
    cores = os.cpu_count() or 1
    return min(step.ingest_workers / per["ingest"] if per["ingest"] else float("inf"),
               cores / total if total else float("inf"))


def print_step(step: Step) -> None:
    r = step.report
    if r is None:
        print(f"  {step.rate:>8,.0f}/s  FLEET FAILED: {step.error.strip()[-400:]}")
        return
    lat = r.latency
    db = r.database
    print(f"  {step.rate:>8,.0f}/s target  {r.generated_per_s:>8,.0f} generated/s  "
          f"{r.acked_per_s:>8,.0f} acked/s  lost {r.readings_lost}  "
          f"dup {db.duplicates if db else '?'}  missing {db.missing if db else '?'}  "
          f"p50 {lat.p50_ms or float('nan'):.0f} ms  p99 {lat.p99_ms or float('nan'):.0f} ms  "
          f"{'PASS' if step.passed else 'FLEET-BOUND' if step.fleet_bound else 'FAIL'}")
    readings = max(1, r.readings_generated)
    window = r.generating_s + r.draining_s
    print("      CPU s (us/reading): " + ", ".join(
        f"{k} {v:.1f} ({v / readings * 1e6:.0f})" for k, v in step.cpu_s.items())
        + f" over the {window:.0f} s traffic window ({step.wall_s:.0f} s wall in all)")
    carried = r.readings_sent + r.resent_readings
    print(f"      {r.gateways} gateways, {r.messages_published} messages, "
          f"{carried / max(1, r.messages_published):.1f} readings a message "
          f"(a real 1 Hz oximeter gateway, lingering 2 s, sends 4-6)")
    print("      peak RSS MB: " + ", ".join(f"{k} {v:.0f}" for k, v in step.rss_mb.items()))
    print(f"      p90 {lat.p90_ms or float('nan'):.0f} ms, max {lat.max_ms or float('nan'):.0f} ms;"
          f" resent {r.resent_readings}; CPU-cost capacity of ingest+postgres+mosquitto on idle "
          f"cores: {cpu_capacity(step):,.0f} readings/s")
    if r.latency_windows:
        print("      p99 by when published: " + ", ".join(
            f"{w.start_s:.0f}-{w.end_s:.0f} s {w.latency.p99_ms or float('nan'):.0f} ms"
            for w in r.latency_windows))


# Where a sample's stack goes: the first category whose marker is one of its frames' files or
# functions (checked in this order, so the alert hook inside the writer counts as alerting).
CATEGORIES = (
    ("alert rules (hook, evaluation, alert rows)", ("hook.py", "alerting", "rules")),
    ("gateway status / device events", ("BatchWriter._status", "BatchWriter._events")),
    ("storage: COPY + SQL in the writer", ("writer.py",)),
    ("acks to gateways and to the broker", ("_acknowledge", "_publish_acks")),
    ("decode + validate (JSON, pydantic)", ("_decode_loop", "decoding.py", "rawjson.py")),
    ("MQTT I/O (paho)", ("paho",)),
)


def categorise(path: Path) -> None:
    shares: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        total += int(count)
        name = "other (sweeper, logging, GC, threads)"
        for label, markers in CATEGORIES:
            if any(m in stack for m in markers):
                name = label
                break
        shares[name] += int(count)
    print("  by stage (share of on-CPU samples):")
    for name, n in shares.most_common():
        print(f"    {n / max(1, total):6.1%}  {name}")


def summarise_profile(path: Path, top: int = 15) -> None:
    """Self and inclusive sample shares from py-spy's collapsed stacks."""
    if not path.exists():
        print("profile: py-spy wrote nothing (is ptrace permitted?)")
        return
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1]
                  + ")" for f in stack.split(";")]
        own[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    if not total:
        print("profile: no samples")
        return
    print(f"profile of ingest ({total} samples, {path}):")
    categorise(path)
    print("  self time:")
    for name, n in own.most_common(top):
        print(f"    {n / total:6.1%}  {name}")
    print("  inclusive (project code):")
    shown = 0
    for name, n in inclusive.most_common():
        if any(p in name for p in ("consumer", "writer", "decoding", "rawjson", "alerting",
                                   "rules", "messages", "client.py", "copy")):
            print(f"    {n / total:6.1%}  {name}")
            shown += 1
            if shown >= top:
                break


def probe_api(port: int, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
                return f"/healthz -> {resp.status}"
        except urllib.error.HTTPError as exc:
            return f"/healthz -> {exc.code}"
        except OSError:
            time.sleep(0.5)
    return "no answer"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mix", choices=[m.value for m in Mix], action="append",
                   help="mix to search (repeatable; default both)")
    p.add_argument("--rates", default="2000,5000,10000,20000,50000",
                   help="readings/s steps, comma-separated, ascending")
    p.add_argument("--step-seconds", type=float, default=25.0)
    p.add_argument("--drain", type=float, default=30.0, help="fleet drain after each step")
    p.add_argument("--p99-ms", type=float, default=1000.0)
    p.add_argument("--max-gateways", type=int, default=None,
                   help="simulated gateways per step at most (the rest is time compression); "
                   "default one per patient up to 10,000 for the virtual ward, 500 for the "
                   "caseload")
    p.add_argument("--ingest-workers", type=int, default=1,
                   help="ingest processes, each owning a share of the gateways (--workers)")
    p.add_argument("--connections", type=int, default=4, help="fleet MQTT connections")
    p.add_argument("--ceiling-rows", type=int, default=300_000)
    p.add_argument("--ingest-arg", action="append", default=[],
                   help="extra `vigil ingest` argument, e.g. --ingest-arg=--no-alerting")
    p.add_argument("--fleet-arg", action="append", default=[],
                   help="extra `vigil sim fleet` argument, e.g. --fleet-arg=--flush-interval=0.05")
    p.add_argument("--profile", type=Path, help="py-spy ingest during one step (collapsed)")
    p.add_argument("--profile-rate", type=float, default=2000.0,
                   help="the step to profile: the first of the first mix at or above this rate")
    p.add_argument("--all-steps", action="store_true",
                   help="run every rate even after one fails (figures beyond the limit)")
    p.add_argument("--keep", action="store_true",
                   help="keep the work dir (database, logs, fleet reports) afterwards")
    p.add_argument("--quick", action="store_true", help="0.5k, 1k, 2k readings/s, 8 s a step")
    p.add_argument("--pg-statements", type=int, default=0, metavar="N",
                   help="run PostgreSQL with pg_stat_statements and print each step's top N "
                   "statements by execution time (bench/pg_statements.py)")
    args = p.parse_args()
    if args.quick:
        args.rates, args.step_seconds, args.ceiling_rows = "500,1000,2000", 8.0, 100_000
        args.drain = min(args.drain, 20.0)
    P99_LIMIT_MS[0] = args.p99_ms
    rates = [float(r) for r in args.rates.split(",")]
    mixes = [Mix(m) for m in args.mix] if args.mix else [Mix.VIRTUAL_WARD, Mix.CASELOAD]

    work = Path(tempfile.mkdtemp(prefix="vigil-system-bench-"))
    pg = PostgresServer(work / "pg",
                        settings=PG_STATEMENTS_SETTINGS if args.pg_statements else {})
    statements: StatementMeter | None = None
    broker = MosquittoBroker(work / "mqtt", persistence=False, max_inflight=1000,
                             max_queued=10_000_000)
    children: list[subprocess.Popen[bytes]] = []
    try:
        pg.start()
        broker.start()
        migrate.migrate(pg.url)
        if args.pg_statements:
            assert pg.process is not None
            statements = StatementMeter(pg.url, pg.process.pid)
            statements.install()
        print(f"servers: PostgreSQL on :{pg.port}, Mosquitto on :{broker.port}; "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; "
              f"work dir {work}")

        bench_ingest = load_ingest_bench()
        with psycopg.connect(pg.admin_url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE ceiling")
        ceiling_url = pg.admin_url.rsplit("/", 1)[0] + "/ceiling"
        migrate.migrate(ceiling_url)
        fake = [bench_ingest.Message("g", "t", b"", [str(__import__("uuid").uuid4())
                                                     for _ in range(args.ceiling_rows)])]
        rows = bench_ingest.ceiling_rows(fake, args.ceiling_rows)
        one, two = bench_ingest.run_ceiling(ceiling_url, rows)
        print(f"raw COPY ceiling ({len(rows):,} rows, one connection): readings-shaped table "
              f"{one.rows_per_s:,.0f} rows/s; readings + reading_ids {two.rows_per_s:,.0f} rows/s")

        workers = args.ingest_workers
        logs = [work / f"ingest-{w}.log" for w in range(workers)]
        for w, log_path in enumerate(logs):
            # As deployed for scale (deploy/): each worker owns a disjoint share of the
            # gateways' topic buckets, with its own session, GIL and database connections.
            with open(log_path, "wb") as log:
                children.append(subprocess.Popen(
                    [sys.executable, "-m", "vigil.cli", "ingest", "--database-url", pg.url,
                     "--mqtt-url", broker.url, "--client-id", f"bench-system-ingest-{w}",
                     "--worker", str(w), "--workers", str(workers),
                     "--log-level", "WARNING", *args.ingest_arg], cwd=REPO, stdout=log,
                    stderr=log))
        api_log = work / "api.log"
        api_port = free_port()
        with open(api_log, "wb") as log:
            children.append(subprocess.Popen(
                [sys.executable, "-m", "vigil.cli", "api", "--database-url", pg.url, "--port",
                 str(api_port), "--log-level", "WARNING"], cwd=REPO, stdout=log, stderr=log,
                env={**os.environ, "VIGIL_JWT_SECRET": secrets.token_hex(32)}))
        time.sleep(3)  # ingest logs at WARNING: give it its connection and subscriptions
        for child, log_path in zip(children, [*logs, api_log], strict=True):
            if child.poll() is not None:
                raise RuntimeError(log_path.read_text(errors="replace")[-2000:])
        ingest_pids = [c.pid for c in children[:workers]]
        print(f"vigil ingest pid(s) {', '.join(map(str, ingest_pids))} "
              f"{' '.join(args.ingest_arg)}; vigil api pid {children[-1].pid} "
              f"(probe {probe_api(api_port)})")
        pids = {"ingest": ingest_pids, "api": [children[-1].pid],
                "postgres": pg_processes(pg),
                "mosquitto": [broker.process.pid] if broker.process else []}

        best: dict[Mix, Step | None] = {}
        n = 0
        profiled = False
        for mix in mixes:
            per_patient = per_patient_rate(mix, DEVICES[mix])
            print(f"\n{mix.value}: {DEVICES[mix]} device(s) a patient, "
                  f"{per_patient:.5g} readings/s a patient in real time")
            best[mix] = None
            for rate in rates:
                n += 1
                profile = None
                if args.profile and not profiled and (rate >= args.profile_rate
                                                      or rate == rates[-1]):
                    profile, profiled = args.profile, True
                waited = settle(ingest_pids)
                if waited > 10:
                    print(f"  (waited {waited:.0f} s for the previous backlog to drain)")
                step = run_step(mix, rate, args.step_seconds, args, pg, broker, pids, work, n,
                                profile, statements)
                print_step(step)
                if statements is not None and step.report is not None:
                    window = step.window or (statements.snapshots[0].at, time.time())
                    statements.report(args.pg_statements, window,
                                      step.report.readings_generated,
                                      step.cpu_s.get("postgres"))
                if not step.passed:
                    if args.all_steps:
                        continue
                    break
                best[mix] = step  # rates ascend: the last passing step is the highest
        print("\nsummary (highest passing step; zero loss and p99 publish->ack "
              f"< {args.p99_ms:.0f} ms):")
        for mix, found in best.items():
            if found is None or found.report is None:
                print(f"  {mix.value:<13} no passing step")
                continue
            step, r = found, found.report
            sustained = min(step.rate, r.generated_per_s)
            patients = sustained / per_patient_rate(mix, DEVICES[mix])
            print(f"  {mix.value:<13} {sustained:>8,.0f} readings/s sustained "
                  f"(acked {r.acked_per_s:,.0f}/s) = {patients:,.0f} patients; "
                  f"p50 {r.latency.p50_ms:.0f} ms, p99 {r.latency.p99_ms:.0f} ms; "
                  f"{sustained / one.rows_per_s:.1%} of the one-table COPY ceiling, "
                  f"{sustained / two.rows_per_s:.1%} of the two-table one")
        if args.profile:
            summarise_profile(args.profile)
        return 0
    finally:
        if statements is not None:
            statements.close()
        end_run(children, [broker, pg], work, args.keep)


if __name__ == "__main__":
    sys.exit(main())
