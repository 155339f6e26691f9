"""The `vigil` command: one subcommand per component, imported lazily.

Each component owns its own argument parsing in `<package>.cli:main(argv) -> int`, so the edge
gateway never imports the cloud's dependencies and vice versa.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import cast

# subcommand -> (module with main(argv), what it does)
COMMANDS: dict[str, tuple[str, str]] = {
    "edge": ("edge.cli", "the gateway agent: scan, pair, run"),
    "ingest": ("ingest.cli", "consume gateway messages from MQTT into PostgreSQL"),
    "db": ("ingest.db_cli", "database administration: migrate, status"),
    "api": ("api.cli", "the clinician API and dashboard"),
    "sim": ("simulators.cli", "simulated devices and fleets"),
    "demo": ("devstack.demo", "the whole system on one machine, embedded defaults"),
}


def usage() -> str:
    lines = ["usage: vigil <command> [options]", "", "commands:"]
    lines += [f"  {name:<8} {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "Run `vigil <command> --help` for a command's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    if args[0] == "--version":
        from vigil import __version__

        print(f"vigil {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"vigil: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module_name = COMMANDS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        print(
            f"vigil {name}: a dependency is missing ({exc.name}); install the matching extra, "
            f"e.g. pip install 'vigil[{'edge' if name == 'edge' else 'all'}]'",
            file=sys.stderr,
        )
        return 2
    entry = cast(Callable[[list[str]], int], module.main)
    return entry(rest)


if __name__ == "__main__":
    raise SystemExit(main())
