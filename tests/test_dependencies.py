"""Deployment targets stay apart: the gateway never pulls the cloud's stack, nor the cloud bleak.

Checks the declared extras in pyproject.toml and their installed transitive closure.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[([^\]]*)\])?")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _split(requirement: str) -> tuple[str, list[str], str]:
    spec, _, marker = requirement.partition(";")
    match = _NAME.match(spec)
    assert match, requirement
    extras = [e.strip() for e in (match.group(3) or "").split(",") if e.strip()]
    return _canonical(match.group(1)), extras, marker.strip()


def declared(extra: str) -> set[str]:
    """Top-level distributions an extra asks for, following vigil[...] self-references."""
    project = PYPROJECT["project"]
    wanted: set[str] = set()
    for requirement in [*project["dependencies"], *project["optional-dependencies"][extra]]:
        name, extras, _ = _split(requirement)
        if name == "vigil":
            for inner in extras:
                wanted |= declared(inner)
        else:
            wanted.add(requirement)
    return wanted


def closure(requirements: set[str]) -> set[str]:
    """Installed transitive closure (names) of requirements, honouring extras and markers."""
    seen: set[str] = set()
    stack = [_split(r) for r in requirements]
    while stack:
        name, extras, marker = stack.pop()
        if marker and "extra" not in marker and not _marker_true(marker):
            continue
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for req in dist.requires or []:
            child, child_extras, child_marker = _split(req)
            if "extra" in child_marker:
                if not any(f'"{e}"' in child_marker or f"'{e}'" in child_marker for e in extras):
                    continue
                child_marker = ""
            stack.append((child, child_extras, child_marker))
    return seen


def _marker_true(marker: str) -> bool:
    try:
        from packaging.markers import Marker
    except ImportError:  # pragma: no cover - packaging ships with pip's toolchain
        return True
    return bool(Marker(marker).evaluate())


@pytest.mark.parametrize(
    ("extra", "forbidden"),
    [
        ("edge", {"fastapi", "starlette", "uvicorn", "psycopg", "psycopg-binary", "psycopg-pool"}),
        ("cloud", {"bleak", "bleak-retry-connector", "dbus-fast", "bluetooth-adapters"}),
    ],
)
def test_extra_does_not_pull_other_targets(extra: str, forbidden: set[str]) -> None:
    wanted = declared(extra)
    names = {_split(r)[0] for r in wanted}
    assert not names & forbidden, f"{extra} declares {names & forbidden}"
    pulled = closure(wanted)
    assert not pulled & forbidden, f"{extra} pulls {pulled & forbidden} transitively"


def test_edge_codecs_import_without_cloud_modules() -> None:
    code = (
        "import sys, edge.gatt, vigil.messages, vigil.topics\n"
        "bad = {m for m in sys.modules if m.split('.')[0] in "
        "{'fastapi', 'psycopg', 'starlette', 'uvicorn', 'ingest', 'api', 'simulators'}}\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_contract_imports_pydantic_only() -> None:
    code = (
        "import sys, vigil.messages, vigil.topics, vigil.metrics, vigil.quality, vigil.cli\n"
        "third = {m.split('.')[0] for m in sys.modules if not m.startswith('_')}\n"
        "third -= set(sys.stdlib_module_names)\n"
        "third -= {'vigil', 'pydantic', 'pydantic_core', 'typing_extensions', "
        "'annotated_types', 'typing_inspection', '_distutils_hack'}\n"
        "assert not third, third\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
