"""bench/ingest.py as a module, for the benches that reuse its seeding, messages and ceiling.

Loaded by path under the name `bench_ingest`: imported by its file name it would collide with
the `ingest` package it benchmarks.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_PATH = Path(__file__).resolve().parent / "ingest.py"


def load_ingest_bench() -> ModuleType:
    if "bench_ingest" in sys.modules:
        return sys.modules["bench_ingest"]
    spec = importlib.util.spec_from_file_location("bench_ingest", _PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_ingest"] = module
    spec.loader.exec_module(module)
    return module
