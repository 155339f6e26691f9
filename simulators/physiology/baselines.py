"""Per-patient baselines and traits, drawn deterministically from a seed and a condition.

Ranges are typical resting values for people living with each condition at home (NICE and
GOLD guidance ranges, rounded); they are a simulator's stand-in for a real cohort, not a
clinical reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from simulators.physiology.noise import stream_id, uniform


class Condition(StrEnum):
    GENERAL_ADULT = "general_adult"
    COPD = "copd"
    HEART_FAILURE = "heart_failure"
    HYPERTENSION = "hypertension"
    DIABETES = "diabetes"


class Baselines(BaseModel):
    """Resting daytime values around which the patient's signals move."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    spo2: float = Field(ge=80.0, le=100.0)
    pulse_rate: float = Field(ge=40.0, le=120.0)
    systolic_bp: float = Field(ge=80.0, le=200.0)
    diastolic_bp: float = Field(ge=40.0, le=130.0)
    body_temperature: float = Field(ge=35.5, le=37.8)
    body_weight: float = Field(ge=30.0, le=250.0, description="kg")
    height_m: float = Field(ge=1.3, le=2.2)
    respiratory_rate: float = Field(ge=8.0, le=30.0)
    blood_glucose: float = Field(ge=3.5, le=15.0, description="mmol/L, between meals")

    @model_validator(mode="after")
    def _pulse_pressure(self) -> Baselines:
        if self.diastolic_bp >= self.systolic_bp - 15.0:
            raise ValueError(
                f"diastolic_bp {self.diastolic_bp} must be at least 15 mmHg below "
                f"systolic_bp {self.systolic_bp}"
            )
        return self

    @property
    def bmi(self) -> float:
        return self.body_weight / (self.height_m * self.height_m)


