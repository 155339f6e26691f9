"""Seeding functions: the data tests, the demo and the fleet simulator build on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ingest import registry
from ingest.nhs import InvalidNhsNumber


def test_seed_a_ward(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        org = registry.create_organisation(conn, "North Trust")
        team = registry.create_team(conn, org, "Heart failure")
        user = registry.create_user(conn, org, "Dr.Who@example.org", "Dr Who", "argon2$x",
                                    role="admin", team_ids=(team,))
        patient = registry.create_patient(conn, org, "943 476 5919", "Ada",
                                          team_ids=(team,))
        gateway = registry.create_gateway(conn, "home-0001", org, label="Ada's hub")
        device = registry.create_device(conn, "aa:bb:cc:dd:ee:ff", model="Oximeter")
        enrolment = registry.enrol(conn, patient, device, gateway)
        conn.commit()
        assert conn.execute("SELECT nhs_number FROM patients").fetchone() == ("9434765919",)
        assert conn.execute("SELECT address FROM devices").fetchone() == ("AA:BB:CC:DD:EE:FF",)
        assert conn.execute("SELECT count(*) FROM team_members WHERE user_id = %s",
                            (user,)).fetchone() == (1,)
        with pytest.raises(psycopg.errors.UniqueViolation):
            registry.create_user(conn, org, "dr.who@EXAMPLE.org", "Twin", "h")
        conn.rollback()
        registry.end_enrolment(conn, enrolment, reason="returned")
        later = datetime.now(UTC) + timedelta(seconds=1)
        registry.enrol(conn, patient, device, gateway, start=later)
        conn.commit()


def test_bad_input_is_refused_with_typed_errors(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        org = registry.create_organisation(conn, "Org")
        with pytest.raises(InvalidNhsNumber):
            registry.create_patient(conn, org, "9434765918", "Typo")
        with pytest.raises(registry.InvalidTopic):
            registry.create_gateway(conn, "bad/gateway", org)
        # The database holds the same line for writers that skip the registry.
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO patients (organisation_id, nhs_number, display_name) "
                         "VALUES (%s, '9434765918', 'x')", (org,))
