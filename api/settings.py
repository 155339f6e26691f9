"""The API's settings: one object, from a TOML file and `VIGIL_*` environment variables;
command-line flags (api.cli) override both."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_", extra="ignore", toml_file=None)

    database_url: str = "postgresql://postgres@127.0.0.1:5432/vigil"
    # HS256 needs a key at least as long as the hash (RFC 7518 3.2): 32 bytes.
    jwt_secret: SecretStr = Field(min_length=32)
    jwt_ttl_s: int = Field(default=900, gt=0, le=3600)
    jwt_issuer: str = "vigil"

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    pool_min_size: int = Field(default=1, ge=0)
    pool_max_size: int = Field(default=10, ge=1)

    # Login throttling: this many failures within the window, per username or per client
    # address, locks further attempts until the oldest failure leaves the window.
    login_max_failures: int = Field(default=5, ge=1)
    login_window_s: int = Field(default=300, ge=1)

    # Live stream: a comment line this often keeps proxies from closing an idle stream.
    sse_heartbeat_s: float = Field(default=15.0, gt=0)

    # Status freshness: a value older than this many expected intervals is shown as stale.
    gateway_heartbeat_s: float = Field(default=60.0, gt=0)
    stale_factor: float = Field(default=3.0, ge=1)
    # A value with no expected schedule (no missing-data rule for its metric) is stale after.
    default_stale_after_s: float = Field(default=86400.0, gt=0)

    # Broker provisioning (all optional: without them credentials are issued and stored but no
    # broker is touched, e.g. when the broker reads the credentials by some other means).
    broker_password_file: Path | None = None
    broker_acl_file: Path | None = None
    broker_pid: int | None = None
    broker_pid_file: Path | None = None
    broker_url: str = "mqtt://127.0.0.1:1883"

    log_level: str = "INFO"
    log_json: bool = True

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = settings_cls.model_config.get("toml_file")
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)


def load_settings(config_file: Path | None = None, **overrides: object) -> ApiSettings:
    """Settings from `config_file` (TOML, keys as the field names), then the environment, then
    `overrides` (command-line flags), each winning over the previous."""

    class _FromFile(ApiSettings):
        model_config = SettingsConfigDict(toml_file=config_file)

    chosen = _FromFile if config_file is not None else ApiSettings
    values = {key: value for key, value in overrides.items() if value is not None}
    return chosen(**values)  # type: ignore[arg-type]
