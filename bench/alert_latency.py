"""Publish-to-alert-on-SSE latency under load, through the real path.

    .venv/bin/python bench/alert_latency.py                     # steps 2k, 5k, 10k, 20k /s
    .venv/bin/python bench/alert_latency.py --rates 20000 --step-seconds 30
    .venv/bin/python bench/alert_latency.py --quick             # 2k and 5k, 8 s a step

What runs (own servers and child processes, loopback only): PostgreSQL, Mosquitto (persistence
as in deploy/mosquitto.conf), `vigil ingest` (alerting and sweeper on, shipped batch settings,
its own process; --ingest-workers N for N of them on bucket partitions, the documented scale-
out), `vigil api` (its own process). A clinician signs in through POST /auth/token
and holds GET /alerts/stream (SSE) open in a thread of this process; every enrolled patient is
in the clinician's care team, so every alert change is the clinician's to see.

Load: per step, an open loop of pre-encoded gateway batches (bench/ingest.py's generator,
--batch readings a message: SpO2 97-99 % and pulse 72-74 /min, nothing that alerts) from
--gateways home gateways, at the step's target rate. Every 1/--probe-rate s a probe is
published among them: a one-reading batch from a probe patient's gateway with SpO2 80 %,
measured now -- below the general adult rules' no-delay limit (< 85 %, high), so it opens a
new alert at once. Each probe goes to a fresh probe patient (one open alert per patient and
rule: a second probe on the same patient would change nothing). Probe patients were warmed
with a normal reading, like the background ones, so first-touch caches are not timed.

Timed per probe, all on this host's clock:
- publish -> SSE: from just before paho's publish() of the probe to this process reading the
  `alert` event whose trigger_reading_id is the probe's reading id off the SSE stream (the
  whole chain: broker, ingest batching, validation, COPY, rule evaluation, commit, NOTIFY,
  the API's LISTEN and alert read, SSE write, HTTP);
- publish -> commit: to ingest's commit time as reported in its end-to-end Ack
  (Ack.committed_at); commit -> SSE is the difference (NOTIFY + API fan-out).
Per step: p50 / p99 / max of each; readings/s published and stored (acknowledged by ingest
within the step's window), whether every background reading was acknowledged after draining;
CPU per reading of ingest, PostgreSQL, the API and the publisher (from /proc; the machine is
shared, CPU cost moves less than wall time).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
import psycopg  # noqa: E402
from ingest_module import load_ingest_bench  # noqa: E402 (bench/, beside this script)
from quiet import pg_processes  # noqa: E402
from teardown import end_run  # noqa: E402

from api.security import hash_password  # noqa: E402
from devstack.mosquitto import MosquittoBroker  # noqa: E402
from devstack.ports import free_port, wait_for_port  # noqa: E402
from devstack.postgres import PostgresServer  # noqa: E402
from vigil.messages import Reading, ReadingBatch, encode  # noqa: E402
from vigil.metrics import Metric  # noqa: E402
from vigil.topics import Channel, topic  # noqa: E402

GOAL_MS = 250.0
PROBE_SPO2 = 80.0  # general adult SpO2: < 85 % is high with no sustain delay
CLINICIAN = "clinician@bench.example"
PASSWORD = "bench-password"
SECRET = "bench-secret-" + "x" * 40



bench_ingest = load_ingest_bench()


# ---- setup ---------------------------------------------------------------------------------

def grant_clinician(url: str) -> None:
    """One care team holding every patient, and a clinician in it."""
    with psycopg.connect(url) as conn:
        org = conn.execute("SELECT id FROM organisations WHERE name = 'bench'").fetchone()
        assert org is not None
        team = conn.execute("INSERT INTO care_teams (organisation_id, name) VALUES (%s, 'Ward') "
                            "RETURNING id", (org[0],)).fetchone()
        user = conn.execute(
            "INSERT INTO users (organisation_id, email, display_name, password_hash, role) "
            "VALUES (%s, %s, 'Clinician', %s, 'clinician') RETURNING id",
            (org[0], CLINICIAN, hash_password(PASSWORD))).fetchone()
        assert team is not None and user is not None
        conn.execute("INSERT INTO team_members (team_id, user_id) VALUES (%s, %s)",
                     (team[0], user[0]))
        conn.execute("INSERT INTO patient_teams (patient_id, team_id) "
                     "SELECT id, %s FROM patients", (team[0],))
        conn.commit()


def background(fleet: list[tuple[str, list[str]]], readings: int, batch: int, salt: int
               ) -> list[Any]:
    """bench/ingest.py's messages, measured over the last moments rather than days ago (the
    rules' look-backs then see what live data would give them)."""
    per_gateway = max(batch, -(-readings // len(fleet) // batch) * batch)
    base_ts = time.time() - per_gateway * 0.01  # the generator spaces readings 10 ms apart
    chunks = [fleet[i::4] for i in range(4)]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        parts = pool.map(bench_ingest.generate,
                         [(c, per_gateway, batch, base_ts, salt, False) for c in chunks if c])
    messages: list[Any] = []
    for group in zip(*parts, strict=False):  # interleave gateways
        messages.extend(group)
    for part in parts:
        messages.extend(part[min(len(p) for p in parts):])
    return messages


def probe(gateway: str, device: str, sequence: int, value: float) -> Any:
    now = datetime.now(UTC)
    reading = Reading.create(device_id=device, metric=Metric.SPO2, value=value,
                             measured_at=now, received_at=now, sequence=sequence)
    payload = encode(ReadingBatch(gateway_id=gateway, sent_at=now, readings=[reading]))
    return bench_ingest.Message(gateway, topic(gateway, Channel.READINGS), payload, [reading.id])


class Gateways(bench_ingest.Gateways):  # type: ignore[name-defined,misc]
    """bench/ingest.py's gateway side, also keeping the commit time of each probe reading."""

    def __init__(self, broker: MosquittoBroker, probes: set[str]) -> None:
        self.probe_gateways = probes
        self.committed: dict[str, float] = {}
        super().__init__(broker)

    def _record_ack(self, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.split("/")[-2] in self.probe_gateways:
            ack = json.loads(msg.payload)
            at = datetime.fromisoformat(ack["committed_at"]).timestamp()
            with self.lock:
                for rid in ack.get("stored", []):
                    self.committed[rid] = at
        super()._record_ack(msg)


class AlertStream(threading.Thread):
    """The clinician's SSE connection: when each alert event arrived, by trigger reading id."""

    def __init__(self, base_url: str, token: str) -> None:
        super().__init__(daemon=True, name="sse")
        self.url = base_url + "/alerts/stream"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.ready = threading.Event()
        self.lock = threading.Condition()
        self.seen: dict[str, float] = {}
        self.events = 0
        self.error: BaseException | None = None
        self._client = httpx.Client(timeout=httpx.Timeout(10.0, read=None))

    def run(self) -> None:
        try:
            with self._client.stream("GET", self.url, headers=self.headers) as response:
                response.raise_for_status()
                name = ""
                for line in response.iter_lines():
                    if line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        self._event(name, line[5:].strip())
        except BaseException as exc:  # closed by stop(), or a real failure: say which
            self.error = exc
        finally:
            self.ready.set()

    def _event(self, name: str, data: str) -> None:
        now = time.time()
        if name == "ready":
            self.ready.set()
        elif name == "alert":
            rid = json.loads(data).get("trigger_reading_id")
            with self.lock:
                self.events += 1
                if rid is not None:
                    self.seen.setdefault(rid, now)
                    self.lock.notify_all()

    def wait_for(self, ids: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while not ids <= self.seen.keys() and time.monotonic() < deadline:
                self.lock.wait(0.2)

    def quiet(self, period: float, timeout: float) -> bool:
        """Wait until no alert event came for `period` seconds."""
        deadline = time.monotonic() + timeout
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            with self.lock:
                count = self.events
            if count != last:
                last, since = count, time.monotonic()
            elif time.monotonic() - since >= period:
                return True
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        self._client.close()


# ---- one step ------------------------------------------------------------------------------

@dataclass
class Step:
    rate: float
    seconds: float
    published: int = 0
    stored_in_window: int = 0
    drained: bool = False
    drain_s: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    to_sse: list[float] = field(default_factory=list)
    to_commit: list[float] = field(default_factory=list)
    commit_to_sse: list[float] = field(default_factory=list)
    probes: int = 0
    missing: int = 0
    flushes: dict[str, float] = field(default_factory=dict)  # ingest's means over the step


def run_step(rate: float, seconds: float, messages: list[Any], probes: list[tuple[str, str]],
             probe_rate: float, gateways: Gateways, stream: AlertStream,
             cpu_groups: dict[str, list[int]], metrics_ports: list[int]) -> Step:
    step = Step(rate, seconds)
    sums = ingest_sums(metrics_ports)
    sent_probes: dict[str, float] = {}
    acked_before = len(gateways.acked)
    cpu = bench_ingest.CpuMeter(cpu_groups)
    started = time.perf_counter()
    end = started + seconds
    next_probe = started + 0.5 / probe_rate
    it = iter(messages)
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        if now >= next_probe:
            gateway, device = probes[len(sent_probes)]
            message = probe(gateway, device, 1_000_000 + len(sent_probes), PROBE_SPO2)
            sent_probes[message.ids[0]] = time.time()
            gateways.publish(message)
            next_probe += 1 / probe_rate
            if len(sent_probes) == len(probes):
                next_probe = float("inf")
            continue
        due = started + step.published / rate
        if due > now:
            time.sleep(max(0.0, min(due, next_probe, end) - now))
            continue
        message = next(it, None)
        if message is None:
            print("  (ran out of background messages)", file=sys.stderr)
            break
        gateways.publish(message)
        step.published += len(message.ids)
    window = time.perf_counter() - started
    step.seconds = window
    step.stored_in_window = len(gateways.acked) - acked_before - len(
        set(sent_probes) & gateways.acked)
    drain_started = time.perf_counter()
    gateways.wait_all(120)
    step.drain_s = time.perf_counter() - drain_started
    step.drained = gateways.sent <= gateways.acked
    step.cpu = cpu.used()
    step.flushes = ingest_means(sums, ingest_sums(metrics_ports))
    stream.wait_for(set(sent_probes), 30)
    step.probes = len(sent_probes)
    with stream.lock, gateways.lock:
        for rid, sent in sent_probes.items():
            seen = stream.seen.get(rid)
            committed = gateways.committed.get(rid)
            if seen is None:
                step.missing += 1
                continue
            step.to_sse.append(seen - sent)
            if committed is not None:
                step.to_commit.append(committed - sent)
                step.commit_to_sse.append(seen - committed)
    return step


INGEST_HISTOGRAMS = ("vigil_ingest_wait_seconds", "vigil_ingest_batch_seconds",
                     "vigil_ingest_commit_seconds", "vigil_ingest_flush_readings")


def ingest_sums(ports: list[int]) -> dict[str, float]:
    """_sum and _count of the ingest workers' histograms (their /metrics), added up: means
    per step by difference."""
    out: dict[str, float] = {}
    for port in ports:
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        except httpx.HTTPError:
            continue
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name.endswith(("_sum", "_count")) and name.rsplit("_", 1)[0] in INGEST_HISTOGRAMS:
                out[name] = out.get(name, 0.0) + float(value)
    return out


def ingest_means(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    means = {}
    for name in INGEST_HISTOGRAMS:
        count = after.get(f"{name}_count", 0) - before.get(f"{name}_count", 0)
        if count > 0:
            total = after.get(f"{name}_sum", 0) - before.get(f"{name}_sum", 0)
            means[name.removeprefix("vigil_ingest_")] = total / count
    return means


def ms(values: list[float], q: float) -> str:
    return f"{bench_ingest.percentile(values, q) * 1000:6.1f}"


def report(step: Step) -> dict[str, object]:
    readings = step.published + step.probes
    per_reading = {name: s / max(1, readings) * 1e6 for name, s in step.cpu.items()}
    print(f"step {step.rate:>7,.0f}/s target: published {step.published / step.seconds:>7,.0f}/s,"
          f" stored {step.stored_in_window / step.seconds:>7,.0f}/s within the window "
          f"({step.seconds:.1f} s), drained in {step.drain_s:.1f} s"
          f"{'' if step.drained else ' -- NOT ALL ACKNOWLEDGED'}")
    for name, values in (("publish->SSE", step.to_sse), ("publish->commit", step.to_commit),
                         ("commit->SSE", step.commit_to_sse)):
        print(f"  {name:<16} p50 {ms(values, 0.5)} ms  p99 {ms(values, 0.99)} ms  max "
              f"{max(values, default=float('nan')) * 1000:6.1f} ms")
    f = step.flushes
    if f:
        print(f"  ingest flushes (means): {f.get('flush_readings', 0):,.0f} readings, waited "
              f"{f.get('wait_seconds', 0) * 1000:.1f} ms (first message in to write start), "
              f"written in {f.get('batch_seconds', 0) * 1000:.1f} ms, of which COMMIT "
              f"{f.get('commit_seconds', 0) * 1000:.1f} ms")
    p99 = bench_ingest.percentile(step.to_sse, 0.99) * 1000
    print(f"  {step.probes} probes, {step.missing} without an SSE event; p99/goal "
          f"{p99 / GOAL_MS:.2f}; CPU per reading: " + ", ".join(
              f"{name} {us:.1f} us" for name, us in per_reading.items()))
    return {"rate": step.rate, "published_per_s": round(step.published / step.seconds),
            "stored_per_s": round(step.stored_in_window / step.seconds),
            "drained": step.drained, "probes": step.probes, "missing": step.missing,
            "publish_to_sse_ms": {q: round(bench_ingest.percentile(step.to_sse, f) * 1000, 1)
                                  for q, f in (("p50", 0.5), ("p99", 0.99), ("max", 1.0))},
            "ingest_flush_means": {k: round(v, 4) for k, v in f.items()},
            "publish_to_commit_p99_ms": round(
                bench_ingest.percentile(step.to_commit, 0.99) * 1000, 1),
            "cpu_us_per_reading": {k: round(v, 1) for k, v in per_reading.items()}}


# ---- main ----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rates", default="2000,5000,10000,20000",
                   help="background readings/s per step, comma-separated")
    p.add_argument("--step-seconds", type=float, default=20)
    p.add_argument("--probe-rate", type=float, default=5, help="probes per second")
    p.add_argument("--gateways", type=int, default=500, help="background gateways (patients)")
    p.add_argument("--devices", type=int, default=2, help="devices per background gateway")
    p.add_argument("--batch", type=int, default=50, help="readings per background message")
    p.add_argument("--quick", action="store_true", help="2k and 5k readings/s, 8 s a step")
    p.add_argument("--ingest-workers", type=int, default=1,
                   help="`vigil ingest` processes, each owning a bucket partition (scale-out)")
    p.add_argument("--ingest-arg", action="append", default=[],
                   help="extra `vigil ingest` argument (repeatable)")
    p.add_argument("--json", type=Path, help="also write the figures as JSON")
    p.add_argument("--profile", type=Path,
                   help="record ingest with py-spy during the last step (raw if .txt, else SVG)")
    p.add_argument("--keep", action="store_true",
                   help="keep the work dir (database, broker store, logs) afterwards")
    args = p.parse_args(argv)
    if args.quick:
        args.rates, args.step_seconds = "2000,5000", 8.0
    rates = [float(r) for r in args.rates.split(",")]
    share = int(args.probe_rate * args.step_seconds) + 1  # fresh probe patients per step
    probes_needed = share * len(rates)

    work = Path(tempfile.mkdtemp(prefix="vigil-bench-alerts-"))
    pg = PostgresServer(work / "pg")
    broker = MosquittoBroker(work / "mqtt", max_inflight=1000, max_queued=10_000_000,
                             extra_config="autosave_interval 60\nautosave_on_changes false\n")
    children: list[subprocess.Popen[bytes]] = []
    stream: AlertStream | None = None
    profiler: subprocess.Popen[bytes] | None = None
    try:
        pg.start()
        broker.start()
        started = time.perf_counter()
        fleet = bench_ingest.seed(pg.url, args.gateways + probes_needed, args.devices)
        grant_clinician(pg.url)
        loads, probe_fleet = fleet[:args.gateways], fleet[args.gateways:]
        probes = [(gw, devices[0]) for gw, devices in probe_fleet]
        print(f"seeded {len(loads)} background + {len(probes)} probe patients in "
              f"{time.perf_counter() - started:.0f} s; {os.cpu_count()} cores, shared")

        metrics_ports: list[int] = []
        for worker in range(args.ingest_workers):  # each owns a partition of the buckets
            metrics_ports.append(free_port())
            log = open(work / f"ingest-{worker}.log", "wb")  # noqa: SIM115 - the child's
            children.append(subprocess.Popen(
                [sys.executable, "-m", "vigil.cli", "ingest", "--database-url", pg.url,
                 "--mqtt-url", broker.url, "--client-id", f"bench-ingest-{worker}",
                 "--worker", str(worker), "--workers", str(args.ingest_workers),
                 "--metrics-port", str(metrics_ports[-1]), *args.ingest_arg],
                cwd=REPO, stdout=log, stderr=log))
        ingests = children[:]
        port = free_port()
        env = {**os.environ, "VIGIL_JWT_SECRET": SECRET, "VIGIL_JWT_TTL_S": "3600",
               "VIGIL_LOG_LEVEL": "WARNING"}
        api_log = open(work / "api.log", "wb")  # noqa: SIM115 - the child's
        children.append(subprocess.Popen(
            [sys.executable, "-m", "vigil.cli", "api", "--port", str(port), "--database-url",
             pg.url], cwd=REPO, env=env, stdout=api_log, stderr=api_log))
        deadline = time.monotonic() + 60
        for worker, process in enumerate(ingests):
            while b"connected to broker" not in (work / f"ingest-{worker}.log").read_bytes():
                assert process.poll() is None and time.monotonic() < deadline, "no ingest"
                time.sleep(0.1)
        wait_for_port(port, 60)
        base_url = f"http://127.0.0.1:{port}"
        token = httpx.post(base_url + "/auth/token", timeout=30,
                           data={"username": CLINICIAN, "password": PASSWORD}
                           ).raise_for_status().json()["access_token"]
        stream = AlertStream(base_url, token)
        stream.start()
        assert stream.ready.wait(30) and stream.error is None, f"no SSE stream: {stream.error}"

        gateways = Gateways(broker, {gw for gw, _ in probes})
        for m in bench_ingest.make_messages(loads, len(loads) * args.batch, args.batch, 3):
            gateways.publish(m)
        for n, (gateway, device) in enumerate(probes):  # warm: a normal reading each
            gateways.publish(probe(gateway, device, n, 97.0))
        gateways.wait_all()
        # The sweeper's first passes open the seeded patients' missing-data alerts (BP,
        # temperature never measured) in a burst; a deployment has those already. Wait a
        # whole sweep interval (15 s by default), then for the stream to go quiet.
        time.sleep(16)
        settled = stream.quiet(3.0, 60.0)
        extra = f", {' '.join(args.ingest_arg)}" if args.ingest_arg else ""
        print(f"warmed every gateway; {args.ingest_workers} ingest worker(s), alerting on "
              f"(shipped defaults{extra}); one "
              f"clinician on SSE ({stream.events} alert events before the steps"
              f"{'' if settled else ', still arriving'}); probes at "
              f"{args.probe_rate:g}/s, SpO2 {PROBE_SPO2:g} % to a fresh patient each\n")

        assert pg.process is not None and broker.process is not None
        groups = {"ingest": [p.pid for p in ingests], "postgres": pg_processes(pg),
                  "api": [children[-1].pid], "mosquitto": [broker.process.pid],
                  "publisher": [os.getpid()]}
        results = []
        for n, rate in enumerate(rates):
            messages = background(loads, int(rate * args.step_seconds * 1.1), args.batch,
                                  10 + n)
            if args.profile and n == len(rates) - 1:
                profiler = subprocess.Popen(
                    [str(Path(sys.executable).parent / "py-spy"), "record", "-o",
                     str(args.profile), "-p", str(ingests[0].pid), "-d",
                     str(int(args.step_seconds)), "-r", "100", "--idle", "--nonblocking",
                     "--format", "raw" if args.profile.suffix == ".txt" else "flamegraph"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            step = run_step(rate, args.step_seconds, messages,
                            probes[n * share:(n + 1) * share], args.probe_rate, gateways,
                            stream, groups, metrics_ports)
            results.append(report(step))
        rows, distinct = bench_ingest.count(pg.url)
        ok = gateways.sent == gateways.acked and rows == distinct == len(gateways.sent)
        print(f"\nzero-loss check: {len(gateways.sent):,} published, {len(gateways.acked):,} "
              f"acknowledged, {rows:,} rows, {distinct:,} distinct: {'OK' if ok else 'FAIL'}; "
              f"{stream.events} alert events on the stream")
        if profiler is not None:
            profiler.wait(60)
            print(f"profile of ingest during the last step: {args.profile}")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return 0 if ok else 1
    finally:
        if stream is not None:
            stream.stop()
        end_run(children, [broker, pg], work, args.keep)


if __name__ == "__main__":
    raise SystemExit(main())
