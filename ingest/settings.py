"""Ingest settings: defaults < config file (TOML) < VIGIL_* environment < command-line flags."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/vigil"
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"


class InvalidMqttUrl(ValueError):
    """VIGIL_MQTT_URL is not mqtt[s]://[user[:password]@]host[:port]."""


@dataclass(frozen=True)
class MqttTarget:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:  # never print the password in logs
        user = f"{self.username}@" if self.username else ""
        return f"MqttTarget({'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port})"


def parse_mqtt_url(url: str) -> MqttTarget:
    """`mqtt://user:pass@host:port` (1883 by default), `mqtts://` for TLS (8883 by default).
    User and password may be percent-encoded."""
    parts = urlsplit(url.strip())
    if parts.scheme not in {"mqtt", "mqtts"}:
        raise InvalidMqttUrl(f"{_redact(url)!r}: the scheme must be mqtt:// or mqtts://")
    if not parts.hostname:
        raise InvalidMqttUrl(f"{_redact(url)!r}: no host")
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise InvalidMqttUrl(f"{_redact(url)!r}: only scheme, credentials, host and port")
    try:
        port = parts.port
    except ValueError:
        raise InvalidMqttUrl(f"{_redact(url)!r}: invalid port") from None
    tls = parts.scheme == "mqtts"
    return MqttTarget(
        host=parts.hostname,
        port=port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_", extra="ignore",
                                      title="ingest settings")

    database_url: str = DEFAULT_DATABASE_URL
    mqtt_url: str = DEFAULT_MQTT_URL
    tls_ca_file: Path | None = None
    # This worker's share of the topic buckets (vigil.topics.partition).
    worker: int = Field(0, ge=0)
    workers: int = Field(1, ge=1, le=64)
    # Stable across restarts: the broker keeps the persistent session under this id.
    client_id: str | None = None
    session_expiry_s: int = Field(7 * 24 * 3600, ge=60)
    # How many unacknowledged messages the broker may have in flight to us (MQTT v5 Receive
    # Maximum): the upper bound of one batch in messages.
    receive_maximum: int = Field(1000, ge=1, le=65535)
    # Writer threads, each with its own database connection; a gateway always goes to the
    # same one (ingest.consumer). 1 = everything in one writer, strictly in arrival order.
    writers: int = Field(2, ge=1, le=16)
    # Flush when this many readings are waiting, or the oldest has waited this long.
    batch_readings: int = Field(5000, ge=1)
    batch_delay_ms: int = Field(50, ge=1)
    # Flush sooner, once the oldest has waited this long, when nothing more is waiting to be
    # decoded or written (group commit: an idle writer gains nothing by waiting, and under
    # load the queue never empties so batches still fill). On by default: measured with
    # bench/alert_latency.py, publish->alert p99 fell from 144/205/532 ms to 149/102/223 ms at
    # 2k/5k/10k readings/s for 15-55 % more CPU a reading at moderate load (less near
    # saturation). None, or batch_delay_ms or more, = always wait batch_delay_ms.
    batch_min_delay_ms: int | None = Field(5, ge=0)
    max_future_s: float = Field(600.0, gt=0)
    metrics_port: int | None = Field(None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    # Dead letters keep at most this many bytes of a payload (payload_size keeps the truth).
    dead_letter_max_bytes: int = Field(1024 * 1024, ge=1024)
    log_level: str = "INFO"
    # Run the alert sweeper (ingest.alerting.sweeper) in this process every N seconds; 0 = off.
    # Every worker may sweep: an advisory lock lets one sweep run at a time.
    sweep_interval_s: float = Field(15.0, ge=0)
    # Evaluate alert rules in the write transaction (ingest.alerting). Off only to measure or
    # to run a storage-only worker; then nothing pages on readings.
    alerting: bool = True

    @field_validator("mqtt_url")
    @classmethod
    def _valid_mqtt_url(cls, value: str) -> str:
        parse_mqtt_url(value)
        return value

    @property
    def mqtt(self) -> MqttTarget:
        return parse_mqtt_url(self.mqtt_url)

    @property
    def effective_client_id(self) -> str:
        return self.client_id or f"vigil-ingest-{self.worker}-of-{self.workers}"


def load_settings(config_file: Path | None = None, **overrides: Any) -> IngestSettings:
    """Flags (overrides; None means not given) beat the environment, which beats the file."""
    file_values: dict[str, Any] = {}
    if config_file is not None:
        with open(config_file, "rb") as handle:
            data = tomllib.load(handle)
        # A shared config file may hold other components' sections; ours is [ingest].
        section = data.get("ingest", data)
        file_values = {k.replace("-", "_"): v for k, v in section.items()
                       if not isinstance(v, dict)}
    given = {key: value for key, value in overrides.items() if value is not None}

    class _Settings(IngestSettings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, InitSettingsSource(settings_cls, file_values))

    settings = _Settings(**given)
    if settings.worker >= settings.workers:
        raise ValueError(f"worker {settings.worker} is not in 0..{settings.workers - 1}")
    return IngestSettings.model_construct(**settings.model_dump())
