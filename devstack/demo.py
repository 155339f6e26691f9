"""`vigil demo`: the whole system on one machine, on embedded defaults.

An embedded PostgreSQL, a local MQTT broker (Mosquitto when installed, else amqtt), migrations,
a demo ward with a clinician login printed on the console, simulated patients with scripted
scenarios (one desaturating, one hypertensive, one whose gateway loses its network, one
stable), real edge agents over the emulated BLE backend, ingest with alerting, and the API with
the dashboard. Ctrl-C stops everything cleanly; data persists in --data-dir unless --fresh.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from devstack.demo_seed import DemoDevice, Logins
from devstack.ports import free_port, wait_for_port

SCENARIO = Path(__file__).with_name("demo.toml")
DEVICE_SEED = 7


def log(message: str) -> None:
    print(f"[demo] {message}", file=sys.stderr, flush=True)


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    logfile: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self) -> None:
        out = open(self.logfile, "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=out,
                                        start_new_session=True)
        out.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Demo:
    data: Path
    api_port: int
    minutes: float | None
    children: list[Child] = field(default_factory=list)
    stopping: bool = False

    def vigil(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "vigil.cli", *args]

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(extra)
        return env

    def spawn(self, name: str, argv: list[str], **env: str) -> Child:
        child = Child(name, argv, self.env(**env), self.data / "logs" / f"{name}.log")
        child.start()
        self.children.append(child)
        return child


def _state(data: Path) -> dict[str, str]:
    path = data / "demo.json"
    if path.exists():
        loaded: dict[str, str] = json.loads(path.read_text())
        return loaded
    state = {"jwt_secret": secrets.token_urlsafe(48)}
    path.write_text(json.dumps(state))
    path.chmod(0o600)
    return state


def _save_state(data: Path, state: dict[str, str]) -> None:
    (data / "demo.json").write_text(json.dumps(state))


def _list_devices(demo: Demo) -> list[DemoDevice]:
    from simulators.physiology import load_scenario

    scenario = load_scenario(SCENARIO)
    owner = {d.id[:29]: (p.id, p.gateway_id) for p in scenario.patients for d in p.device_list}
    out = subprocess.run(
        demo.vigil("sim", "devices", "--scenario-file", str(SCENARIO), "--seed",
                   str(DEVICE_SEED), "--list"),
        check=True, capture_output=True, text=True).stdout
    devices = []
    for line in out.splitlines():
        entry = json.loads(line)
        patient, gateway = owner[entry["name"]]
        devices.append(DemoDevice(entry["address"], entry["kind"], entry["name"], patient,
                                  gateway))
    return devices


def _gateway_config(gateway: str, devices: list[DemoDevice], mqtt_port: int, room: str,
                    folder: Path) -> Path:
    lines = [
        f'gateway_id = "{gateway}"',
        f'mqtt_url = "mqtt://127.0.0.1:{mqtt_port}"',
        "heartbeat_interval_s = 15",
        'ble_backend = "simulators.ble.remote"',
        f'status_file = "{folder / (gateway + ".status.json")}"',
        "",
        "[ble_backend_options]",
        f'room = "{room}"',
        "",
        "[outbox]",
        f'path = "{folder / (gateway + ".outbox.db")}"',
        "resend_initial_s = 5",
        "resend_max_s = 60",
    ]
    for device in devices:
        lines += ["", "[[devices]]", f'address = "{device.address}"',
                  f'profile = "{device.profile}"', f'name = "{device.name}"']
    path = folder / f"{gateway}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def _banner(url: str, logins: Logins | None, data: Path) -> None:
    lines = [
        "",
        "  Vigil demo is running.",
        f"  Dashboard:  {url}/ui",
        f"  API docs:   {url}/docs",
    ]
    if logins is not None:
        lines += [
            f"  Clinician:  {logins.clinician_email}  password: {logins.clinician_password}",
            f"  Admin:      {logins.admin_email}  password: {logins.admin_password}",
        ]
    lines += [
        f"  Data:       {data}  (logs in {data / 'logs'})",
        "  Scenario:   COPD desaturation from ~3 min, BP spike from ~2 min, a gateway loses",
        "              its network at 4 min for 6 min, one patient stays stable.",
        "  Ctrl-C stops everything.",
        "",
    ]
    print("\n".join(lines), flush=True)


def run(args: argparse.Namespace) -> int:
    import psycopg

    from devstack.demo_seed import is_seeded, seed
    from devstack.mosquitto import MosquittoBroker, MosquittoNotFound, find_mosquitto
    from devstack.netproxy import NetProxy
    from devstack.postgres import PostgresServer
    from simulators.physiology import load_scenario

    data: Path = args.data_dir.resolve()
    if args.fresh and data.exists():
        shutil.rmtree(data)
    (data / "logs").mkdir(parents=True, exist_ok=True)
    (data / "gateways").mkdir(exist_ok=True)
    state = _state(data)
    demo = Demo(data, args.port, args.minutes)
    scenario = load_scenario(SCENARIO)

    stop_requested = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    pg = PostgresServer(data / "postgres", port=int(state.get("pg_port", 0)) or free_port())
    broker: MosquittoBroker | None = None
    amqtt: subprocess.Popen[bytes] | None = None
    proxies: dict[str, NetProxy] = {}
    try:
        log(f"starting PostgreSQL ({pg.bindir})")
        pg.start()
        state["pg_port"] = str(pg.port)
        _save_state(data, state)
        try:
            find_mosquitto()
            broker = MosquittoBroker(data / "mosquitto")
            broker.start()
            mqtt_port = broker.port
            log(f"Mosquitto on 127.0.0.1:{mqtt_port}")
        except MosquittoNotFound:
            mqtt_port = free_port()
            log("Mosquitto is not installed: using the amqtt broker (demo only)")
            amqtt = subprocess.Popen([sys.executable, "-m", "devstack.amqtt_broker", "--port",
                                      str(mqtt_port)], start_new_session=True)
            wait_for_port(mqtt_port)
        mqtt_url = f"mqtt://127.0.0.1:{mqtt_port}"

        log("applying migrations")
        subprocess.run(demo.vigil("db", "--database-url", pg.url, "migrate"), check=True,
                       stdout=subprocess.DEVNULL)
        devices = _list_devices(demo)
        logins: Logins | None = None
        with psycopg.connect(pg.url) as conn:
            if not is_seeded(conn):
                conditions = {p.id: str(p.condition) for p in scenario.patients}
                logins = seed(conn, devices, conditions)
                state["clinician_password"] = logins.clinician_password
                state["admin_password"] = logins.admin_password
                _save_state(data, state)
            else:
                logins = Logins("clinician@demo.vigil", state.get("clinician_password", "?"),
                                "admin@demo.vigil", state.get("admin_password", "?"))

        log("starting the emulated devices")
        room_child = demo.spawn("devices", demo.vigil(
            "sim", "devices", "--listen", "127.0.0.1:0", "--scenario-file", str(SCENARIO),
            "--seed", str(DEVICE_SEED)))
        room = _room_address(room_child, data / "logs" / "devices.log")

        log("starting ingest")
        demo.spawn("ingest", demo.vigil("ingest", "--database-url", pg.url, "--mqtt-url",
                                        mqtt_url, "--metrics-port", str(free_port())))
        for gateway in sorted({d.gateway for d in devices}):
            proxy = NetProxy(mqtt_port)
            proxy.start()
            proxies[gateway] = proxy
            config = _gateway_config(gateway, [d for d in devices if d.gateway == gateway],
                                     proxy.port, room, data / "gateways")
            demo.spawn(f"edge-{gateway}", demo.vigil("edge", "run", "--config", str(config)))
        log("starting the API and dashboard")
        demo.spawn("api", demo.vigil("api", "--port", str(args.port), "--database-url",
                                     pg.url), VIGIL_JWT_SECRET=state["jwt_secret"],
                   VIGIL_LOG_JSON="true")
        url = f"http://127.0.0.1:{args.port}"
        _wait_http(f"{url}/healthz", 60)
        _banner(url, logins, data)

        started = time.monotonic()
        outages = [(o.gateway, o.start, o.start + o.duration) for o in scenario.gateway_outages]
        while not stop_requested:
            elapsed = timedelta(seconds=time.monotonic() - started)
            if args.minutes is not None and elapsed.total_seconds() > args.minutes * 60:
                break
            for gateway, begin, end in outages:
                if gateway not in proxies:
                    continue
                proxy = proxies[gateway]
                if begin <= elapsed < end and not proxy.is_cut:
                    log(f"{gateway}: network cut (scripted outage until {end})")
                    proxy.cut()
                elif elapsed >= end and proxy.is_cut:
                    log(f"{gateway}: network restored")
                    proxy.restore()
            for child in demo.children:
                if not child.alive() and child.restarts < 5:
                    child.restarts += 1
                    log(f"{child.name} exited ({child.process and child.process.returncode});"
                        f" restarting (see {child.logfile})")
                    child.start()
            time.sleep(1)
        log("stopping")
        return 0
    finally:
        for child in reversed(demo.children):
            child.stop()
        for proxy in proxies.values():
            proxy.stop()
        if broker is not None:
            broker.stop()
        if amqtt is not None:
            amqtt.terminate()
            amqtt.wait(10)
        pg.stop()
        log("stopped")


def _room_address(child: Child, logfile: Path, timeout: float = 30.0) -> str:
    """The devices process prints {"event": "listening", "address": ...} when ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"the emulated devices exited; see {logfile}")
        for line in logfile.read_text(errors="replace").splitlines()[::-1]:
            if line.startswith("{") and '"listening"' in line:
                return str(json.loads(line)["address"])
        time.sleep(0.2)
    raise TimeoutError("the emulated devices did not start listening")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vigil demo", description=__doc__)
    p.add_argument("--data-dir", type=Path, default=Path("var/demo"),
                   help="where the database, broker store, outboxes and logs live")
    p.add_argument("--fresh", action="store_true", help="delete --data-dir first")
    p.add_argument("--port", type=int, default=8000, help="API and dashboard port (8000)")
    p.add_argument("--minutes", type=float, default=None,
                   help="stop by itself after this many minutes (default: run until Ctrl-C)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
