"""Scenario files: TOML and YAML alike, built-ins that behave as described, clear errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from simulators.physiology import (
    BUILTIN_NAMES,
    ClockDrift,
    Condition,
    CorruptPackets,
    DeviceKind,
    ExpectedAlert,
    LowBattery,
    Scenario,
    ScenarioError,
    SilentDevice,
    builtin_scenario,
    load_scenario,
    parse_scenario,
    scenario_from_data,
)
from simulators.physiology.consequences import news2_fires
from simulators.physiology.durations import Duration
from vigil.metrics import Metric
from vigil.quality import is_questionable
from vigil.rules import MissingCause

START = datetime(2025, 3, 1, 9, tzinfo=UTC)

FULL_TOML = """
name = "ward-7"
description = "Everything at once"
duration = "5d"
sample_interval = "30s"
start = 2025-03-01T09:00:00Z

[[patients]]
id = "hf-1"
condition = "heart_failure"
seed = 17
gateway = "gw-a"
utc_offset_minutes = 60
baselines = { spo2 = 95.5 }
rule_overrides.thresholds.spo2.limits = [ { op = "<", value = 90, severity = "high" } ]

[[patients.devices]]
id = "hf-1-scale"
kind = "weight_scale"
interval = "12h"

[[patients.devices]]
id = "hf-1-ox"
kind = "pulse_oximeter"

[[patients.events]]
kind = "weight_gain"
start = "1d"
duration = "3d"
gain_kg = 2.5

[[patients.events]]
kind = "recovery"
start = "4d12h"
duration = "12h"
metrics = ["body_weight"]

[[patients]]
id = "dm-1"
condition = "diabetes"
seed = 18
gateway = "gw-a"

[[patients.events]]
kind = "hypoglycaemia"
start = "PT2H"
duration = 3600
glucose = 2.9

[[device_faults]]
kind = "connection_drop"
device = "hf-1-ox"
start = "2h"
duration = "10m"

[[device_faults]]
kind = "corrupt_packets"
device = "hf-1-ox"
start = "3h"
duration = "1h"
probability = 0.1

[[device_faults]]
kind = "truncated_packets"
device = "hf-1-ox"
start = "3h"
duration = "1h"

[[device_faults]]
kind = "clock_drift"
device = "hf-1-scale"
start = "0s"
initial_offset = "-90s"
drift_ppm = 100

[[device_faults]]
kind = "low_battery"
device = "dm-1-glucose_meter"
start = "1d"
level_percent = 5

[[device_faults]]
kind = "silent_device"
device = "dm-1-thermometer"
start = "2d"

[[gateway_outages]]
gateway = "gw-a"
start = "6h"
duration = "2h"
cause = "power"
"""

FULL_YAML = """
name: ward-7
description: Everything at once
duration: 5d
sample_interval: 30s
start: 2025-03-01T09:00:00Z
patients:
  - id: hf-1
    condition: heart_failure
    seed: 17
    gateway: gw-a
    utc_offset_minutes: 60
    baselines: {spo2: 95.5}
    rule_overrides:
      thresholds:
        spo2: {limits: [{op: "<", value: 90, severity: high}]}
    devices:
      - {id: hf-1-scale, kind: weight_scale, interval: 12h}
      - {id: hf-1-ox, kind: pulse_oximeter}
    events:
      - {kind: weight_gain, start: 1d, duration: 3d, gain_kg: 2.5}
      - {kind: recovery, start: 4d12h, duration: 12h, metrics: [body_weight]}
  - id: dm-1
    condition: diabetes
    seed: 18
    gateway: gw-a
    events:
      - {kind: hypoglycaemia, start: PT2H, duration: 3600, glucose: 2.9}
