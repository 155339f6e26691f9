"""The wire protocol between a hosted room (`vigil sim devices --listen`) and remote backends.

Newline-delimited JSON over TCP, one object per line, UTF-8; byte values are lowercase hex.
Every frame has an "op". One TCP connection is one radio role:

* a scanner sends `{"op":"scan"}` and then only reads `advert` frames until it closes;
* a central sends `connect` first; the TCP connection *is* the BLE link: closing it disconnects,
  and a device-initiated disconnect arrives as a `disconnected` frame followed by EOF;
* an operator/test sends `list` or `control` requests.

Requests carrying an "id" get exactly one `result` or `error` frame with the same id. The room
also pushes `notification` and `indication` frames; the central answers each indication with
`{"op":"confirm","handle":H}` (ATT Handle Value Confirmation), and the device sends nothing more
on that link's indications until it has.

Example exchange::

    > {"op":"connect","id":1,"address":"C0:FF:EE:00:00:01"}
    < {"op":"result","id":1,"name":"Vigil PLX","mtu":247,"services":[...]}
    > {"op":"write_descriptor","id":2,"handle":9,"value":"0200"}
    < {"op":"result","id":2}
    < {"op":"indication","handle":8,"value":"0e6e00..."}
    > {"op":"confirm","handle":8}
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
)

from simulators.ble.gatt_table import ServiceInfo
from simulators.ble.peripheral import Advertisement, Sighting

# Longest frame either side accepts: a full attribute table is a few KiB; 1 MiB is generous.
MAX_FRAME_BYTES = 1 << 20


def _from_hex(value: object) -> object:
    if isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError as exc:
            raise ValueError(f"not a hex string: {value[:40]!r}") from exc
    return value


HexBytes = Annotated[bytes, BeforeValidator(_from_hex), PlainSerializer(lambda b: b.hex())]


class ProtocolError(ValueError):
    """A frame that is not valid JSON or not a frame we know."""


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- requests: central / scanner / operator -> room ---------------------------------------------


class Scan(_Frame):
    op: Literal["scan"] = "scan"


class Connect(_Frame):
    op: Literal["connect"] = "connect"
    id: int
    address: str


class Read(_Frame):
    op: Literal["read"] = "read"
    id: int
    handle: int


class Write(_Frame):
    op: Literal["write"] = "write"
    id: int
    handle: int
    value: HexBytes
    response: bool = True


class ReadDescriptor(_Frame):
    op: Literal["read_descriptor"] = "read_descriptor"
    id: int
    handle: int


class WriteDescriptor(_Frame):
    op: Literal["write_descriptor"] = "write_descriptor"
    id: int
    handle: int
    value: HexBytes


class Disconnect(_Frame):
    op: Literal["disconnect"] = "disconnect"
    id: int


class Confirm(_Frame):
    op: Literal["confirm"] = "confirm"
    handle: int


class ListDevices(_Frame):
    op: Literal["list"] = "list"
    id: int


class Control(_Frame):
    op: Literal["control"] = "control"
    id: int
    address: str
    action: str
    value: float | bool | None = None


Request = Annotated[
    Scan
    | Connect
    | Read
    | Write
    | ReadDescriptor
    | WriteDescriptor
    | Disconnect
    | Confirm
    | ListDevices
    | Control,
    Field(discriminator="op"),
]

# -- replies and events: room -> client ---------------------------------------------------------


class DeviceEntry(_Frame):
    address: str
    name: str | None
    kind: str
    visible: bool
    connected: bool


class Result(_Frame):
    op: Literal["result"] = "result"
    id: int
    value: HexBytes | None = None
    name: str | None = None
    mtu: int | None = None
    services: tuple[ServiceInfo, ...] | None = None
    devices: tuple[DeviceEntry, ...] | None = None


ErrorKind = Literal["att", "not_found", "not_connected", "protocol", "error"]


class Failure(_Frame):
    op: Literal["error"] = "error"
    id: int | None = None
    kind: ErrorKind
    message: str
    code: int | None = None
    address: str | None = None


class Notification(_Frame):
    op: Literal["notification"] = "notification"
    handle: int
    value: HexBytes


class Indication(_Frame):
    op: Literal["indication"] = "indication"
    handle: int
    value: HexBytes


class Disconnected(_Frame):
    op: Literal["disconnected"] = "disconnected"
    reason: str


class Advert(_Frame):
    op: Literal["advert"] = "advert"
    address: str
    local_name: str | None = None
    service_uuids: tuple[str, ...] = ()
    manufacturer_data: dict[int, HexBytes] = Field(default_factory=dict)
    service_data: dict[str, HexBytes] = Field(default_factory=dict)
    tx_power: int | None = None
    rssi: int

    @classmethod
    def of(cls, sighting: Sighting) -> Advert:
        adv = sighting.advertisement
        return cls(
            address=sighting.address,
            local_name=adv.local_name,
            service_uuids=adv.service_uuids,
            manufacturer_data=dict(adv.manufacturer_data),
            service_data=dict(adv.service_data),
            tx_power=adv.tx_power,
            rssi=adv.rssi,
        )

    def sighting(self) -> Sighting:
        return Sighting(
            self.address,
            Advertisement(
                self.local_name,
                self.service_uuids,
                dict(self.manufacturer_data),
                dict(self.service_data),
                self.tx_power,
                self.rssi,
            ),
        )


Reply = Annotated[
    Result | Failure | Notification | Indication | Disconnected | Advert,
    Field(discriminator="op"),
]

_requests: TypeAdapter[Request] = TypeAdapter(Request)
_replies: TypeAdapter[Reply] = TypeAdapter(Reply)


def encode(frame: _Frame) -> bytes:
    return frame.model_dump_json(exclude_none=True).encode() + b"\n"


def decode_request(line: bytes) -> Request:
    try:
        return _requests.validate_json(line)
    except ValidationError as exc:
        raise ProtocolError(f"bad request frame: {_summary(exc)}") from exc


def decode_reply(line: bytes) -> Reply:
    try:
        return _replies.validate_json(line)
    except ValidationError as exc:
        raise ProtocolError(f"bad reply frame: {_summary(exc)}") from exc


def _summary(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]
