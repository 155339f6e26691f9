"""Device profiles: which GATT service a health device advertises, which characteristics carry
its measurements, and whether those measurements are continuous samples or spot checks.

Continuous samples (PLX continuous, heart-rate stream) arrive every second and each one matters
little on its own; spot measurements (blood pressure, temperature, weight, glucose, PLX spot
check) are taken deliberately by the patient and each one matters. The outbox evicts the former
first (see edge.outbox).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

_BASE = "-0000-1000-8000-00805f9b34fb"


def sig_uuid(short: int) -> str:
    """The full 128-bit form of a 16-bit Bluetooth SIG UUID, as bleak reports it."""
    return f"0000{short:04x}{_BASE}"


def normalise_uuid(value: str) -> str:
    value = value.strip().lower()
    if len(value) == 4:
        return sig_uuid(int(value, 16))
    if len(value) == 8:
        return f"{value}{_BASE}"
    return value


# Services and characteristics every profile may also carry.
BATTERY_SERVICE = sig_uuid(0x180F)
BATTERY_LEVEL = sig_uuid(0x2A19)
DEVICE_INFORMATION_SERVICE = sig_uuid(0x180A)
MANUFACTURER_NAME = sig_uuid(0x2A29)
MODEL_NUMBER = sig_uuid(0x2A24)
SERIAL_NUMBER = sig_uuid(0x2A25)
FIRMWARE_REVISION = sig_uuid(0x2A26)
DEVICE_INFORMATION_CHARS = (MANUFACTURER_NAME, MODEL_NUMBER, SERIAL_NUMBER, FIRMWARE_REVISION)
CURRENT_TIME = sig_uuid(0x2A2B)
RACP = sig_uuid(0x2A52)


class Profile(StrEnum):
    PULSE_OXIMETER = "pulse_oximeter"
    BLOOD_PRESSURE = "blood_pressure"
    THERMOMETER = "thermometer"
    WEIGHT_SCALE = "weight_scale"
    GLUCOSE_METER = "glucose_meter"
    HEART_RATE = "heart_rate"


@dataclass(frozen=True, slots=True)
class Measurement:
    """One characteristic that carries measurements, and how it is subscribed."""

    uuid: str
    continuous: bool


@dataclass(frozen=True, slots=True)
class ProfileSpec:
    profile: Profile
    service: str
    measurements: tuple[Measurement, ...]
    # Records stored on the device are fetched through RACP when the device offers it.
    racp: bool
    # A sensible default for "silent for too long" when the config gives none.
    default_expected_interval_s: float
    # False: everything comes through RACP, so the gateway ends the link once the transfer is
    # done (a meter's battery is small) and reconnects when it next advertises. True: stay
    # connected (streams), or let the device end the link (store-and-forward cuffs do).
    hold_connection: bool = True


PROFILES: dict[Profile, ProfileSpec] = {
    spec.profile: spec
    for spec in (
        ProfileSpec(Profile.PULSE_OXIMETER, sig_uuid(0x1822),
                    (Measurement(sig_uuid(0x2A5F), continuous=True),
                     Measurement(sig_uuid(0x2A5E), continuous=False)),
                    racp=True, default_expected_interval_s=60.0),
        ProfileSpec(Profile.BLOOD_PRESSURE, sig_uuid(0x1810),
                    (Measurement(sig_uuid(0x2A35), continuous=False),),
                    racp=False, default_expected_interval_s=26 * 3600.0),
        ProfileSpec(Profile.THERMOMETER, sig_uuid(0x1809),
                    (Measurement(sig_uuid(0x2A1C), continuous=False),),
                    racp=False, default_expected_interval_s=26 * 3600.0),
        ProfileSpec(Profile.WEIGHT_SCALE, sig_uuid(0x181D),
                    (Measurement(sig_uuid(0x2A9D), continuous=False),),
                    racp=False, default_expected_interval_s=26 * 3600.0),
        ProfileSpec(Profile.GLUCOSE_METER, sig_uuid(0x1808),
                    (Measurement(sig_uuid(0x2A18), continuous=False),),
                    racp=True, default_expected_interval_s=26 * 3600.0, hold_connection=False),
        ProfileSpec(Profile.HEART_RATE, sig_uuid(0x180D),
                    (Measurement(sig_uuid(0x2A37), continuous=True),),
                    racp=False, default_expected_interval_s=60.0),
    )
}

_BY_SERVICE = {spec.service: spec.profile for spec in PROFILES.values()}
HEALTH_SERVICES = frozenset(_BY_SERVICE)


class UnknownProfile(ValueError):
    """The advertised services name no health profile Vigil reads."""

    def __init__(self, services: Iterable[str]) -> None:
        listed = ", ".join(sorted(services)) or "none"
        super().__init__(f"no health service among the advertised services ({listed})")


def detect_profiles(advertised_services: Iterable[str]) -> list[Profile]:
    """The health profiles a device advertises, in catalogue order."""
    found = {_BY_SERVICE[u] for u in map(normalise_uuid, advertised_services) if u in _BY_SERVICE}
    return [profile for profile in Profile if profile in found]


def detect_profile(advertised_services: Iterable[str]) -> Profile:
    """The one profile to pair a device as; the first in catalogue order if it offers several."""
    services = list(advertised_services)
    profiles = detect_profiles(services)
    if not profiles:
        raise UnknownProfile(services)
    return profiles[0]
