"""Ending a benchmark run: the child processes it started stopped (SIGTERM, then SIGKILL after
a grace period), its servers stopped, and its work dir removed unless kept -- a run leaves up to
a couple of GB of database behind otherwise (dozens of runs once filled this machine's disk)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol


class Server(Protocol):
    def stop(self) -> None: ...


def stop_children(children: Sequence[subprocess.Popen[bytes]], grace_s: float = 20.0) -> None:
    """SIGTERM every child still running (they finish their batch in hand), then wait for each
    and SIGKILL the ones that outstay the grace period."""
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(grace_s)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def end_run(children: Sequence[subprocess.Popen[bytes]], servers: Sequence[Server],
            work: Path, keep: bool) -> None:
    stop_children(children)
    for server in servers:
        server.stop()
    if keep:
        print(f"work dir kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
