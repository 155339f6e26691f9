"""Gateway credentials for Mosquitto: password-file entries, the ACL, and the reload signal.

Mosquitto 2.0's password file holds `user:$7$<iterations>$<salt b64>$<PBKDF2-SHA512 b64>`
(what `mosquitto_passwd` writes). We write the same format in Python, so provisioning needs no
broker tools on the API host. The ACL pins each gateway to its own topic subtree with the
username patterns of `vigil.topics.ACL_PATTERNS`; SIGHUP makes the broker reread both files.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vigil.topics import ACL_PATTERNS

# mosquitto_passwd's own default. The KDF cost hardly matters here: the password is 192 random
# bits, so the stored hash cannot be brute-forced at any iteration count.
PBKDF2_ITERATIONS = 101
SALT_BYTES = 12
_USERNAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class BrokerConfigError(RuntimeError):
    """The broker's files could not be updated or the broker could not be signalled."""


def generate_password() -> str:
    return secrets.token_urlsafe(24)


def mosquitto_hash(password: str, salt: bytes | None = None,
                   iterations: int = PBKDF2_ITERATIONS) -> str:
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return (f"$7${iterations}${base64.b64encode(salt).decode()}"
            f"${base64.b64encode(digest).decode()}")


def verify_mosquitto_hash(encoded: str, password: str) -> bool:
    try:
        _, kind, iterations, salt, digest = encoded.split("$")
        if kind != "7":
            return False
        expected = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt),
                                       int(iterations))
    except ValueError:
        return False
    return secrets.compare_digest(base64.b64encode(expected).decode(), digest)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise writers of one file (several API workers may provision at once)."""
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _replace_atomically(path: Path, text: str, default_mode: int) -> None:
    """Write a sibling temp file and rename it over `path`: the broker never reads half a file.
    Keeps an existing file's mode and owner (the broker's user must still read it)."""
    try:
        st = os.stat(path)
        mode, owner = st.st_mode & 0o777, (st.st_uid, st.st_gid)
    except FileNotFoundError:
        mode, owner = default_mode, None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if owner is not None and os.geteuid() == 0:
            os.chown(tmp, *owner)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def set_password_entry(path: Path, username: str, encoded_hash: str | None) -> None:
    """Add, replace (or with None remove) one user's line, keeping every other line."""
    if not _USERNAME.match(username):
        raise BrokerConfigError(f"invalid broker username {username!r}")
    try:
        with _locked(path):
            lines = path.read_text().splitlines() if path.exists() else []
            kept = [line for line in lines if line.split(":", 1)[0] != username]
            if encoded_hash is not None:
                kept.append(f"{username}:{encoded_hash}")
            _replace_atomically(path, "".join(line + "\n" for line in kept), 0o600)
    except OSError as exc:
        raise BrokerConfigError(f"cannot update broker password file {path}: {exc}") from exc


def ensure_acl(path: Path) -> None:
    """Make sure the per-gateway patterns are in the ACL file, leaving other rules alone."""
    try:
        with _locked(path):
            text = path.read_text() if path.exists() else ""
            present = {line.strip() for line in text.splitlines()}
            missing = [line for line in ACL_PATTERNS.splitlines() if line.strip() not in present]
            if not missing:
                return
            if text and not text.endswith("\n"):
                text += "\n"
            _replace_atomically(path, text + "\n".join(missing) + "\n", 0o644)
    except OSError as exc:
        raise BrokerConfigError(f"cannot update broker ACL file {path}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    password_file: Path | None
    acl_file: Path | None
    pid: int | None = None
    pid_file: Path | None = None

    def broker_pid(self) -> int | None:
        if self.pid is not None:
            return self.pid
        if self.pid_file is None:
            return None
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError) as exc:
            raise BrokerConfigError(f"cannot read broker pid from {self.pid_file}: {exc}") from exc

    def install(self, username: str, encoded_hash: str | None) -> bool:
        """Write (or remove) the user's credentials and reload the broker. False when no
        password file is configured and nothing was touched."""
        if self.password_file is None:
            return False
        pid = self.broker_pid()
        if pid is not None:
            self._signal(pid, 0)  # is it there at all? check before touching its files
        previous = _entry(self.password_file, username)
        set_password_entry(self.password_file, username, encoded_hash)
        try:
            if self.acl_file is not None:
                ensure_acl(self.acl_file)
            if pid is not None:
                self._signal(pid, signal.SIGHUP)
        except BrokerConfigError:
            set_password_entry(self.password_file, username, previous)
            raise
        return True

    @staticmethod
    def _signal(pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except OSError as exc:
            raise BrokerConfigError(f"cannot signal the broker (pid {pid}): {exc}") from exc


def _entry(path: Path, username: str) -> str | None:
    """The user's current hash in the password file, if any."""
    try:
        for line in path.read_text().splitlines():
            name, _, encoded = line.partition(":")
            if name == username:
                return encoded
    except FileNotFoundError:
        return None
    return None
