"""Simulated physiology and clinical scenarios: pure, deterministic by seed, no I/O, no clock.

    >>> from datetime import UTC, datetime, timedelta
    >>> from simulators.physiology import builtin_scenario
    >>> scenario = builtin_scenario("desaturating")
    >>> start = datetime(2025, 3, 1, 8, tzinfo=UTC)
    >>> (patient,) = scenario.build_patients(start)
    >>> patient.value_at("spo2", start + timedelta(minutes=85)) < 84    # in the episode
    True
    >>> sample = patient.sample("spo2", start)      # value, true_value, hints, flags
    >>> sorted({a.rule for a in scenario.expected()})
    ['news2', 'threshold:spo2']
"""

from simulators.physiology import alerts
from simulators.physiology.baselines import (
    Baselines,
    Condition,
    Traits,
    draw_baselines,
    draw_traits,
)
from simulators.physiology.events import (
    Desaturation,
    Event,
    Fever,
    Hyperglycaemia,
    HypertensiveSpike,
    Hypoglycaemia,
    Hypotension,
    Recovery,
    Tachycardia,
    WeightGain,
)
from simulators.physiology.faults import (
    ClockDrift,
    ConnectionDrop,
    CorruptPackets,
    DeviceFault,
    GatewayOutage,
    LowBattery,
    SilentDevice,
    TruncatedPackets,
)
from simulators.physiology.loader import (
    BUILTIN_NAMES,
    ScenarioError,
    builtin_scenario,
    load_scenario,
    parse_scenario,
    scenario_from_data,
)
from simulators.physiology.patient import NaiveTimeError, Patient, Sample
from simulators.physiology.quality import QualityHint
from simulators.physiology.scenario import (
    DEVICE_METRICS,
    BaselineOverrides,
    DeviceKind,
    DeviceSpec,
    ExpectedAlert,
    PatientSpec,
    Scenario,
)

__all__ = [
    "BUILTIN_NAMES",
    "DEVICE_METRICS",
    "BaselineOverrides",
    "Baselines",
    "ClockDrift",
    "Condition",
    "ConnectionDrop",
    "CorruptPackets",
    "Desaturation",
    "DeviceFault",
    "DeviceKind",
    "DeviceSpec",
    "Event",
    "ExpectedAlert",
    "Fever",
    "GatewayOutage",
    "Hyperglycaemia",
    "HypertensiveSpike",
    "Hypoglycaemia",
    "Hypotension",
    "LowBattery",
    "NaiveTimeError",
    "Patient",
    "PatientSpec",
    "QualityHint",
    "Recovery",
    "Sample",
    "Scenario",
    "ScenarioError",
    "SilentDevice",
    "Tachycardia",
    "Traits",
    "TruncatedPackets",
    "WeightGain",
    "alerts",
    "builtin_scenario",
    "draw_baselines",
    "draw_traits",
    "load_scenario",
    "parse_scenario",
    "scenario_from_data",
]