device_faults:
  - {kind: connection_drop, device: hf-1-ox, start: 2h, duration: 10m}
  - {kind: corrupt_packets, device: hf-1-ox, start: 3h, duration: 1h, probability: 0.1}
  - {kind: truncated_packets, device: hf-1-ox, start: 3h, duration: 1h}
  - {kind: clock_drift, device: hf-1-scale, start: 0s, initial_offset: -90s, drift_ppm: 100}
  - {kind: low_battery, device: dm-1-glucose_meter, start: 1d, level_percent: 5}
  - {kind: silent_device, device: dm-1-thermometer, start: 2d}
gateway_outages:
  - {gateway: gw-a, start: 6h, duration: 2h, cause: power}
"""


def test_toml_and_yaml_describe_the_same_scenario() -> None:
    from_toml = parse_scenario(FULL_TOML, "toml")
    from_yaml = parse_scenario(FULL_YAML, "yaml")
    assert from_toml == from_yaml
    assert from_toml.start == START
    assert from_toml.sample_interval == timedelta(seconds=30)
    assert len(from_toml.device_faults) == 6


def test_a_scenario_survives_a_json_round_trip() -> None:
    scenario = parse_scenario(FULL_TOML, "toml")
    assert Scenario.model_validate_json(scenario.model_dump_json()) == scenario


def test_patients_built_from_a_scenario() -> None:
    scenario = parse_scenario(FULL_TOML, "toml")
    hf, dm = scenario.build_patients()
    assert hf.origin == START and hf.baselines.spo2 == 95.5 and hf.utc_offset_minutes == 60
    assert dm.condition is Condition.DIABETES
    later = START + timedelta(days=3)
    assert scenario.build_patients(later)[0].origin == later
    # The same spec builds the same patient every time.
    assert scenario.build_patients()[1].value_at(Metric.BLOOD_GLUCOSE, START) == dm.value_at(
        Metric.BLOOD_GLUCOSE, START
    )
    no_start = scenario.model_copy(update={"start": None})
    with pytest.raises(ValueError, match="no start time"):
        no_start.build_patients()


def test_devices_default_to_the_home_kit() -> None:
    scenario = parse_scenario(FULL_TOML, "toml")
    dm = scenario.patient_spec("dm-1")
    assert [d.kind for d in dm.device_list] == [
        DeviceKind.PULSE_OXIMETER, DeviceKind.BLOOD_PRESSURE, DeviceKind.THERMOMETER,
        DeviceKind.WEIGHT_SCALE, DeviceKind.GLUCOSE_METER,
    ]
    assert dm.device_list[0].id == "dm-1-pulse_oximeter"
    hf = scenario.patient_spec("hf-1")
    assert hf.intervals(scenario.sample_interval) == {
        Metric.BODY_WEIGHT: timedelta(hours=12), Metric.BMI: timedelta(hours=12),
        Metric.SPO2: timedelta(seconds=30), Metric.PULSE_RATE: timedelta(seconds=30),
    }
    with pytest.raises(KeyError, match="no patient 'nobody'"):
        scenario.patient_spec("nobody")


def test_faults_and_outages_are_windows_on_the_timeline() -> None:
    scenario = parse_scenario(FULL_TOML, "toml")
    at = timedelta(hours=3, minutes=30)
    kinds = {f.kind for f in scenario.faults_for("hf-1-ox", at)}
    assert kinds == {"corrupt_packets", "truncated_packets"}
    (drop,) = scenario.faults_for("hf-1-ox", timedelta(hours=2, minutes=5))
    assert drop.kind == "connection_drop"
    assert scenario.faults_for("hf-1-ox", timedelta(hours=2, minutes=10)) == ()
    assert scenario.gateway_offline("gw-a", timedelta(hours=7))
    assert not scenario.gateway_offline("gw-a", timedelta(hours=8))
    silent = scenario.faults_for("dm-1-thermometer", timedelta(days=4))
    assert isinstance(silent[0], SilentDevice) and silent[0].end is None
    battery = scenario.faults_for("dm-1-glucose_meter", timedelta(days=2))[0]
    assert isinstance(battery, LowBattery) and battery.level_percent == 5
    corrupt = scenario.device_faults[1]
    assert isinstance(corrupt, CorruptPackets) and corrupt.probability == 0.1


def test_clock_drift_accumulates() -> None:
    drift = ClockDrift(device="d", start=timedelta(hours=1), initial_offset=timedelta(seconds=-90),
                       drift_ppm=100, duration=timedelta(days=10))
    assert drift.clock_error(timedelta(0)) == timedelta(0)
    assert drift.clock_error(timedelta(hours=1)) == timedelta(seconds=-90)
    # 100 ppm is 8.64 s a day.
    assert drift.clock_error(timedelta(days=1, hours=1)) == timedelta(seconds=-90 + 8.64)
    assert drift.clock_error(timedelta(days=30)) == drift.clock_error(timedelta(days=10, hours=1))


def test_expected_alerts_are_derived_when_not_listed() -> None:
    scenario = parse_scenario(FULL_TOML, "toml")
    expected = {(e.patient, e.rule, e.cause) for e in scenario.expected()}
    assert expected == {
        ("hf-1", "trend:body_weight", None),
        # The heart-failure rules expect a weight and an SpO2 a day; a 2 h outage is not missed.
        # The diabetic patient follows the general-adult rules: continuous oximetry (1 min +
        # 10 min grace) goes missing in the outage; the thermometer (12 h + 3 h) once it falls
        # silent for the last three days. No default rule watches glucose.
        ("dm-1", "missing:spo2", MissingCause.GATEWAY_OFFLINE),
        ("dm-1", "missing:body_temperature", None),
    }
    weight = next(e for e in scenario.expected() if e.rule == "trend:body_weight")
    assert weight.earliest == timedelta(days=1) and weight.latest is None  # sustained


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_builtin_scenarios_load_and_their_listed_alerts_match_the_derived_ones(name: str) -> None:
    scenario = builtin_scenario(name)
    assert scenario.name == name
    derived = scenario.model_copy(update={"expected_alerts": None}).expected()
    assert set(scenario.expected()) == set(derived)
    assert len(scenario.build_patients(START)) == len(scenario.patients)


def test_builtin_expectations() -> None:
    rules = {name: {e.rule for e in builtin_scenario(name).expected()} for name in BUILTIN_NAMES}
    assert rules == {
        "stable": set(),
        "desaturating": {"threshold:spo2", "news2"},
        "hypertensive": {"bp_average"},
        "gateway-offline": {"missing:spo2"},
    }


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_builtin_patients_raise_nothing_outside_their_events(name: str) -> None:
    """Against the real default rules, whatever time of day the demo starts (checked here every
    3 h of start time; checked offline every 15 min at 1-min steps)."""
    scenario = builtin_scenario(name)
    for spec in scenario.patients:
        rules = spec.ruleset()
        measured = sorted(spec.intervals(scenario.sample_interval))
        for start_hour in range(0, 24, 3):
            origin = START.replace(hour=0) + timedelta(hours=start_hour)
            (patient,) = [p for p in scenario.build_patients(origin) if p.id == spec.id]
            offset = timedelta(0)
            while offset <= scenario.duration:
                quiet = all(
                    not (e.start - timedelta(minutes=5) <= offset < e.end + timedelta(minutes=5))
                    for e in spec.events
                )
                if quiet:
                    current: dict[Metric, float] = {}
                    for metric in measured:
                        sample = patient.sample(metric, origin + offset)
                        if is_questionable(sample.flags):
                            continue
                        current[metric] = sample.value
                        rule = rules.thresholds.get(metric)
                        assert rule is None or not any(
                            limit.breached(sample.value) for limit in rule.limits
                        ), (spec.id, metric, sample.value, start_hour, offset)
                    assert not news2_fires(rules, current), (spec.id, current, start_hour, offset)
                offset += timedelta(minutes=4)


def test_builtin_events_cross_the_limits_they_are_meant_to() -> None:
    desat = builtin_scenario("desaturating")
    (copd,) = desat.build_patients(START)
    nadir = min(copd.value_at(Metric.SPO2, START + timedelta(minutes=m)) for m in range(60, 100))
    assert nadir < 84  # Scale 2 high band
    htn = builtin_scenario("hypertensive")
    (patient,) = htn.build_patients(START)
    peak = max(patient.value_at(Metric.SYSTOLIC_BP, START + timedelta(minutes=m))
               for m in range(30, 150, 5))
    assert peak >= 180  # NICE severe, applied by bp_average to single readings


def test_unknown_builtin() -> None:
    with pytest.raises(KeyError, match="choose from stable"):
        builtin_scenario("nope")


# -- files ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "text"), [(".toml", FULL_TOML), (".yaml", FULL_YAML),
                                               (".YML", FULL_YAML)])
def test_load_scenario_by_suffix(tmp_path: Path, suffix: str, text: str) -> None:
    path = tmp_path / f"ward{suffix}"
    path.write_text(text, encoding="utf-8")
    assert load_scenario(path) == parse_scenario(FULL_TOML, "toml")


def test_load_scenario_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"must end in \.toml, \.yaml or \.yml"):
        load_scenario(tmp_path / "ward.json")
    with pytest.raises(ScenarioError, match="cannot read file"):
        load_scenario(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nduration = "1h"\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(bad)
    assert str(bad) in str(caught.value)
    assert caught.value.problems == ["patients: Field required"]


# -- validation errors ----------------------------------------------------------------------

BASE = """
name = "t"
duration = "1d"
"""
PATIENT = """
[[patients]]
id = "p1"
seed = 1
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "t\n', "not valid TOML"),
        (BASE, "patients: Field required"),
        (BASE + "patients = []", "patients: a scenario needs at least one patient"),
        ('duration = "1d"\n' + PATIENT, "name: Field required"),
        ('name = "Bad Name"\nduration = "1d"\n' + PATIENT, "name: String should match pattern"),
        ('name = "t"\nduration = "10 minutes"\n' + PATIENT, "duration: cannot read duration"),
        ('name = "t"\nduration = "0s"\n' + PATIENT, "duration: duration 0:00:00 must be longer"),
        (BASE + PATIENT + 'sead = 4\n', "patients[0].sead: unknown field"),
        (BASE + PATIENT + 'condition = "asthma"\n', "patients[0].condition: Input should be"),
        (BASE + PATIENT + '[[patients.events]]\nkind = "desat"\nstart = "1h"\nduration = "1h"\n',
         "patients[0].events[0]: Input tag 'desat' found using 'kind' does not match"),
        (BASE + PATIENT + '[[patients.events]]\nkind = "fever"\nstart = "1h"\n',
         "patients[0].events[0].fever.duration: Field required"),
        (BASE + PATIENT + '[[patients.events]]\nkind = "fever"\nstart = "2d"\nduration = "1h"\n',
         "patients[0].events[0] starts at 2 days, 0:00:00, after the scenario ends"),
        (BASE + PATIENT + 'baselines = { systolic_bp = 100, diastolic_bp = 95 }\n',
         "diastolic_bp 95.0 must be at least 15 mmHg below systolic_bp 100.0"),
        (BASE + PATIENT + 'rule_overrides = { thresholds = { spo2 = { limits = [] } } }\n',
         "rule_overrides: override does not give a valid rule set"),
        (BASE + PATIENT + PATIENT, "patient id 'p1' is used 2 times"),
        (BASE + PATIENT + '[[patients.devices]]\nid = "d"\nkind = "thermometer"\n'
         '[[patients]]\nid = "p2"\nseed = 2\n'
         '[[patients.devices]]\nid = "d"\nkind = "thermometer"\n',
         "device id 'd' is used 2 times"),
        (BASE + PATIENT + '[[patients.devices]]\nid = "d"\nkind = "toaster"\n',
         "patients[0].devices[0].kind: Input should be"),
        (BASE + PATIENT + '[[device_faults]]\nkind = "low_battery"\ndevice = "zz"\nstart = 0\n',
         "device_faults[0] names unknown device 'zz'"),
        (BASE + PATIENT + '[[device_faults]]\nkind = "meteor"\ndevice = "zz"\nstart = 0\n',
         "device_faults[0]: Input tag 'meteor'"),
        (BASE + PATIENT + '[[device_faults]]\nkind = "corrupt_packets"\ndevice = "p1-thermometer"\n'
         'start = 0\nprobability = 1.5\n', "probability: Input should be less than or equal to 1"),
        (BASE + PATIENT + '[[gateway_outages]]\ngateway = "gw-x"\nstart = "1h"\nduration = "1h"\n',
         "gateway_outages[0] names unknown gateway 'gw-x' (known: gw-p1)"),
        (BASE + PATIENT + '[[gateway_outages]]\ngateway = "gw-p1"\nstart = "1h"\n',
         "gateway_outages[0].duration: Field required"),
        (BASE + PATIENT + '[[expected_alerts]]\npatient = "p1"\nrule = "threshold:spo3"\n',
         "expected_alerts[0].rule: Value error, alert rule key 'threshold:spo3' names no metric"
         .replace("Value error, ", "")),
        (BASE + PATIENT + '[[expected_alerts]]\npatient = "p9"\nrule = "news2"\n',
         "expected_alerts[0] names unknown patient 'p9'"),
        (BASE + PATIENT + '[[expected_alerts]]\npatient = "p1"\nrule = "news2"\nearliest = "2h"\n'
         'latest = "1h"\n', "latest (1:00:00) is before earliest (2:00:00)"),
        (BASE + PATIENT + '[[expected_alerts]]\npatient = "p1"\nrule = "missing:spo2"\n'
         'cause = "aliens"\n', "expected_alerts[0].cause: Input should be"),
    ],
)
def test_bad_toml_is_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "toml", "ward.toml")
    assert "invalid scenario ward.toml" in str(caught.value)
    assert message in str(caught.value), str(caught.value)


