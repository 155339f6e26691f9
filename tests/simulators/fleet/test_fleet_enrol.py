"""Seeding the registry for a fleet (through ingest.registry), against a real database."""

from __future__ import annotations

import pytest

from ingest import registry
from ingest.db_cli import run_migrate
from ingest.nhs import is_valid_nhs_number
from simulators.fleet.cli import main
from simulators.fleet.config import Mix
from simulators.fleet.enrol import EnrolmentConflict, enrol_fleet, nhs_test_number
from simulators.fleet.roster import build_roster


@pytest.fixture
def db(fresh_db_url: str) -> str:
    assert run_migrate(fresh_db_url, None) == 0
    return fresh_db_url


def fleet(prefix: str = "en", gateways: int = 3):  # type: ignore[no-untyped-def]
    return build_roster(gateways=gateways, devices_per_gateway=2, mix=Mix.VIRTUAL_WARD,
                        seed=0, prefix=prefix, scenario=None, conditions=None)


def test_nhs_test_numbers_are_valid_and_in_the_test_range() -> None:
    numbers = [nhs_test_number(f"p{i}", a) for i in range(200) for a in range(3)]
    valid = [n for n in numbers if n is not None]
    assert len(valid) > 150
    assert all(n.startswith("999") and is_valid_nhs_number(n) for n in valid)


def test_enrolment_is_idempotent(db: str) -> None:
    import psycopg

    first = enrol_fleet(db, fleet())
    assert (first.patients_created, first.gateways_created, first.devices_created,
            first.enrolments_created) == (3, 3, 6, 6)
    again = enrol_fleet(db, fleet())
    assert (again.patients_created, again.enrolments_created) == (0, 0)
    assert again.patient_ids == first.patient_ids
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT p.display_name, g.id FROM enrolments e JOIN patients p ON p.id = e.patient_id "
            "JOIN gateways g ON g.id = e.gateway_id").fetchall()
    assert sorted(set(rows)) == [(f"en-p-0000{i}", f"en-gw-0000{i}") for i in (1, 2, 3)]


def test_a_device_enrolled_elsewhere_is_a_clear_conflict(db: str) -> None:
    import psycopg

    roster = fleet()
    enrol_fleet(db, roster)
    with psycopg.connect(db) as conn:
        # Someone re-enrols the first device to another home's patient.
        device_id, patient_id = conn.execute(
            "SELECT e.device_id, p.id FROM enrolments e, patients p "
            "WHERE p.display_name = 'en-p-00002' LIMIT 1").fetchone()  # type: ignore[misc]
        conn.execute("DELETE FROM enrolments WHERE device_id = %s", (device_id,))
        registry.enrol(conn, patient_id, device_id, "en-gw-00002")
        conn.commit()
    with pytest.raises(EnrolmentConflict, match="another --prefix"):
        enrol_fleet(db, roster)


def test_the_command_enrols_and_reports_a_conflict(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--gateways", "2", "--prefix", "cmd", "--enrol", db, "--no-run"]) == 0
    assert "2 gateways" in capsys.readouterr().err
    assert main(["--gateways", "2", "--prefix", "cmd", "--enrol", db, "--no-run"]) == 0
    bad = "postgresql://postgres@127.0.0.1:1/none"
    assert main(["--gateways", "1", "--enrol", bad, "--no-run"]) == 2
    assert "database" in capsys.readouterr().err
