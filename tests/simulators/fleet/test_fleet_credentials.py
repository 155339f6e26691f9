"""Gateway credentials: Mosquitto-compatible hashes, files merged rather than clobbered, and
bad files refused with their place named. (The real broker accepts these files: see the
per-gateway test in test_fleet_end_to_end.py.)"""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import pytest

from simulators.fleet.credentials import (
    CredentialsError,
    generate_password,
    load_credentials,
    mosquitto_hash,
    provision_credentials,
    save_credentials,
    write_acl_file,
    write_password_file,
)
from vigil.topics import ACL_PATTERNS


def test_hash_is_mosquitto_pbkdf2_sha512() -> None:
    text = mosquitto_hash("secret", salt=b"0123456789ab")
    _, version, iterations, salt, digest = text.split("$")
    assert (version, iterations) == ("7", "101")
    assert base64.b64decode(salt) == b"0123456789ab"
    assert base64.b64decode(digest) == hashlib.pbkdf2_hmac("sha512", b"secret",
                                                           b"0123456789ab", 101)


def test_passwords_are_long_and_distinct() -> None:
    passwords = {generate_password() for _ in range(50)}
    assert len(passwords) == 50
    assert all(len(p) >= 24 and ":" not in p for p in passwords)


def test_password_file_keeps_other_users(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    path.write_text("ingest:$7$101$abc$def\nold-gw:$7$101$x$y\n")
    write_password_file(path, {"old-gw": "new", "gw-2": "pw2"})
    lines = path.read_text().splitlines()
    assert lines[0] == "ingest:$7$101$abc$def"
    assert {line.split(":")[0] for line in lines} == {"ingest", "old-gw", "gw-2"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_acl_file_is_completed_once(tmp_path: Path) -> None:
    path = tmp_path / "acl"
    path.write_text("user admin\ntopic readwrite #\n")
    write_acl_file(path, ["ingest"])
    write_acl_file(path, ["ingest"])
    text = path.read_text()
    assert text.count("user ingest") == 1 and text.count("user admin") == 1
    for line in ACL_PATTERNS.splitlines():
        assert text.count(line) == 1


def test_credentials_round_trip_privately(tmp_path: Path) -> None:
    path = tmp_path / "fleet.credentials"
    save_credentials(path, {"gw-b": "pb", "gw-a": "pa"})
    assert load_credentials(path) == {"gw-a": "pa", "gw-b": "pb"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("text", "where"),
    [("gw-a\n", ":1:"), ("# c\n\ngw-a:\n", ":3:"), ("gw a:pw\n", ":1:"),
     ("ok:1\nbad/gw:2\n", ":2:")],
)
def test_bad_credentials_lines_are_named(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "c"
    path.write_text(text)
    with pytest.raises(CredentialsError, match=where):
        load_credentials(path)


def test_provisioning_twice_keeps_the_passwords(tmp_path: Path) -> None:
    files = dict(credentials_file=tmp_path / "c", password_file=tmp_path / "passwd",
                 acl_file=tmp_path / "acl", service_accounts={"ingest": "s3cret"})
    first = provision_credentials(["gw-1", "gw-2"], **files)  # type: ignore[arg-type]
    again = provision_credentials(["gw-1", "gw-2", "gw-3"], **files)  # type: ignore[arg-type]
    assert {k: again[k] for k in first} == first and "gw-3" in again
    users = {line.split(":")[0] for line in (tmp_path / "passwd").read_text().splitlines()}
    assert users == {"gw-1", "gw-2", "gw-3", "ingest"}
    assert "user ingest" in (tmp_path / "acl").read_text()
