"""Settings precedence and the MQTT URL helper."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.settings import InvalidMqttUrl, MqttTarget, load_settings, parse_mqtt_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://127.0.0.1", MqttTarget("127.0.0.1", 1883, False)),
        ("mqtt://broker:1884", MqttTarget("broker", 1884, False)),
        ("mqtts://broker", MqttTarget("broker", 8883, True)),
        ("mqtt://ingest:s3cret@broker:1883", MqttTarget("broker", 1883, False, "ingest", "s3cret")),
        ("mqtts://svc%40x:p%3Aw%2Fd@h:8884/", MqttTarget("h", 8884, True, "svc@x", "p:w/d")),
        ("mqtt://user@h", MqttTarget("h", 1883, False, "user", None)),
        ("mqtt://[::1]:1883", MqttTarget("::1", 1883, False)),
    ],
)
def test_parse_mqtt_url(url: str, expected: MqttTarget) -> None:
    assert parse_mqtt_url(url) == expected


@pytest.mark.parametrize(
    "url", ["http://h:1883", "mqtt://", "mqtt://h:notaport", "mqtt://h:1883/topic", "h:1883",
            "mqtt://h?x=1"],
)
def test_invalid_mqtt_urls(url: str) -> None:
    with pytest.raises(InvalidMqttUrl):
        parse_mqtt_url(url)


def test_password_is_never_in_repr() -> None:
    assert "s3cret" not in repr(parse_mqtt_url("mqtt://u:s3cret@h"))


def test_precedence_flags_over_env_over_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text('[ingest]\nbatch_readings = 111\nbatch_delay_ms = 7\n'
                      'mqtt_url = "mqtt://file:1883"\nworkers = 4\n')
    monkeypatch.setenv("VIGIL_BATCH_DELAY_MS", "9")
    monkeypatch.setenv("VIGIL_MQTT_URL", "mqtt://env:1883")
    settings = load_settings(config, mqtt_url="mqtt://flag:1883", worker=None)
    assert settings.batch_readings == 111  # file
    assert settings.batch_delay_ms == 9  # env beats file
    assert settings.mqtt.host == "flag"  # flag beats env
    assert settings.workers == 4 and settings.worker == 0
    assert settings.effective_client_id == "vigil-ingest-0-of-4"


def test_worker_outside_partition_is_refused() -> None:
    with pytest.raises(ValueError, match="worker 3"):
        load_settings(None, worker=3, workers=3)


def test_bad_mqtt_url_in_environment_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_MQTT_URL", "amqp://h")
    with pytest.raises(ValueError, match="mqtt://"):
        load_settings(None)


def test_early_flush_is_on_by_default_and_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(None).batch_min_delay_ms == 5
    monkeypatch.setenv("VIGIL_BATCH_MIN_DELAY_MS", "50")
    assert load_settings(None).batch_min_delay_ms == 50
    with pytest.raises(ValueError):
        load_settings(None, batch_min_delay_ms=-1)
