"""The metric catalogue: every physiological quantity Vigil carries.

Each metric has a UCUM unit (the one unit it is stored in), a LOINC code (FHIR vital signs),
an IEEE 11073-10101 MDC code (what the device profiles speak), and a plausible range: values
outside it are physically implausible for a living patient and are dead-lettered by ingest,
never stored as if real.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Metric(StrEnum):
    SPO2 = "spo2"
    PULSE_RATE = "pulse_rate"
    SYSTOLIC_BP = "systolic_bp"
    DIASTOLIC_BP = "diastolic_bp"
    MEAN_ARTERIAL_PRESSURE = "mean_arterial_pressure"
    BODY_TEMPERATURE = "body_temperature"
    BODY_WEIGHT = "body_weight"
    BMI = "bmi"
    HEART_RATE = "heart_rate"
    RESPIRATORY_RATE = "respiratory_rate"
    BLOOD_GLUCOSE = "blood_glucose"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    metric: Metric
    # Small stable integer for narrow database keys; never reuse a retired number.
    number: int
    display: str
    ucum: str
    loinc: str
    loinc_display: str
    mdc_code: int
    mdc_reference: str
    plausible_min: float
    plausible_max: float
    # Chart resolution: values are shown and scored at this many decimals.
    decimals: int

    def is_plausible(self, value: float) -> bool:
        return self.plausible_min <= value <= self.plausible_max


# MDC codes are partition 2 (SCADA) codes expressed as 32-bit (partition << 16 | term code).
CATALOGUE: dict[Metric, MetricSpec] = {
    spec.metric: spec
    for spec in (
        MetricSpec(Metric.SPO2, 1, "SpO2", "%", "59408-5",
                   "Oxygen saturation in Arterial blood by Pulse oximetry",
                   150456, "MDC_PULS_OXIM_SAT_O2", 0.0, 100.0, 0),
        MetricSpec(Metric.PULSE_RATE, 2, "Pulse rate", "/min", "8889-8",
                   "Heart rate by Pulse oximetry",
                   149530, "MDC_PULS_OXIM_PULS_RATE", 15.0, 300.0, 0),
        MetricSpec(Metric.SYSTOLIC_BP, 3, "Systolic BP", "mm[Hg]", "8480-6",
                   "Systolic blood pressure",
                   150021, "MDC_PRESS_BLD_NONINV_SYS", 40.0, 300.0, 0),
        MetricSpec(Metric.DIASTOLIC_BP, 4, "Diastolic BP", "mm[Hg]", "8462-4",
                   "Diastolic blood pressure",
                   150022, "MDC_PRESS_BLD_NONINV_DIA", 15.0, 220.0, 0),
        MetricSpec(Metric.MEAN_ARTERIAL_PRESSURE, 5, "Mean arterial pressure", "mm[Hg]",
                   "8478-0", "Mean blood pressure",
                   150023, "MDC_PRESS_BLD_NONINV_MEAN", 20.0, 260.0, 0),
        MetricSpec(Metric.BODY_TEMPERATURE, 6, "Body temperature", "Cel", "8310-5",
                   "Body temperature",
                   150364, "MDC_TEMP_BODY", 25.0, 45.0, 1),
        MetricSpec(Metric.BODY_WEIGHT, 7, "Body weight", "kg", "29463-7",
                   "Body weight",
                   188736, "MDC_MASS_BODY_ACTUAL", 0.5, 500.0, 1),
        MetricSpec(Metric.BMI, 8, "BMI", "kg/m2", "39156-5",
                   "Body mass index (BMI) [Ratio]",
                   188752, "MDC_RATIO_MASS_BODY_LEN_SQ", 5.0, 150.0, 1),
        MetricSpec(Metric.HEART_RATE, 9, "Heart rate", "/min", "8867-4",
                   "Heart rate",
                   147842, "MDC_ECG_HEART_RATE", 15.0, 300.0, 0),
        MetricSpec(Metric.RESPIRATORY_RATE, 10, "Respiratory rate", "/min", "9279-1",
                   "Respiratory rate",
                   151562, "MDC_RESP_RATE", 1.0, 80.0, 0),
        MetricSpec(Metric.BLOOD_GLUCOSE, 11, "Blood glucose", "mmol/L", "15074-8",
                   "Glucose [Moles/volume] in Blood",
                   160184, "MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD", 0.5, 50.0, 1),
    )
}

BY_NUMBER: dict[int, MetricSpec] = {spec.number: spec for spec in CATALOGUE.values()}


def spec(metric: Metric | str) -> MetricSpec:
    """The catalogue entry for a metric; raises KeyError for an unknown code."""
    return CATALOGUE[Metric(metric)]
