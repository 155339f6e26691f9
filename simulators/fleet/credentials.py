"""Per-gateway MQTT credentials: generated passwords, the file the fleet keeps them in, and the
Mosquitto password and ACL files that make the broker enforce them.

The username is the gateway id, so Vigil's ACL patterns (vigil.topics.ACL_PATTERNS, `%u`) pin
each gateway to its own topics. Passwords are hashed the way `mosquitto_passwd` does in
Mosquitto 2.0 (`$7$`: PBKDF2-HMAC-SHA512, 101 iterations, 12-byte salt), in Python, so that
provisioning thousands of gateways does not fork thousands of processes.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

from vigil.topics import ACL_PATTERNS

MOSQUITTO_ITERATIONS = 101
_USER = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class CredentialsError(ValueError):
    """A credentials file that cannot be used; the message names the file and line."""


def generate_password() -> str:
    # 144 bits; URL-safe so it survives mqtt:// URLs and shell quoting.
    return secrets.token_urlsafe(18)


def mosquitto_hash(password: str, salt: bytes | None = None,
                   iterations: int = MOSQUITTO_ITERATIONS) -> str:
    salt = os.urandom(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _write_private(path: Path, text: str) -> None:
    """Write a secret file readable by its owner only, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _check_user(name: str, where: str) -> str:
    if not _USER.match(name):
        raise CredentialsError(f"{where}: {name!r} is not a valid MQTT username")
    return name


def load_credentials(path: Path) -> dict[str, str]:
    """`gateway_id:password` lines (blank lines and # comments ignored)."""
    found: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        user, sep, password = text.partition(":")
        if not sep or not password:
            raise CredentialsError(f"{path}:{number}: expected gateway_id:password")
        found[_check_user(user, f"{path}:{number}")] = password
    return found


def save_credentials(path: Path, passwords: Mapping[str, str]) -> None:
    lines = ["# Vigil simulated gateways: gateway_id:password (keep private)"]
    lines += [f"{user}:{password}" for user, password in sorted(passwords.items())]
    _write_private(path, "\n".join(lines) + "\n")


def write_password_file(path: Path, passwords: Mapping[str, str]) -> None:
    """Add or replace these users in a Mosquitto password file, keeping everyone else."""
    kept: list[str] = []
    if path.exists():
        for line in path.read_text().splitlines():
            user = line.partition(":")[0]
            if line.strip() and user not in passwords:
                kept.append(line)
    ours = [f"{_check_user(u, str(path))}:{mosquitto_hash(p)}" for u, p in passwords.items()]
    _write_private(path, "\n".join([*kept, *ours]) + "\n")


def write_acl_file(path: Path, service_users: Iterable[str]) -> None:
    """Ensure the ACL grants service users everything and gateways their own subtree.

    Existing content is kept; only missing service-user blocks and missing pattern lines are
    appended (Mosquitto applies `pattern` lines to every user wherever they appear).
    """
    text = path.read_text() if path.exists() else ""
    present = set(text.splitlines())
    additions: list[str] = []
    for user in service_users:
        if f"user {_check_user(user, str(path))}" not in present:
            additions += [f"user {user}", "topic readwrite #"]
    additions += [p for p in ACL_PATTERNS.splitlines() if p and p not in present]
    if additions:
        joined = (text if not text or text.endswith("\n") else text + "\n")
        # Mosquitto reads the ACL as root before dropping privileges; keep it private too.
        _write_private(path, joined + "\n".join(additions) + "\n")


def provision_credentials(
    gateway_ids: Iterable[str],
    *,
    credentials_file: Path | None,
    password_file: Path | None,
    acl_file: Path | None,
    service_accounts: Mapping[str, str],
) -> dict[str, str]:
    """Passwords for every gateway (kept from `credentials_file` when it has them, so
    provisioning twice changes nothing), written to the files given. Returns them."""
    passwords = load_credentials(credentials_file) if (
        credentials_file is not None and credentials_file.exists()
    ) else {}
    for gateway_id in gateway_ids:
        if gateway_id not in passwords:
            passwords[gateway_id] = generate_password()
    if credentials_file is not None:
        save_credentials(credentials_file, passwords)
    if password_file is not None:
        write_password_file(password_file, {**passwords, **service_accounts})
    if acl_file is not None:
        write_acl_file(acl_file, service_accounts)
    return passwords
