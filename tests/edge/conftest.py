"""tests/edge fixtures. The harness modules beside these tests are imported by name (importlib
mode does not put test folders on sys.path)."""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from edge_rig import Rig  # noqa: E402

from devstack.mosquitto import MosquittoBroker  # noqa: E402
from simulators.devices import EmulatedDevice  # noqa: E402


@pytest.fixture
def gateway_id(request: pytest.FixtureRequest) -> str:
    """A gateway id of its own per test (tests share one broker)."""
    return f"gw-e2e-{zlib.crc32(request.node.nodeid.encode()):08x}"


@pytest.fixture
def rig_factory(tmp_path: Path, gateway_id: str) -> Iterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(broker: MosquittoBroker, devices: list[EmulatedDevice], **options: Any) -> Rig:
        rig = Rig(tmp_path, broker, gateway_id, devices, **options)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()
