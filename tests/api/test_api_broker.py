"""Mosquitto credential files, without a broker: the hash format and the file edits."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.broker import (
    BrokerConfigError,
    BrokerFiles,
    ensure_acl,
    mosquitto_hash,
    set_password_entry,
    verify_mosquitto_hash,
)
from vigil.topics import ACL_PATTERNS


def test_hash_matches_a_known_mosquitto_passwd_line() -> None:
    # Written by `mosquitto_passwd -b pw gw1 secret` (Mosquitto 2.0.11).
    line = ("$7$101$hCysXYKcBqppn8p8$/ZTqvGthRohNGj+/nD/G++VcnFlkIhvstimIuiNsaHDAXloiu0GJx"
            "sw+P40tvLX/vx4fmoCeCNYYVDGMdqpDQQ==")
    assert verify_mosquitto_hash(line, "secret")
    assert not verify_mosquitto_hash(line, "Secret")
    salt = base64.b64decode(line.split("$")[3])
    assert mosquitto_hash("secret", salt=salt) == line


@given(st.text(min_size=1, max_size=64))
def test_hash_round_trip(password: str) -> None:
    encoded = mosquitto_hash(password)
    assert encoded.startswith("$7$101$") and verify_mosquitto_hash(encoded, password)
    assert not verify_mosquitto_hash(encoded, password + "x")


@pytest.mark.parametrize("encoded", ["", "$6$101$abc$def", "$7$x$abc$def", "plain"])
def test_unreadable_hashes_never_verify(encoded: str) -> None:
    assert not verify_mosquitto_hash(encoded, "anything")


def test_mosquitto_passwd_accepts_our_file(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    set_password_entry(passwd, "gw-1", mosquitto_hash("pw"))
    # The broker's own tool rewrites the file (it must parse ours) and keeps our entry.
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "ingest", "other"], check=True,
                   capture_output=True)
    names = [line.split(":")[0] for line in passwd.read_text().splitlines()]
    assert names == ["gw-1", "ingest"]


def test_password_entries_are_replaced_and_removed(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("ingest:$7$101$a$b\n# comment\n")
    os.chmod(passwd, 0o640)
    set_password_entry(passwd, "gw-1", "$7$101$c$d")
    set_password_entry(passwd, "gw-1", "$7$101$e$f")
    assert passwd.read_text() == "ingest:$7$101$a$b\n# comment\ngw-1:$7$101$e$f\n"
    assert passwd.stat().st_mode & 0o777 == 0o640  # the broker's access is kept
    set_password_entry(passwd, "gw-1", None)
    assert passwd.read_text() == "ingest:$7$101$a$b\n# comment\n"
    with pytest.raises(BrokerConfigError):
        set_password_entry(passwd, "bad:name", "$7$1$a$b")


def test_acl_patterns_added_once(tmp_path: Path) -> None:
    acl = tmp_path / "acl"
    acl.write_text("user ingest\ntopic readwrite #")
    ensure_acl(acl)
    ensure_acl(acl)
    text = acl.read_text()
    assert text.startswith("user ingest\ntopic readwrite #\n")
    assert text.count("pattern write") == ACL_PATTERNS.count("pattern write")


def test_missing_pid_file_is_a_clear_error(tmp_path: Path) -> None:
    files = BrokerFiles(tmp_path / "passwd", None, pid_file=tmp_path / "nope.pid")
    with pytest.raises(BrokerConfigError, match=r"nope\.pid"):
        files.install("gw-1", mosquitto_hash("x"))
    assert not (tmp_path / "passwd").exists()
    assert BrokerFiles(None, None).install("gw-1", "x") is False
