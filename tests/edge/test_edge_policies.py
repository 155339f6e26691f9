"""Pure gateway policies, from tables: device clock mapping, failure classification, profile
detection, backend loading, and the JSON log format."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta, timezone

import pytest
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakCharacteristicNotFoundError,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
)
from bleak_retry_connector import (
    BleakAbortedError,
    BleakConnectionError,
    BleakNotFoundError,
    BleakOutOfConnectionSlotsError,
)
from hypothesis import given
from hypothesis import strategies as st

from edge.clock import ClockPolicy, ClockReading, naive_local
from edge.failures import DeviceNotFound, FailureKind, ProfileMismatch, classify
from edge.logs import JsonFormatter
from edge.profiles import Profile, UnknownProfile, detect_profile, detect_profiles, sig_uuid
from edge.radio import NATIVE, RadioError, load_radio
from vigil.quality import QualityFlag

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
UTC_POLICY = ClockPolicy(UTC, tolerance_s=10.0, skew_threshold_s=120.0)
LONDON_SUMMER = timezone(timedelta(hours=1))


def seen(device_offset_s: float) -> ClockReading:
    """The device clock read at NOW, showing UTC + offset."""
    return ClockReading(NOW.replace(tzinfo=None) + timedelta(seconds=device_offset_s), NOW)


D = datetime(2025, 6, 1, 11, 0, 0)  # a stamp an hour before NOW, device time


@pytest.mark.parametrize(
    ("policy", "stamp", "observed", "measured", "flags"),
    [
        # no stamp: measured when received
        (UTC_POLICY, None, seen(0), NOW, ()),
        # clock right: the stamp as is
        (UTC_POLICY, D, seen(3), NOW - timedelta(hours=1, seconds=3), ()),
        # clock 2 h slow: corrected through the observed offset, flagged
        (UTC_POLICY, D - timedelta(hours=2), seen(-7200), NOW - timedelta(hours=1),
         (QualityFlag.CLOCK_CORRECTED,)),
        # device shows London summer time, as it should: a zone difference, not a correction
        (ClockPolicy(LONDON_SUMMER, 10, 120), D + timedelta(hours=1), seen(3600),
         NOW - timedelta(hours=1), ()),
        # no observation: taken as local time, unreliable
        (UTC_POLICY, D, None, NOW - timedelta(hours=1), (QualityFlag.CLOCK_UNRELIABLE,)),
        (ClockPolicy(LONDON_SUMMER, 10, 120), D, None, NOW - timedelta(hours=2),
         (QualityFlag.CLOCK_UNRELIABLE,)),
        # a stamp mapping into the future: the receipt time, unreliable
        (UTC_POLICY, D + timedelta(hours=3), seen(0), NOW, (QualityFlag.CLOCK_UNRELIABLE,)),
        # within tolerance of the future is rounding, not a fault
        (UTC_POLICY, D + timedelta(hours=1, seconds=5), seen(0), NOW + timedelta(seconds=5), ()),
    ],
)
def test_measured_at(policy: ClockPolicy, stamp: datetime | None,
                     observed: ClockReading | None, measured: datetime,
                     flags: tuple[QualityFlag, ...]) -> None:
    result = policy.measured_at(stamp, NOW, observed)
    assert result.measured_at == measured
    assert result.flags == flags


@pytest.mark.parametrize(
    ("offset_s", "skewed", "needs_setting"),
    [(0, False, False), (9, False, False), (-11, False, True), (119, False, True),
     (121, True, True), (-3600, True, True)],
)
def test_skew_thresholds(offset_s: float, skewed: bool, needs_setting: bool) -> None:
    observed = seen(offset_s)
    assert UTC_POLICY.is_skewed(observed) is skewed
    assert UTC_POLICY.needs_setting(observed) is needs_setting


@given(offset=st.floats(-1e6, 1e6), back=st.floats(0, 1e6))
def test_intervals_between_stamps_are_kept(offset: float, back: float) -> None:
    """Whatever the device clock's offset, two stamps keep their distance once mapped."""
    observed = seen(offset)
    late = naive_local(NOW, UTC) + timedelta(seconds=offset)
    early = late - timedelta(seconds=back)
    a = UTC_POLICY.measured_at(early.replace(microsecond=0), NOW, observed).measured_at
    b = UTC_POLICY.measured_at(late.replace(microsecond=0), NOW, observed).measured_at
    assert abs((b - a).total_seconds() - (late.replace(microsecond=0)
                                           - early.replace(microsecond=0)).total_seconds()) < 1e-3
    assert b <= NOW + timedelta(seconds=UTC_POLICY.tolerance_s)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (DeviceNotFound("AA", 20), FailureKind.NOT_FOUND),
        (BleakNotFoundError("gone"), FailureKind.NOT_FOUND),
        (BleakDeviceNotFoundError("AA", "not found"), FailureKind.NOT_FOUND),
        (ProfileMismatch("no PLX characteristics"), FailureKind.PERMANENT),
        (BleakCharacteristicNotFoundError("2a5f"), FailureKind.PERMANENT),
        (BleakGATTProtocolError(0x05), FailureKind.PERMANENT),  # insufficient authentication
        (BleakGATTProtocolError(0x0F), FailureKind.PERMANENT),  # insufficient encryption
        (BleakGATTProtocolError(0x0E), FailureKind.TRANSIENT),  # unlikely error
        (BleakAbortedError("le-connection-abort-by-local"), FailureKind.TRANSIENT),
        (BleakOutOfConnectionSlotsError("slots"), FailureKind.TRANSIENT),
        (BleakConnectionError("failed"), FailureKind.TRANSIENT),
        (BleakError("Not connected"), FailureKind.TRANSIENT),
        (BleakBluetoothNotAvailableError("off", BleakBluetoothNotAvailableReason.POWERED_OFF),
         FailureKind.TRANSIENT),
        (TimeoutError(), FailureKind.TRANSIENT),
        (EOFError(), FailureKind.TRANSIENT),
        (RuntimeError("a bug"), FailureKind.TRANSIENT),
    ],
)
def test_failure_classification(error: BaseException, kind: FailureKind) -> None:
    assert classify(error) is kind


