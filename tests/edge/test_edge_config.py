"""Gateway config: TOML file < VIGIL_* environment < command-line flags; clear errors for bad
files; MQTT URLs; pairing appends to the file without disturbing it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from edge.config import ConfigError, DeviceConfig, load_settings, parse_mqtt_url
from edge.profiles import Profile
from edge.scan import AlreadyPaired, add_device

BASE = """\
# the gateway in the hall
gateway_id = "gw-hall"
mqtt_url = "mqtts://gw-hall:s3cret@broker.example.org:8883"
mqtt_ca_file = "/etc/vigil/ca.pem"
late_after_s = 900

[outbox]
path = "/var/lib/vigil-edge/outbox.db"
max_items = 1000

[[devices]]
address = "aa:bb:cc:dd:ee:01"   # the oximeter
profile = "pulse_oximeter"
expected_interval_s = 5
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("VIGIL_GATEWAY_ID", "VIGIL_MQTT_URL", "VIGIL_OUTBOX__MAX_ITEMS",
                 "VIGIL_OUTBOX__PATH", "VIGIL_LATE_AFTER_S", "VIGIL_BLE_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "gateway.toml"
    path.write_text(BASE)
    return path


def test_file_values(config: Path) -> None:
    s = load_settings(config)
    assert s.gateway_id == "gw-hall"
    assert s.late_after_s == 900
    assert s.outbox.max_items == 1000
    assert s.outbox.resend_max_s == 600.0  # default kept beside the file's keys
    (device,) = s.devices
    assert device.address == "AA:BB:CC:DD:EE:01" and device.profile is Profile.PULSE_OXIMETER
    assert device.silence_after_s == 5
    endpoint = s.mqtt
    assert (endpoint.host, endpoint.port, endpoint.tls) == ("broker.example.org", 8883, True)
    assert (endpoint.username, endpoint.password) == ("gw-hall", "s3cret")
    assert "s3cret" not in repr(endpoint)


def test_environment_overrides_the_file_and_flags_override_both(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_GATEWAY_ID", "gw-env")
    monkeypatch.setenv("VIGIL_MQTT_URL", "mqtt://127.0.0.1:1884")
    monkeypatch.setenv("VIGIL_OUTBOX__MAX_ITEMS", "2000")
    monkeypatch.setenv("VIGIL_DATABASE_URL", "postgresql://elsewhere/db")  # another component's
    s = load_settings(config)
    assert s.gateway_id == "gw-env"
    assert s.mqtt.port == 1884 and not s.mqtt.tls
    assert s.outbox.max_items == 2000
    assert s.outbox.path == Path("/var/lib/vigil-edge/outbox.db")  # nested keys merge

    flags = load_settings(config, gateway_id="gw-flag", mqtt_url=None,
                          outbox={"path": "/tmp/o.db"})
    assert flags.gateway_id == "gw-flag"  # flag beats env
    assert flags.mqtt.port == 1884  # None means "flag not given"
    assert flags.outbox.path == Path("/tmp/o.db") and flags.outbox.max_items == 2000


def test_separate_credentials_override_the_url(config: Path, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-file\n")
    s = load_settings(config, mqtt_username="svc", mqtt_password_file=str(secret))
    assert (s.mqtt.username, s.mqtt.password) == ("svc", "from-file")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("gateway_id = 'gw'\nmax_itmes = 5\n", "max_itmes"),  # typo: not silently ignored
        ("gateway_id = 'gw'\n[outbox]\nmax_items = 5\n", "outbox.max_items"),  # below minimum
        ("gateway_id = 'has space'\n", "gateway_id"),
        ("mqtt_url = 'mqtt://h'\n", "gateway_id"),  # required
        ("gateway_id = 'gw'\nmqtt_url = 'http://h'\n", "mqtt://"),
        ("gateway_id = 'gw'\n[[devices]]\naddress = 'A'\nprofile = 'toaster'\n", "profile"),
        ("gateway_id = 'gw'\n[[devices]]\naddress = 'A'\nprofile = 'thermometer'\n"
         "[[devices]]\naddress = 'a'\nprofile = 'thermometer'\n", "listed twice"),
        ("gateway_id = 'gw'\n[clock]\ntimezone = 'Mars/Olympus'\n", "time zone"),
        ("gateway_id = 'gw'\nheartbeat_interval_s = 0\n", "heartbeat_interval_s"),
        ("gateway_id = \n", "invalid TOML"),
    ],
)
def test_bad_files_fail_with_the_key_named(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert problem in str(err.value) and str(path) in str(err.value)


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("url", "host", "port", "tls", "user", "password"),
    [
        ("mqtt://127.0.0.1", "127.0.0.1", 1883, False, None, None),
        ("mqtts://broker", "broker", 8883, True, None, None),
        ("mqtt://u:p@h:1999", "h", 1999, False, "u", "p"),
        ("mqtts://gw%2F1:p%40ss%3A@h:8884/", "h", 8884, True, "gw/1", "p@ss:"),
    ],
)
def test_mqtt_urls(url: str, host: str, port: int, tls: bool, user: str | None,
                   password: str | None) -> None:
    e = parse_mqtt_url(url)
    assert (e.host, e.port, e.tls, e.username, e.password) == (host, port, tls, user, password)


@pytest.mark.parametrize("url", ["tcp://h:1883", "mqtt://", "mqtt://h:99999", "mqtt://h/topic",
                                 "mqtt://h?x=1"])
def test_bad_mqtt_urls(url: str) -> None:
    with pytest.raises(ValueError):
        parse_mqtt_url(url)


def test_pairing_appends_a_device_and_keeps_the_file(config: Path) -> None:
    add_device(config, DeviceConfig(address="aa:bb:cc:dd:ee:02", profile=Profile.BLOOD_PRESSURE,
                                    name='Cuff "A"', expected_interval_s=90000.0))
    text = config.read_text()
    assert text.startswith(BASE)  # comments and layout untouched
    s = load_settings(config)
    cuff = s.device("AA:BB:CC:DD:EE:02")
    assert cuff is not None and cuff.profile is Profile.BLOOD_PRESSURE
    assert cuff.name == 'Cuff "A"' and cuff.expected_interval_s == 90000.0
    assert len(s.devices) == 2


def test_pairing_twice_is_refused(config: Path) -> None:
    with pytest.raises(AlreadyPaired):
        add_device(config, DeviceConfig(address="AA:BB:CC:DD:EE:01", profile=Profile.THERMOMETER))
    assert config.read_text() == BASE


def test_pairing_leaves_a_file_it_cannot_extend_untouched(tmp_path: Path) -> None:
    path = tmp_path / "inline.toml"
    original = textwrap.dedent("""\
        gateway_id = "gw"
        devices = [{address = "AA:00:00:00:00:01", profile = "thermometer"}]
        """)
    path.write_text(original)
    with pytest.raises(ConfigError):
        add_device(path, DeviceConfig(address="AA:00:00:00:00:02", profile=Profile.THERMOMETER))
    assert path.read_text() == original
    assert not list(tmp_path.glob(".*pairing"))


def test_the_example_config_is_valid_and_documents_every_key(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from edge.config import ClockConfig, GatewaySettings, OutboxConfig, ReconnectConfig

    example = Path(__file__).resolve().parents[2] / "deploy" / "gateway.example.toml"
    for name in ("VIGIL_GATEWAY_ID", "VIGIL_MQTT_URL"):
        monkeypatch.delenv(name, raising=False)
    s = load_settings(example)
    assert s.gateway_id == "gw-0001" and parse_mqtt_url(s.mqtt_url).tls and s.devices == []
    with pytest.raises(ConfigError, match="mqtt_password_file"):
        s.mqtt  # noqa: B018 - the example's password file is not on this machine
    text = example.read_text()
    for model in (GatewaySettings, OutboxConfig, ClockConfig, ReconnectConfig):
        for key in model.model_fields:
            if key in ("outbox", "clock", "reconnect", "devices", "ble_backend_options"):
                assert f"[{key}]" in text or f"[[{key}]]" in text, key
            else:
                assert f"{key} =" in text, key
