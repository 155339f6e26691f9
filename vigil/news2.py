"""National Early Warning Score 2 (Royal College of Physicians, 2017), as pure functions.

`score()` scores one observation set. Values are first rounded half-up to the chart's
resolution (whole numbers for respiration rate, SpO2, systolic BP and pulse; 0.1 °C for
temperature) with `decimal.ROUND_HALF_UP` -- Python's `round()` rounds half to even, which
would score 91.5 % as 91 (3 points) instead of 92 (2 points). Floats are converted through
their shortest repr, so 35.05 is the decimal 35.05 the user typed (and rounds to 35.1), not
the binary 35.04999... it is stored as.

An incomplete set is reported as incomplete: `total` and `risk` are None, the parameters that
could be scored still appear in `scores`, and `missing` names the others. A missing value is
never scored as if it were normal.

`inputs_from_readings()` builds the inputs from "the latest reading per parameter within a
freshness window"; a stale latest reading counts as missing and is named in `stale`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from vigil.metrics import CATALOGUE, Metric

Consciousness = Literal["A", "C", "V", "P", "U"]
Risk = Literal["low", "low-medium", "medium", "high"]
Spo2Scale = Literal[1, 2]

CONSCIOUSNESS_LEVELS: tuple[str, ...] = ("A", "C", "V", "P", "U")

# The keys of `News2Result.scores`, in chart order. `air_or_oxygen` is scored from `on_oxygen`.
PARAMETERS: tuple[str, ...] = (
    "respiration_rate",
    "spo2",
    "air_or_oxygen",
    "systolic_bp",
    "pulse",
    "consciousness",
    "temperature",
)

# Which catalogue metric feeds which NEWS2 parameter. Pulse takes the latest of the oximeter's
# pulse rate and an ECG/HR-strap heart rate: the chart scores the rate, not the sensor.
METRIC_PARAMETER: dict[Metric, str] = {
    Metric.RESPIRATORY_RATE: "respiration_rate",
    Metric.SPO2: "spo2",
    Metric.SYSTOLIC_BP: "systolic_bp",
    Metric.PULSE_RATE: "pulse",
    Metric.HEART_RATE: "pulse",
    Metric.BODY_TEMPERATURE: "temperature",
}

_WHOLE = Decimal("1")
_TENTH = Decimal("0.1")


class News2Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    total: int | None
    risk: Risk | None
    # Exactly the PARAMETERS keys; None where the value is missing (or, on Scale 2 at SpO2 >= 93,
    # where oxygen use is unknown, since the SpO2 score then depends on it).
    scores: dict[str, int | None]
    complete: bool
    # Score keys (PARAMETERS) that could not be scored because their input is missing.
    missing: list[str]
    # A single parameter scores 3. Computed over the scores present, so it is meaningful even
    # for an incomplete set (where it is a certain trigger whatever the missing values are).
    any_single_3: bool
    spo2_scale: Spo2Scale

    @property
    def partial_total(self) -> int:
        """Sum of the scores present: a lower bound of the total when the set is incomplete."""
        return sum(value for value in self.scores.values() if value is not None)


def round_half_up(value: float, places: int) -> Decimal:
    """`value` rounded half-up to `places` decimals, via its shortest decimal repr."""
    quantum = _WHOLE if places == 0 else Decimal(1).scaleb(-places)
    return Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP)


def _number(name: str, value: float | None, metric: Metric) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, not {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    spec = CATALOGUE[metric]
    if not spec.is_plausible(value):
        hint = " (is it in °F?)" if metric is Metric.BODY_TEMPERATURE and value > 45 else ""
        raise ValueError(
            f"{name} {value!r} is outside the plausible range "
            f"{spec.plausible_min:g}-{spec.plausible_max:g} {spec.ucum}{hint}"
        )
    return float(value)


def _respiration(rate: int) -> int:
    if rate <= 8:
        return 3
    if rate <= 11:
        return 1
    if rate <= 20:
        return 0
    if rate <= 24:
        return 2
    return 3


def _spo2_scale_1(spo2: int) -> int:
    if spo2 <= 91:
        return 3
    if spo2 <= 93:
        return 2
    if spo2 <= 95:
        return 1
    return 0


def _spo2_scale_2(spo2: int, on_oxygen: bool | None) -> int | None:
    # Scale 2 is for hypercapnic respiratory failure (target 88-92 %); above 92 % it penalises
    # oxygen therapy, so the score there depends on whether the patient is on oxygen.
    if spo2 <= 83:
        return 3
    if spo2 <= 85:
        return 2
    if spo2 <= 87:
        return 1
    if spo2 <= 92:
        return 0
    if on_oxygen is None:
        return None
    if not on_oxygen:
        return 0
    if spo2 <= 94:
        return 1
    if spo2 <= 96:
        return 2
    return 3


def _systolic(sbp: int) -> int:
    if sbp <= 90:
        return 3
    if sbp <= 100:
        return 2
    if sbp <= 110:
        return 1
    if sbp <= 219:
        return 0
    return 3


def _pulse(pulse: int) -> int:
    if pulse <= 40:
        return 3
    if pulse <= 50:
        return 1
    if pulse <= 90:
        return 0
    if pulse <= 110:
        return 1
    if pulse <= 130:
        return 2
    return 3


def _temperature(temp: Decimal) -> int:
    if temp <= Decimal("35.0"):
        return 3
    if temp <= Decimal("36.0"):
        return 1
    if temp <= Decimal("38.0"):
        return 0
    if temp <= Decimal("39.0"):
        return 1
    return 2


def _risk(total: int, any_single_3: bool) -> Risk:
    if total >= 7:
        return "high"
    if total >= 5:
        return "medium"
    if any_single_3:
        return "low-medium"
    return "low"


def _whole(value: float | None) -> int | None:
    return None if value is None else int(round_half_up(value, 0))


def _checked_scale(spo2_scale: int | None) -> Spo2Scale:
    if spo2_scale is None:
        return 1
    if isinstance(spo2_scale, bool) or spo2_scale not in (1, 2):
        raise ValueError(f"spo2_scale must be 1 or 2 (or None for 1), got {spo2_scale!r}")
    return 1 if spo2_scale == 1 else 2


def _check_context(on_oxygen: bool | None, consciousness: str | None) -> None:
    if consciousness is not None and consciousness not in CONSCIOUSNESS_LEVELS:
        raise ValueError(
            f"consciousness must be one of A, C, V, P, U (ACVPU; C = new confusion), "
            f"got {consciousness!r}"
        )
    if on_oxygen is not None and not isinstance(on_oxygen, bool):
        raise ValueError(f"on_oxygen must be True, False or None, got {on_oxygen!r}")


def score(
    *,
    respiration_rate: float | None,
    spo2: float | None,
    spo2_scale: int | None,
    on_oxygen: bool | None,
    systolic_bp: float | None,
    pulse: float | None,
    consciousness: str | None,
    temperature: float | None,
) -> News2Result:
    """Score one NEWS2 observation set.

    `spo2_scale` None means Scale 1, the default chart: Scale 2 is only for patients whose
    clinician has documented hypercapnic respiratory failure. Raises ValueError for an
    unknown scale or consciousness letter, a non-numeric, non-finite or implausible value.
    """
    scale = _checked_scale(spo2_scale)
    _check_context(on_oxygen, consciousness)

    rr = _whole(_number("respiration_rate", respiration_rate, Metric.RESPIRATORY_RATE))
    sat = _whole(_number("spo2", spo2, Metric.SPO2))
    sbp = _whole(_number("systolic_bp", systolic_bp, Metric.SYSTOLIC_BP))
    hr = _whole(_number("pulse", pulse, Metric.PULSE_RATE))
    temp_value = _number("temperature", temperature, Metric.BODY_TEMPERATURE)
    temp = None if temp_value is None else round_half_up(temp_value, 1)

    if sat is None:
        spo2_score = None
    elif scale == 1:
        spo2_score = _spo2_scale_1(sat)
    else:
        spo2_score = _spo2_scale_2(sat, on_oxygen)

    scores: dict[str, int | None] = {
        "respiration_rate": None if rr is None else _respiration(rr),
        "spo2": spo2_score,
        "air_or_oxygen": None if on_oxygen is None else (2 if on_oxygen else 0),
        "systolic_bp": None if sbp is None else _systolic(sbp),
        "pulse": None if hr is None else _pulse(hr),
        "consciousness": None if consciousness is None else (0 if consciousness == "A" else 3),
        "temperature": None if temp is None else _temperature(temp),
    }
    inputs_present = {
        "respiration_rate": rr is not None,
        "spo2": sat is not None,
        "air_or_oxygen": on_oxygen is not None,
        "systolic_bp": sbp is not None,
        "pulse": hr is not None,
        "consciousness": consciousness is not None,
        "temperature": temp is not None,
    }
    missing = [name for name in PARAMETERS if not inputs_present[name]]
    any_single_3 = any(value == 3 for value in scores.values())
    # With every input present every score is determined (the Scale 2 oxygen case needs
    # on_oxygen, which is then present too).
    complete = not missing
    total = sum(v for v in scores.values() if v is not None) if complete else None
    return News2Result(
        total=total,
        risk=None if total is None else _risk(total, any_single_3),
        scores=scores,
        complete=complete,
        missing=missing,
        any_single_3=any_single_3,
        spo2_scale=scale,
    )


# The parameters scored from device readings, and the catalogue metric whose plausible range
# each is checked against (pulse is checked as the oximeter's pulse rate whatever measured it).
DEVICE_PARAMETERS: dict[str, Metric] = {
    "respiration_rate": Metric.RESPIRATORY_RATE,
    "spo2": Metric.SPO2,
    "systolic_bp": Metric.SYSTOLIC_BP,
    "pulse": Metric.PULSE_RATE,
    "temperature": Metric.BODY_TEMPERATURE,
}


def parameter_score(
    parameter: str, value: float, *, spo2_scale: Spo2Scale = 1, on_oxygen: bool | None = None
) -> int | None:
    """The score `score()` gives one device parameter's (plausible) value: the same rounding
    and bands, for callers that score the same values over and over (the rule engine caches
    it). None only for Scale 2 SpO2 >= 93 % with oxygen use unknown."""
    match parameter:
        case "respiration_rate":
            return _respiration(int(round_half_up(value, 0)))
        case "spo2":
            sat = int(round_half_up(value, 0))
            return _spo2_scale_1(sat) if spo2_scale == 1 else _spo2_scale_2(sat, on_oxygen)
        case "systolic_bp":
            return _systolic(int(round_half_up(value, 0)))
        case "pulse":
            return _pulse(int(round_half_up(value, 0)))
        case "temperature":
            return _temperature(round_half_up(value, 1))
    raise ValueError(f"{parameter!r} is not a NEWS2 device parameter")


class News2Inputs(BaseModel):
    """The inputs to `score()` gathered from readings, with where each value came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    respiration_rate: float | None = None
    spo2: float | None = None
    spo2_scale: Spo2Scale = 1
    on_oxygen: bool | None = None
    systolic_bp: float | None = None
    pulse: float | None = None
    consciousness: Consciousness | None = None
    temperature: float | None = None
    # Measurement time of each value taken from a reading, by score key.
    measured_at: dict[str, AwareDatetime] = {}
    # Score keys with no usable value: never measured, stale, or (oxygen, consciousness) not
    # supplied.
    missing: list[str] = []
    # The subset of `missing` whose latest reading exists but is older than the window.
    stale: list[str] = []

    def score(self) -> News2Result:
        return score(
            respiration_rate=self.respiration_rate,
            spo2=self.spo2,
            spo2_scale=self.spo2_scale,
            on_oxygen=self.on_oxygen,
            systolic_bp=self.systolic_bp,
            pulse=self.pulse,
            consciousness=self.consciousness,
            temperature=self.temperature,
        )


