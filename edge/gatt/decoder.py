"""The one door: `decode(uuid, data)` picks the decoder for a characteristic and guarantees
that whatever goes wrong surfaces as MalformedPacket (UnsupportedCharacteristic for an unknown
UUID), carrying the UUID and the raw bytes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from edge.gatt import uuids
from edge.gatt.battery import decode_battery_level
from edge.gatt.blood_pressure import decode_blood_pressure, decode_intermediate_cuff_pressure
from edge.gatt.date_time import decode_current_time, decode_date_time
from edge.gatt.errors import MalformedPacket, UnsupportedCharacteristic
from edge.gatt.glucose import decode_glucose
from edge.gatt.heart_rate import decode_heart_rate
from edge.gatt.model import GattValue
from edge.gatt.pulse_oximetry import (
    decode_plx_continuous,
    decode_plx_features,
    decode_plx_spot_check,
)
from edge.gatt.racp import decode_racp
from edge.gatt.reader import PacketReader
from edge.gatt.temperature import decode_intermediate_temperature, decode_temperature
from edge.gatt.weight import decode_weight, decode_weight_scale_feature

DECODERS: dict[int, Callable[[PacketReader], GattValue]] = {
    uuids.BLOOD_PRESSURE_MEASUREMENT: decode_blood_pressure,
    uuids.INTERMEDIATE_CUFF_PRESSURE: decode_intermediate_cuff_pressure,
    uuids.PLX_SPOT_CHECK_MEASUREMENT: decode_plx_spot_check,
    uuids.PLX_CONTINUOUS_MEASUREMENT: decode_plx_continuous,
    uuids.PLX_FEATURES: decode_plx_features,
    uuids.HEART_RATE_MEASUREMENT: decode_heart_rate,
    uuids.TEMPERATURE_MEASUREMENT: decode_temperature,
    uuids.INTERMEDIATE_TEMPERATURE: decode_intermediate_temperature,
    uuids.WEIGHT_MEASUREMENT: decode_weight,
    uuids.WEIGHT_SCALE_FEATURE: decode_weight_scale_feature,
    uuids.GLUCOSE_MEASUREMENT: decode_glucose,
    uuids.RECORD_ACCESS_CONTROL_POINT: decode_racp,
    uuids.BATTERY_LEVEL: decode_battery_level,
    uuids.DATE_TIME: decode_date_time,
    uuids.CURRENT_TIME: decode_current_time,
}
SUPPORTED_UUIDS: frozenset[int] = frozenset(DECODERS)

V = TypeVar("V", bound=GattValue)


def decode(uuid: uuids.UuidLike, data: bytes | bytearray | memoryview) -> GattValue:
    """Decode one characteristic value into its typed model.

    Raises MalformedPacket for bytes that are not a valid value (truncated, trailing bytes,
    reserved or contradictory fields) and UnsupportedCharacteristic (a MalformedPacket) for a
    UUID without a decoder.
    """
    raw = bytes(data)
    short = uuids.short_uuid(uuid)
    decoder = DECODERS.get(short)
    if decoder is None:
        raise UnsupportedCharacteristic("no decoder for this characteristic", uuid=short, data=raw)
    try:
        return decoder(PacketReader(raw))
    except MalformedPacket as exc:
        raise MalformedPacket(exc.reason, uuid=short, data=raw) from exc
    except ValueError as exc:
        # A model validator refused the decoded fields (pydantic.ValidationError is a
        # ValueError): still a malformed packet, never a half-built value.
        raise MalformedPacket(f"invalid value: {exc}", uuid=short, data=raw) from exc


def decode_as(kind: type[V], data: bytes | bytearray | memoryview) -> V:
    """Decode `data` as a value of `kind` (for drivers that know what they subscribed to)."""
    value = decode(kind.uuid, data)
    if not isinstance(value, kind):
        raise MalformedPacket(
            f"expected {kind.__name__}, got {type(value).__name__}",
            uuid=kind.uuid,
            data=bytes(data),
        )
    return value
