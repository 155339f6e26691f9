"""edge.gatt is pure: importing it loads nothing beyond the standard library, pydantic (and its
own dependencies) and the vigil contract -- no simulators, no third-party BLE library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
ALLOWED = {
    "edge",
    "vigil",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "typing_extensions",
    "typing_inspection",
}

PROBE = """
import sys
before = set(sys.modules)
import edge.gatt
print("\\n".join(sorted({m.split(".")[0] for m in set(sys.modules) - before})))
"""


def test_import_edge_gatt_is_pure() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    foreign = {
        name
        for name in out
        if name not in ALLOWED
        and name not in sys.stdlib_module_names
        and not name.startswith("_sysconfigdata")
    }
    assert not foreign, f"edge.gatt imports {sorted(foreign)}"
    assert "simulators" not in out