class Traits(BaseModel):
    """How the patient's signals behave over the day and how often measurements go wrong."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sleep_onset_hour: float = Field(ge=19.0, le=26.0, description="local clock; 24+ = after 0h")
    sleep_hours: float = Field(ge=4.0, le=11.0)
    # Nocturnal dipping: healthy BP falls 10-20 % asleep; many hypertensives are non-dippers.
    bp_dip_fraction: float = Field(ge=0.0, le=0.25)
    pulse_dip: float = Field(ge=0.0, le=20.0, description="bpm lower asleep")
    spo2_dip: float = Field(ge=0.0, le=4.0, description="% lower asleep")
    meal_glucose_rise: float = Field(ge=0.0, le=8.0, description="mmol/L peak after a meal")
    weight_fluctuation_kg: float = Field(ge=0.0, le=3.0, description="SD of day-to-day drift")
    # Per-bucket episode probabilities (see quality.py for bucket sizes).
    motion_rate: float = Field(ge=0.0, le=1.0)
    low_perfusion_rate: float = Field(ge=0.0, le=1.0)
    irregular_pulse_rate: float = Field(ge=0.0, le=1.0)


Range = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Profile:
    """Ranges a condition draws baselines and traits from (uniform within each range)."""

    spo2: Range
    pulse_rate: Range
    systolic_bp: Range
    diastolic_bp: Range
    respiratory_rate: Range
    blood_glucose: Range
    bmi: Range
    bp_dip_fraction: Range
    spo2_dip: Range
    meal_glucose_rise: Range
    weight_fluctuation_kg: Range
    low_perfusion_rate: Range
    irregular_pulse_rate: Range
    body_temperature: Range = (36.4, 36.9)
    height_m: Range = (1.55, 1.90)
    pulse_dip: Range = (5.0, 12.0)
    motion_rate: Range = (0.01, 0.04)


PROFILES: dict[Condition, Profile] = {
    Condition.GENERAL_ADULT: Profile(
        spo2=(96.5, 98.5), pulse_rate=(60.0, 80.0), systolic_bp=(110.0, 130.0),
        diastolic_bp=(68.0, 80.0), respiratory_rate=(12.0, 16.0), blood_glucose=(4.8, 5.6),
        bmi=(20.0, 28.0), bp_dip_fraction=(0.10, 0.15), spo2_dip=(0.3, 1.0),
        meal_glucose_rise=(1.0, 2.0), weight_fluctuation_kg=(0.2, 0.4),
        low_perfusion_rate=(0.002, 0.01), irregular_pulse_rate=(0.0, 0.005),
    ),
    # GOLD/BTS: target saturation 88-92 % for those at risk of hypercapnic failure.
    Condition.COPD: Profile(
        spo2=(88.5, 92.0), pulse_rate=(75.0, 95.0), systolic_bp=(118.0, 138.0),
        diastolic_bp=(70.0, 84.0), respiratory_rate=(16.0, 21.0), blood_glucose=(4.8, 6.0),
        bmi=(19.0, 28.0), bp_dip_fraction=(0.08, 0.14), spo2_dip=(1.0, 2.5),
        meal_glucose_rise=(1.0, 2.0), weight_fluctuation_kg=(0.2, 0.5),
        low_perfusion_rate=(0.005, 0.02), irregular_pulse_rate=(0.0, 0.01),
    ),
    # Fluid retention makes weight swing more day to day; atrial fibrillation is common.
    Condition.HEART_FAILURE: Profile(
        spo2=(93.5, 96.5), pulse_rate=(65.0, 88.0), systolic_bp=(100.0, 128.0),
        diastolic_bp=(60.0, 76.0), respiratory_rate=(14.0, 19.0), blood_glucose=(4.8, 6.2),
        bmi=(24.0, 34.0), bp_dip_fraction=(0.05, 0.12), spo2_dip=(0.8, 2.0),
        meal_glucose_rise=(1.0, 2.2), weight_fluctuation_kg=(0.5, 0.9),
        low_perfusion_rate=(0.01, 0.04), irregular_pulse_rate=(0.02, 0.15),
    ),
    Condition.HYPERTENSION: Profile(
        spo2=(95.5, 98.0), pulse_rate=(64.0, 84.0), systolic_bp=(145.0, 165.0),
        diastolic_bp=(90.0, 102.0), respiratory_rate=(12.0, 17.0), blood_glucose=(4.8, 6.0),
        bmi=(24.0, 32.0), bp_dip_fraction=(0.0, 0.10), spo2_dip=(0.3, 1.0),
        meal_glucose_rise=(1.0, 2.0), weight_fluctuation_kg=(0.2, 0.5),
        low_perfusion_rate=(0.002, 0.01), irregular_pulse_rate=(0.0, 0.01),
    ),
    Condition.DIABETES: Profile(
        spo2=(95.5, 98.0), pulse_rate=(68.0, 88.0), systolic_bp=(124.0, 140.0),
        diastolic_bp=(74.0, 86.0), respiratory_rate=(12.0, 17.0), blood_glucose=(7.0, 10.0),
        bmi=(26.0, 36.0), bp_dip_fraction=(0.06, 0.12), spo2_dip=(0.3, 1.0),
        meal_glucose_rise=(3.0, 5.0), weight_fluctuation_kg=(0.3, 0.6),
        low_perfusion_rate=(0.005, 0.02), irregular_pulse_rate=(0.0, 0.01),
    ),
}


def _draw(seed: int, name: str, bounds: Range, decimals: int) -> float:
    low, high = bounds
    return round(low + uniform(stream_id(seed, f"baseline:{name}"), 0) * (high - low), decimals)


def draw_baselines(seed: int, condition: Condition) -> Baselines:
    profile = PROFILES[condition]
    height = _draw(seed, "height_m", profile.height_m, 2)
    bmi = _draw(seed, "bmi", profile.bmi, 1)
    systolic = _draw(seed, "systolic_bp", profile.systolic_bp, 0)
    diastolic = min(_draw(seed, "diastolic_bp", profile.diastolic_bp, 0), systolic - 25.0)
    return Baselines(
        spo2=_draw(seed, "spo2", profile.spo2, 1),
        pulse_rate=_draw(seed, "pulse_rate", profile.pulse_rate, 0),
        systolic_bp=systolic,
        diastolic_bp=diastolic,
        body_temperature=_draw(seed, "body_temperature", profile.body_temperature, 2),
        body_weight=round(bmi * height * height, 1),
        height_m=height,
        respiratory_rate=_draw(seed, "respiratory_rate", profile.respiratory_rate, 0),
        blood_glucose=_draw(seed, "blood_glucose", profile.blood_glucose, 1),
    )


def draw_traits(seed: int, condition: Condition) -> Traits:
    profile = PROFILES[condition]
    return Traits(
        sleep_onset_hour=_draw(seed, "sleep_onset_hour", (22.0, 24.5), 2),
        sleep_hours=_draw(seed, "sleep_hours", (6.5, 8.5), 2),
        bp_dip_fraction=_draw(seed, "bp_dip_fraction", profile.bp_dip_fraction, 3),
        pulse_dip=_draw(seed, "pulse_dip", profile.pulse_dip, 1),
        spo2_dip=_draw(seed, "spo2_dip", profile.spo2_dip, 2),
        meal_glucose_rise=_draw(seed, "meal_glucose_rise", profile.meal_glucose_rise, 2),
        weight_fluctuation_kg=_draw(
            seed, "weight_fluctuation_kg", profile.weight_fluctuation_kg, 2
        ),
        motion_rate=_draw(seed, "motion_rate", profile.motion_rate, 4),
        low_perfusion_rate=_draw(seed, "low_perfusion_rate", profile.low_perfusion_rate, 4),
        irregular_pulse_rate=_draw(
            seed, "irregular_pulse_rate", profile.irregular_pulse_rate, 4
        ),
    )