def test_every_problem_is_listed_at_once() -> None:
    text = BASE + PATIENT + (
        '[[device_faults]]\nkind = "low_battery"\ndevice = "zz"\nstart = 0\n'
        '[[gateway_outages]]\ngateway = "gw-x"\nstart = "1h"\nduration = "1h"\n'
    )
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "toml")
    assert len(caught.value.problems) == 1  # one model-level check, both findings in it
    assert "unknown device 'zz'" in str(caught.value) and "unknown gateway" in str(caught.value)
    bad_fields = BASE + PATIENT + 'seed2 = 1\ncondition = "x"\n'
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(bad_fields, "toml")
    assert len(caught.value.problems) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: [unclosed", "not valid YAML"),
        ("- a\n- b\n", "top level must be a table/mapping, not list"),
        ("", "top level must be a table/mapping, not NoneType"),
        ("name: t\nduration: 1d\npatients:\n  - {id: p1, seed: -1}\n",
         "patients[0].seed: Input should be greater than or equal to 0"),
    ],
)
def test_bad_yaml_is_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match="invalid scenario") as caught:
        parse_scenario(text, "yaml")
    assert message in str(caught.value)


def test_unknown_format_and_non_mapping_data() -> None:
    with pytest.raises(ScenarioError, match="unknown format 'json'"):
        parse_scenario("{}", "json")  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match="not str"):
        scenario_from_data("name")


def test_expected_alert_models() -> None:
    alert = ExpectedAlert(patient="p1", rule="missing:spo2", cause=MissingCause.GATEWAY_OFFLINE)
    assert alert.earliest == timedelta(0) and alert.latest is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("10m", 600), ("1h30m", 5400), ("3d", 259200), ("1w", 604800), ("500ms", 0.5),
     ("0.5h", 1800), ("PT10M", 600), ("P1DT2H", 93600), (60, 60), (1.5, 1.5), (" 2h ", 7200)],
)
def test_durations(text: object, seconds: float) -> None:
    assert TypeAdapter(Duration).validate_python(text) == timedelta(seconds=seconds)