@pytest.mark.parametrize(
    ("services", "profiles"),
    [
        (["00001822-0000-1000-8000-00805f9b34fb"], [Profile.PULSE_OXIMETER]),
        (["1810"], [Profile.BLOOD_PRESSURE]),
        (["0x180f", "1809"], [Profile.THERMOMETER]),  # short forms too; junk ignored
        ([sig_uuid(0x180F), sig_uuid(0x1809)], [Profile.THERMOMETER]),
        ([sig_uuid(0x180D), sig_uuid(0x1822)], [Profile.PULSE_OXIMETER, Profile.HEART_RATE]),
        (["181D"], [Profile.WEIGHT_SCALE]),
        (["00001808-0000-1000-8000-00805F9B34FB"], [Profile.GLUCOSE_METER]),
        ([], []),
    ],
)
def test_profile_detection(services: list[str], profiles: list[Profile]) -> None:
    assert detect_profiles(services) == profiles


def test_pairing_a_non_health_device_says_why() -> None:
    with pytest.raises(UnknownProfile, match="no health service"):
        detect_profile([sig_uuid(0x180F)])


def test_native_backend_is_bleaks_default() -> None:
    radio = load_radio(NATIVE)
    assert radio.client_kwargs() == {} and radio.scanner_backend is None


def test_a_backend_module_is_imported_and_configured() -> None:
    from simulators.ble import remote

    radio = load_radio("simulators.ble.remote", {"room": "127.0.0.1:7301"})
    assert radio.client_kwargs() == {"backend": remote.client_backend}
    assert radio.scanner_backend is remote.scanner_backend
    assert remote.room_address() == ("127.0.0.1", 7301)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("no.such.module", {}, "cannot import"),
        ("json", {}, "scanner_backend"),  # importable, but not a backend
        ("simulators.ble.remote", {"colour": "red"}, "rejected ble_backend_options"),
        (NATIVE, {"room": "x"}, "only to a backend module"),
    ],
)
def test_backend_loading_errors(name: str, options: dict[str, str], message: str) -> None:
    with pytest.raises(RadioError, match=message):
        load_radio(name, options)


