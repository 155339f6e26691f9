"""Bluetooth SIG GATT codecs for the health profiles Vigil reads. Pure: bytes in, typed values
out, no I/O.

`decode(uuid, data)` is the one entry point; it returns a frozen pydantic model or raises
MalformedPacket (UnsupportedCharacteristic, a subclass, for a UUID without a decoder).
`convert` / `to_readings` turn measurements into contract readings. The gateway also writes two
characteristics, so their encoders live here: RACP requests and Current Time.

Decisions (see each module for its spec clauses):
- SFLOAT / FLOAT NaN, NRes and the reserved value decode to None; +-INFINITY to +-inf.
- A date with year, month or day 0 ("unknown") gives timestamp None; out-of-range date fields
  (year 1..1581, month 13, 30 February, hour 24, ...) are malformed.
- Reserved flag and status bits are ignored (Core spec rule for receivers); any field a future
  flag would add still fails the exact-length check. Reserved enumeration values (BP pulse rate
  range 3, temperature type, glucose sample type / location, RACP response code, weight
  resolution, battery level > 100) are malformed.
- Every decoder consumes the packet exactly: truncated packets and trailing bytes are malformed.
"""

from edge.gatt.battery import BatteryLevel
from edge.gatt.blood_pressure import BloodPressureMeasurement, IntermediateCuffPressure
from edge.gatt.date_time import CurrentTime, DateTime, encode_current_time
from edge.gatt.decoder import SUPPORTED_UUIDS, decode, decode_as
from edge.gatt.errors import MalformedPacket, UnsupportedCharacteristic
from edge.gatt.glucose import GlucoseMeasurement
from edge.gatt.heart_rate import HeartRateMeasurement
from edge.gatt.model import GattValue
from edge.gatt.pulse_oximetry import PlxContinuous, PlxFeatures, PlxSpotCheck
from edge.gatt.racp import (
    RacpNumberOfRecords,
    RacpOpCode,
    RacpOperator,
    RacpResponse,
    RacpResponseCode,
    abort_operation,
    delete_all_records,
    delete_records_up_to,
    report_all_records,
    report_number_of_records,
    report_number_of_records_from,
    report_records_from,
)
from edge.gatt.readings import Conversion, Measurement, SkippedValue, convert, to_readings
from edge.gatt.temperature import IntermediateTemperature, TemperatureMeasurement
from edge.gatt.uuids import full_uuid, short_uuid
from edge.gatt.weight import WeightMeasurement, WeightScaleFeature

__all__ = [
    "SUPPORTED_UUIDS",
    "BatteryLevel",
    "BloodPressureMeasurement",
    "Conversion",
    "CurrentTime",
    "DateTime",
    "GattValue",
    "GlucoseMeasurement",
    "HeartRateMeasurement",
    "IntermediateCuffPressure",
    "IntermediateTemperature",
    "MalformedPacket",
    "Measurement",
    "PlxContinuous",
    "PlxFeatures",
    "PlxSpotCheck",
    "RacpNumberOfRecords",
    "RacpOpCode",
    "RacpOperator",
    "RacpResponse",
    "RacpResponseCode",
    "SkippedValue",
    "TemperatureMeasurement",
    "UnsupportedCharacteristic",
    "WeightMeasurement",
    "WeightScaleFeature",
    "abort_operation",
    "convert",
    "decode",
    "decode_as",
    "delete_all_records",
    "delete_records_up_to",
    "encode_current_time",
    "full_uuid",
    "report_all_records",
    "report_number_of_records",
    "report_number_of_records_from",
    "report_records_from",
    "short_uuid",
    "to_readings",
]
