"""Gateway configuration: a TOML file, overridden by VIGIL_* environment variables, overridden
by command-line flags (passed in as `overrides`).

Top-level keys map to VIGIL_<KEY> (VIGIL_GATEWAY_ID, VIGIL_MQTT_URL, ...); nested tables use a
double underscore (VIGIL_OUTBOX__PATH, VIGIL_CLOCK__SKEW_THRESHOLD_S). Unknown keys in the file
are errors: a mistyped limit must not silently fall back to a default. See
deploy/gateway.example.toml for every key with its meaning.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from edge.profiles import PROFILES, Profile
from vigil.messages import DeviceId, GatewayId, normalise_device_id

DEFAULT_CONFIG_PATH = Path("/etc/vigil/gateway.toml")

Seconds = Annotated[float, Field(gt=0)]


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which file and key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceConfig(_Section):
    address: str
    profile: Profile
    name: str | None = None
    # Silent for longer than this raises a SILENT event; defaults per profile.
    expected_interval_s: Seconds | None = None

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return normalise_device_id(value)

    @property
    def device_id(self) -> DeviceId:
        return self.address

    @property
    def silence_after_s(self) -> float:
        if self.expected_interval_s is not None:
            return self.expected_interval_s
        return PROFILES[self.profile].default_expected_interval_s


class OutboxConfig(_Section):
    path: Path = Path("/var/lib/vigil-edge/outbox.db")
    # Bounds: the outbox evicts (see edge.eviction) when either is exceeded. A 1 Hz oximeter
    # stream is 172,800 readings (~40 MB of payload) a day: the defaults hold a week of it.
    max_items: Annotated[int, Field(ge=100)] = 1_200_000
    max_bytes: Annotated[int, Field(ge=100_000)] = 512 * 1024 * 1024
    # Anything unacknowledged for longer than this is dropped (and reported).
    max_age_s: Seconds = 30 * 24 * 3600.0
    # Resend schedule for unacknowledged messages: exponential from initial to max, jittered.
    resend_initial_s: Seconds = 10.0
    resend_max_s: Seconds = 600.0


class ClockConfig(_Section):
    # The zone device clocks are expected to show ("local" = the gateway's system zone).
    timezone: str = "local"
    # Device clock offsets within this are taken as agreement (transfer and rounding).
    tolerance_s: Seconds = 10.0
    # A device clock further off than this raises a CLOCK_SKEW event.
    skew_threshold_s: Seconds = 120.0
    # Set the device clock (Current Time 0x2A2B) when it is writable and off by > tolerance.
    set_device_clock: bool = True


    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value != "local":
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value


class ReconnectConfig(_Section):
    # After a transient failure (radio abort, timeout, dropped link).
    transient_initial_s: Seconds = 1.0
    transient_max_s: Seconds = 30.0
    # While the device is not advertising (out of range, switched off, asleep).
    not_found_initial_s: Seconds = 2.0
    not_found_max_s: Seconds = 60.0
    # After a failure retrying will not fix by itself (wrong profile, pairing refused).
    permanent_s: Seconds = 600.0
    # How long one scan for the device lasts before it counts as not found.
    scan_timeout_s: Seconds = 20.0


OptionValue = str | int | float | bool


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VIGIL_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    gateway_id: GatewayId
    # mqtt://user:pass@host:port, or mqtts:// for TLS.
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    # Override the credentials in the URL (a password file suits systemd credentials).
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_password_file: Path | None = None
    mqtt_ca_file: Path | None = None
    mqtt_client_cert: Path | None = None
    mqtt_client_key: Path | None = None
    mqtt_keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    heartbeat_interval_s: Seconds = 60.0
    # A live reading sent this long after it was measured goes out with origin "late".
    late_after_s: Seconds = 600.0
    # "native" (bleak's platform backend) or a module with scanner_backend/client_backend.
    ble_backend: str = "native"
    ble_backend_options: dict[str, OptionValue] = {}
    # JSON health file rewritten every few seconds (None: status only in the logs).
    status_file: Path | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    outbox: OutboxConfig = OutboxConfig()
    clock: ClockConfig = ClockConfig()
    reconnect: ReconnectConfig = ReconnectConfig()
    devices: list[DeviceConfig] = []

    @field_validator("mqtt_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parse_mqtt_url(value)
        return value

    @field_validator("devices")
    @classmethod
    def _unique_devices(cls, value: list[DeviceConfig]) -> list[DeviceConfig]:
        seen: set[str] = set()
        for device in value:
            if device.address in seen:
                raise ValueError(f"device {device.address} is listed twice")
            seen.add(device.address)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Flags beat environment, environment beats the file.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def mqtt(self) -> MqttEndpoint:
        endpoint = parse_mqtt_url(self.mqtt_url)
        username = self.mqtt_username if self.mqtt_username is not None else endpoint.username
        password = endpoint.password
        if self.mqtt_password is not None:
            password = self.mqtt_password.get_secret_value()
        if self.mqtt_password_file is not None:
            try:
                # An empty file means "no password" (e.g. client certificates instead).
                password = self.mqtt_password_file.read_text().strip() or None
            except OSError as exc:
                raise ConfigError(f"mqtt_password_file: cannot read: {exc}") from None
        return MqttEndpoint(endpoint.host, endpoint.port, endpoint.tls, username, password)

    def device(self, device_id: str) -> DeviceConfig | None:
        wanted = normalise_device_id(device_id)
        return next((d for d in self.devices if d.address == wanted), None)


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None

    def __repr__(self) -> str:  # never print the password
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}:***@" if self.username else ""
        return f"MqttEndpoint({scheme}://{user}{self.host}:{self.port})"


def parse_mqtt_url(url: str) -> MqttEndpoint:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, not {parts.scheme!r}://")
    if not parts.hostname:
        raise ValueError("MQTT URL has no host")
    if parts.path not in ("", "/") or parts.query:
        raise ValueError("MQTT URL takes no path or query")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as exc:
        raise ValueError(f"MQTT URL has an invalid port: {exc}") from None
    return MqttEndpoint(
        host=parts.hostname,
        port=port,
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def load_settings(path: Path | None, **overrides: Any) -> GatewaySettings:
    """Read the file (when given), apply VIGIL_* variables, then `overrides` (CLI flags; None
    values are ignored). Raises ConfigError naming the file for anything unusable."""
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            with path.open("rb") as handle:
                tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from None

    class _FromFile(GatewaySettings):
        model_config = SettingsConfigDict(toml_file=path)

    where = str(path) if path is not None else "environment"
    try:
        return _FromFile(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{where}: {problems}") from None
