"""Fixtures for the alerting tests (helpers live in alerting_helpers.py); the ingest
fixtures (db_url, fleet, gateway_client) come from tests/ingest/conftest.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from alerting_helpers import Ward, ward_of
from ingest_helpers import Fleet


@pytest.fixture
def ward(fleet: Fleet) -> Ward:
    """The first gateway's patient and devices."""
    return ward_of(fleet)
