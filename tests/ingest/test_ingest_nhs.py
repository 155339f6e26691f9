"""NHS number check digit: table of known cases, and agreement with the database's rule."""

from __future__ import annotations

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.nhs import (
    InvalidNhsNumber,
    check_digit,
    is_valid_nhs_number,
    normalise_nhs_number,
    valid_nhs_number,
)


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("9434765919", True),  # the NHS Data Dictionary's worked example
        ("943 476 5919", True),
        ("943-476-5919", True),
        ("9434765918", False),  # wrong check digit
        ("4010232137", True),
        ("0000000000", True),  # remainder 0 -> check digit 0
        ("1234567890", False),  # remainder gives 10: never issued
        ("943476591", False),  # nine digits
        ("94347659190", False),  # eleven digits
        ("94347659a9", False),
        ("", False),
        ("\uff19\uff14\uff13\uff14\uff17\uff16\uff15\uff19\uff11\uff19", False),  # full-width
    ],
)
def test_known_numbers(text: str, valid: bool) -> None:
    assert is_valid_nhs_number(text) is valid


def test_normalise_strips_separators_and_raises_typed_error() -> None:
    assert normalise_nhs_number(" 943 476 5919 ") == "9434765919"
    with pytest.raises(InvalidNhsNumber, match="check digit"):
        normalise_nhs_number("9434765918")


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_exactly_one_check_digit_or_none(first_nine: str) -> None:
    valid = [d for d in "0123456789" if is_valid_nhs_number(first_nine + d)]
    digit = check_digit(first_nine)
    assert valid == ([] if digit is None else [str(digit)])


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789", min_size=10, max_size=10))
def test_database_rule_agrees(db_conn_nhs: psycopg.Connection, number: str) -> None:
    row = db_conn_nhs.execute("SELECT vigil_nhs_number_valid(%s)", (number,)).fetchone()
    assert row is not None and row[0] is is_valid_nhs_number(number)


@pytest.fixture(scope="module")
def db_conn_nhs(pg_server: object) -> object:
    from devstack.postgres import PostgresServer

    assert isinstance(pg_server, PostgresServer)
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS nhs_rule WITH (FORCE)")
        conn.execute("CREATE DATABASE nhs_rule")
    url = pg_server.admin_url.rsplit("/", 1)[0] + "/nhs_rule"
    from ingest import migrate

    migrate.migrate(url, migrate.discover()[:1])
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=1, max_value=10**6))
def test_valid_nhs_number_is_valid_and_starts_from_the_seed(seed: int, step: int) -> None:
    number = valid_nhs_number(seed, step)
    assert is_valid_nhs_number(number)
    if check_digit(f"{seed % 10**9:09d}") is not None:
        assert number[:9] == f"{seed % 10**9:09d}"
