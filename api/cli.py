"""`vigil api`: run the clinician API (uvicorn). Flags override VIGIL_* settings."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vigil api", description=__doc__)
    p.add_argument("--config", type=Path, help="TOML settings file (keys as in VIGIL_*)")
    p.add_argument("--host", dest="api_host", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", dest="api_port", type=int, help="listen port (default 8000)")
    p.add_argument("--database-url", dest="database_url", help="libpq URL of the database")
    p.add_argument("--log-level", dest="log_level", help="DEBUG, INFO, WARNING ...")
    p.add_argument("--print-openapi", action="store_true",
                   help="print the OpenAPI document and exit")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from api.settings import load_settings

    overrides = {k: v for k, v in vars(args).items()
                 if k in {"api_host", "api_port", "database_url", "log_level"}}
    try:
        settings = load_settings(args.config, **overrides)
    except ValidationError as exc:
        print(f"vigil api: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    import uvicorn

    from api import logs
    from api.app import create_app

    logs.configure(settings.log_level, settings.log_json)
    app = create_app(settings)
    if args.print_openapi:
        import json

        print(json.dumps(app.openapi(), indent=2))
        return 0
    config = uvicorn.Config(app, host=settings.api_host, port=settings.api_port,
                            log_config=None, proxy_headers=True)
    server = uvicorn.Server(config)
    # uvicorn stops cleanly on SIGTERM and SIGINT.
    server.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
