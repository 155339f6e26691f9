"""`vigil sim`: simulated devices and fleets.

    vigil sim devices --listen 127.0.0.1:7301 [--kit home | --scenario NAME] [--seed N] ...
    vigil sim fleet ...        (simulators.fleet.cli, when installed)

`vigil sim devices` hosts a room of emulated BLE devices for agents in other processes, which
select the `simulators.ble.remote` backend with VIGIL_SIM_ROOM=127.0.0.1:7301. Once listening it
prints one JSON line to stdout: {"event": "listening", "address": "host:port", "devices": [...]};
logs go to stderr. SIGTERM or SIGINT stop it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.util
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

log = logging.getLogger("vigil.sim")

SUBCOMMANDS = {
    "devices": "host a room of emulated BLE devices (the agent's remote bleak backend)",
    "fleet": "drive many simulated gateways over MQTT (simulators.fleet)",
}


def usage() -> str:
    lines = ["usage: vigil sim <subcommand> [options]", "", "subcommands:"]
    lines += [f"  {name:<8} {text}" for name, text in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    name, rest = args[0], args[1:]
    if name == "devices":
        return devices_main(rest)
    if name == "fleet":
        return _fleet(rest)
    print(f"vigil sim: unknown subcommand {name!r}\n\n{usage()}", file=sys.stderr)
    return 2


def _fleet(argv: list[str]) -> int:
    # Another component owns the fleet simulator; import it only when asked for.
    if importlib.util.find_spec("simulators.fleet.cli") is None:
        print(
            "vigil sim fleet: not available (simulators.fleet.cli is not installed)",
            file=sys.stderr,
        )
        return 2
    module = importlib.import_module("simulators.fleet.cli")
    return cast(Callable[[list[str]], int], module.main)(argv)


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def devices_parser() -> argparse.ArgumentParser:
    from simulators.devices.kit import FAULT_PRESETS, KITS

    parser = argparse.ArgumentParser(
        prog="vigil sim devices",
        description="Host a room of emulated BLE health devices on a local TCP socket.",
    )
    parser.add_argument(
        "--listen",
        type=_address,
        default=("127.0.0.1", 0),
        help="HOST:PORT to listen on (port 0: pick a free one; default)",
    )
    parser.add_argument(
        "--kit",
        choices=sorted(KITS),
        default="home",
        help="devices per patient when no --scenario is given (default: home)",
    )
    parser.add_argument(
        "--scenario",
        help="a built-in physiology scenario (stable, desaturating, ...): its "
        "patients, devices, values and faults",
    )
    parser.add_argument(
        "--scenario-file",
        help="a physiology scenario file (TOML or YAML), instead of a built-in --scenario",
    )
    parser.add_argument("--patients", type=int, default=1, help="patients (kit mode)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for addresses and fault randomness (default 0)"
    )
    parser.add_argument(
        "--every",
        type=float,
        default=300.0,
        help="measurement period in simulated seconds (kit mode; default 300)",
    )
    parser.add_argument(
        "--faults",
        choices=sorted(FAULT_PRESETS),
        default="none",
        help="fault preset for every device (kit mode)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second (default 1: real time)",
    )
    parser.add_argument(
        "--list", action="store_true", help="print the devices as JSON lines and exit"
    )
    parser.add_argument("--log-level", default="INFO")
    return parser


def devices_main(argv: Sequence[str]) -> int:
    args = devices_parser().parse_args(list(argv))
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if args.scenario_file and not Path(args.scenario_file).is_file():
        print(f"vigil sim devices: no scenario file {args.scenario_file}", file=sys.stderr)
        return 2
    if args.patients < 1 or args.speed <= 0:
        print("vigil sim devices: --patients and --speed must be positive", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve(args))
    except (KeyError, ValueError) as exc:
        print(f"vigil sim devices: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"vigil sim devices: cannot listen on {args.listen}: {exc}", file=sys.stderr)
        return 1


async def _serve(args: argparse.Namespace) -> int:
    from simulators.ble.server import RoomServer
    from simulators.devices.clock import AcceleratedClock, Clock, RealClock
    from simulators.devices.kit import FAULT_PRESETS, build_room, kit_plans, scenario_plans

    clock: Clock = (
        RealClock() if args.speed == 1.0 else AcceleratedClock(args.speed, start=datetime.now(UTC))
    )
    plans = (
        scenario_plans(args.scenario or "", clock=clock, path=args.scenario_file)
        if args.scenario or args.scenario_file
        else kit_plans(
            args.kit, patients=args.patients, every_s=args.every, faults=FAULT_PRESETS[args.faults]
        )
    )
    room = build_room(plans, seed=args.seed, clock=clock)
    devices = [
        {
            "address": d.peripheral.address,
            "kind": d.kind,
            "name": d.peripheral.advertisement.local_name,
        }
        for d in room.hosted
    ]
    if args.list:
        for entry in devices:
            print(json.dumps(entry))
        return 0

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    host, port = args.listen
    async with room, RoomServer(room, host, port) as server:
        print(
            json.dumps({"event": "listening", "address": server.address, "devices": devices}),
            flush=True,
        )
        log.info("room of %d devices listening on %s", len(devices), server.address)
        await stop.wait()
        log.info("stopping")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
