"""A Mosquitto broker as a child process we own (tests, benchmarks and the demo).

Loopback only. Anonymous by default; pass `users` to require passwords and apply Vigil's
per-gateway ACL (vigil.topics.ACL_PATTERNS) plus full access for service accounts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from devstack.ports import free_port, wait_for_port
from vigil.topics import ACL_PATTERNS


class MosquittoNotFound(RuntimeError):
    pass


def find_mosquitto() -> str:
    for candidate in (os.environ.get("VIGIL_MOSQUITTO"), shutil.which("mosquitto"),
                      "/usr/sbin/mosquitto"):
        if candidate and Path(candidate).exists():
            return candidate
    raise MosquittoNotFound("mosquitto is not installed: apt-get install mosquitto")


@dataclass
class MosquittoBroker:
    workdir: Path
    port: int = field(default_factory=free_port)
    # username -> password; when set, anonymous access is off and the ACL applies.
    users: dict[str, str] | None = None
    # usernames with access to everything (ingest, tests playing ingest)
    service_users: tuple[str, ...] = ()
    persistence: bool = True
    max_inflight: int = 1000
    max_queued: int = 1_000_000
    extra_config: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def config_text(self) -> str:
        lines = [
            f"listener {self.port} 127.0.0.1",
            "user root" if os.geteuid() == 0 else "",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            # Write the in-memory store at every change: the broker is a transport, but a
            # test broker that loses its queue on SIGKILL makes redelivery tests meaningless.
            "autosave_interval 1",
            "autosave_on_changes true",
            f"max_inflight_messages {self.max_inflight}",
            f"max_queued_messages {self.max_queued}",
            "max_queued_bytes 0",
            "message_size_limit 0",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
        ]
        if self.users is None:
            lines.append("allow_anonymous true")
        else:
            lines += [
                "allow_anonymous false",
                f"password_file {self.workdir / 'passwd'}",
                f"acl_file {self.workdir / 'acl'}",
            ]
        return "\n".join(line for line in lines if line) + "\n" + self.extra_config

    def _write_auth(self) -> None:
        if self.users is None:
            return
        passwd = self.workdir / "passwd"
        passwd.write_text("")
        for user, password in self.users.items():
            subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        acl = [f"user {name}\ntopic readwrite #\n" for name in self.service_users]
        (self.workdir / "acl").write_text("".join(acl) + ACL_PATTERNS)
        os.chmod(passwd, 0o600)

    def start(self, timeout: float = 20.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_auth()
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(self.config_text())
        log = open(self.workdir / "broker.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen([find_mosquitto(), "-c", str(conf)], stdout=log,
                                        stderr=log, start_new_session=True)
        log.close()
        try:
            wait_for_port(self.port, timeout)
        except TimeoutError:
            tail = (self.workdir / "broker.log").read_text(errors="replace")[-2000:]
            self.kill()
            raise RuntimeError(f"mosquitto did not start:\n{tail}") from None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self.process = None

    def kill(self) -> None:
        """SIGKILL: a crash, losing whatever was not yet saved."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