def inputs_from_readings(
    readings: Iterable[tuple[Metric | str, float, datetime]],
    *,
    now: datetime,
    window: timedelta,
    spo2_scale: int | None = None,
    on_oxygen: bool | None = None,
    consciousness: str | None = None,
) -> News2Inputs:
    """The latest reading per NEWS2 parameter, if it is at most `window` old at `now`.

    `readings` are (metric, value, measured_at) triples in any order; metrics NEWS2 does not
    use are ignored. A parameter whose latest reading is older than `now - window` is missing
    and named in `stale`: an old value is never presented as current. Readings measured after
    `now` (a device clock slightly ahead) count as fresh; ingest dead-letters far-future ones.
    Oxygen use and consciousness are not device metrics, so the caller supplies them.
    """
    scale = _checked_scale(spo2_scale)
    _check_context(on_oxygen, consciousness)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if window <= timedelta(0):
        raise ValueError(f"window must be positive, got {window}")
    latest: dict[str, tuple[datetime, float]] = {}
    for metric, value, measured_at in readings:
        if measured_at.tzinfo is None:
            raise ValueError(f"measured_at of a {metric} reading must be timezone-aware")
        parameter = METRIC_PARAMETER.get(Metric(metric))
        if parameter is None:
            continue
        current = latest.get(parameter)
        if current is None or measured_at >= current[0]:
            latest[parameter] = (measured_at, value)

    values: dict[str, float | None] = {}
    measured: dict[str, datetime] = {}
    stale: list[str] = []
    for parameter in ("respiration_rate", "spo2", "systolic_bp", "pulse", "temperature"):
        found = latest.get(parameter)
        if found is None:
            values[parameter] = None
        elif now - found[0] > window:
            values[parameter] = None
            stale.append(parameter)
        else:
            values[parameter] = found[1]
            measured[parameter] = found[0]
    missing = [
        name
        for name in PARAMETERS
        if (name == "air_or_oxygen" and on_oxygen is None)
        or (name == "consciousness" and consciousness is None)
        or (name in values and values[name] is None)
    ]
    return News2Inputs.model_validate(
        {
            **values,
            "spo2_scale": scale,
            "on_oxygen": on_oxygen,
            "consciousness": consciousness,
            "measured_at": measured,
            "missing": missing,
            "stale": stale,
        }
    )