def test_log_lines_are_json_with_context() -> None:
    record = logging.LogRecord("edge.test", logging.WARNING, __file__, 1, "link %s", ("lost",),
                               None)
    record.device = "AA:BB"
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "link lost" and line["level"] == "warning"
    assert line["device"] == "AA:BB" and line["logger"] == "edge.test"
    assert datetime.fromisoformat(line["ts"]).tzinfo is not None


def test_event_loop_policy_untouched() -> None:
    # The agent installs no loop policy of its own (bleak on BlueZ needs the default one).
    assert isinstance(asyncio.get_event_loop_policy(), asyncio.DefaultEventLoopPolicy)


# --- the session's characteristic index ---------------------------------------------------------

def _collection_of(device: str) -> object:
    from simulators.ble.gatt_table import build_collection
    from simulators.devices import (
        BloodPressureCuff,
        GlucoseMeter,
        HeartRateStrap,
        PulseOximeter,
        Thermometer,
        WeightScale,
    )
    kinds = {"oximeter": PulseOximeter, "cuff": BloodPressureCuff, "thermometer": Thermometer,
             "scale": WeightScale, "glucose": GlucoseMeter, "strap": HeartRateStrap}
    peripheral = kinds[device]("AA:00:00:00:00:09").peripheral
    return build_collection(peripheral.services_info(), mtu=247)


@pytest.mark.parametrize("device", ["oximeter", "cuff", "thermometer", "scale", "glucose",
                                    "strap"])
def test_the_characteristic_index_answers_as_bleak_does(device: str) -> None:
    from edge.profiles import (
        BATTERY_LEVEL,
        CURRENT_TIME,
        DEVICE_INFORMATION_CHARS,
        PROFILES,
        RACP,
    )
    from edge.session import Characteristics

    services = _collection_of(device)
    index = Characteristics(services)  # type: ignore[arg-type]
    asked = {BATTERY_LEVEL, CURRENT_TIME, RACP, *DEVICE_INFORMATION_CHARS,
             *(m.uuid for spec in PROFILES.values() for m in spec.measurements)}
    for uuid in asked:
        assert index.get(uuid) is services.get_characteristic(uuid)  # type: ignore[attr-defined]


def test_the_characteristic_index_refuses_an_ambiguous_uuid_as_bleak_does() -> None:
    from bleak.backends.service import BleakGATTServiceCollection

    from edge.profiles import BATTERY_LEVEL
    from edge.session import Characteristics
    from simulators.ble.gatt_table import ServiceInfo, build_collection
    from simulators.devices import Thermometer

    table = Thermometer("AA:00:00:00:00:09").peripheral.services_info()
    battery = next(s for s in table if any(c.uuid == BATTERY_LEVEL for c in s.characteristics))
    shift = 1000  # a second Battery service, as some devices have
    twin = ServiceInfo(battery.handle + shift, battery.uuid, tuple(
        type(c)(c.handle + shift, c.uuid, c.properties, tuple(
            type(d)(d.handle + shift, d.uuid) for d in c.descriptors))
        for c in battery.characteristics))
    services: BleakGATTServiceCollection = build_collection([*table, twin], mtu=247)
    with pytest.raises(BleakError, match="Multiple Characteristics"):
        services.get_characteristic(BATTERY_LEVEL)
    with pytest.raises(BleakError, match="Multiple Characteristics"):
        Characteristics(services).get(BATTERY_LEVEL)
