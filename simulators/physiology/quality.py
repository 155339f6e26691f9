"""Measurement quality episodes: motion artefact, low perfusion, irregular pulse.

Real home measurements go wrong in bursts -- the patient moves, has cold hands, or is in
atrial fibrillation. Each kind of episode comes and goes deterministically by seed (see
``noise.episode_active``); while one is active the device reads a distorted value and the
emulator sets the matching status bits (``SUGGESTED_FLAGS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from simulators.physiology.baselines import Traits
from simulators.physiology.noise import bounded_normal, episode_active, stream_id
from vigil.metrics import Metric
from vigil.quality import QualityFlag


class QualityHint(StrEnum):
    MOTION_ARTEFACT = "motion_artefact"
    LOW_PERFUSION = "low_perfusion"
    IRREGULAR_PULSE = "irregular_pulse"


@dataclass(frozen=True, slots=True)
class EpisodeKind:
    hint: QualityHint
    bucket_seconds: float
    min_seconds: float
    max_seconds: float
    metrics: frozenset[Metric]
    # Per-metric distortion SD while active (units of the metric).
    distortion: tuple[tuple[Metric, float], ...]
    # Motion spoils a whole reading at once; a new artefact value every few seconds.
    distortion_period: float = 5.0


_OXIMETRY = frozenset({Metric.SPO2, Metric.PULSE_RATE, Metric.HEART_RATE})
_BP = frozenset({Metric.SYSTOLIC_BP, Metric.DIASTOLIC_BP, Metric.MEAN_ARTERIAL_PRESSURE})

EPISODES: tuple[EpisodeKind, ...] = (
    EpisodeKind(
        QualityHint.MOTION_ARTEFACT, 600.0, 20.0, 120.0, _OXIMETRY | _BP,
        ((Metric.SPO2, 3.0), (Metric.PULSE_RATE, 12.0), (Metric.HEART_RATE, 12.0),
         (Metric.SYSTOLIC_BP, 10.0), (Metric.DIASTOLIC_BP, 7.0),
         (Metric.MEAN_ARTERIAL_PRESSURE, 8.0)),
    ),
    EpisodeKind(
        QualityHint.LOW_PERFUSION, 1800.0, 120.0, 600.0,
        frozenset({Metric.SPO2, Metric.PULSE_RATE}),
        ((Metric.SPO2, 1.5), (Metric.PULSE_RATE, 3.0)),
        distortion_period=15.0,
    ),
    EpisodeKind(
        QualityHint.IRREGULAR_PULSE, 600.0, 60.0, 600.0, _OXIMETRY | _BP,
        ((Metric.PULSE_RATE, 8.0), (Metric.HEART_RATE, 8.0), (Metric.SYSTOLIC_BP, 6.0),
         (Metric.DIASTOLIC_BP, 4.0), (Metric.MEAN_ARTERIAL_PRESSURE, 4.0)),
        distortion_period=2.0,
    ),
)

# What a device would most likely report for each hint (emulators may map differently).
SUGGESTED_FLAGS: dict[QualityHint, dict[Metric, frozenset[QualityFlag]]] = {
    QualityHint.MOTION_ARTEFACT: {
        **{m: frozenset({QualityFlag.ERRATIC_SIGNAL, QualityFlag.QUESTIONABLE})
           for m in _OXIMETRY},
        **{m: frozenset({QualityFlag.BODY_MOVEMENT}) for m in _BP},
    },
    QualityHint.LOW_PERFUSION: {
        m: frozenset({QualityFlag.LOW_PERFUSION}) for m in (Metric.SPO2, Metric.PULSE_RATE)
    },
    QualityHint.IRREGULAR_PULSE: {
        **{m: frozenset({QualityFlag.QUESTIONABLE_PULSE}) for m in _OXIMETRY},
        **{m: frozenset({QualityFlag.IRREGULAR_PULSE}) for m in _BP},
    },
}


def _rate(traits: Traits, hint: QualityHint) -> float:
    if hint is QualityHint.MOTION_ARTEFACT:
        return traits.motion_rate
    if hint is QualityHint.LOW_PERFUSION:
        return traits.low_perfusion_rate
    return traits.irregular_pulse_rate


def active_hints(
    seed: int, traits: Traits, metric: Metric, seconds: float
) -> frozenset[QualityHint]:
    """The episodes affecting a metric at an instant; shared by all metrics of one episode."""
    active: set[QualityHint] = set()
    for kind in EPISODES:
        if metric not in kind.metrics:
            continue
        stream = stream_id(seed, f"episode:{kind.hint.value}")
        if episode_active(
            stream, seconds, kind.bucket_seconds, _rate(traits, kind.hint),
            kind.min_seconds, kind.max_seconds,
        ):
            active.add(kind.hint)
    return frozenset(active)


def distortion(seed: int, metric: Metric, hints: frozenset[QualityHint], seconds: float) -> float:
    """How far the device's reading strays from the truth while episodes are active."""
    total = 0.0
    for kind in EPISODES:
        if kind.hint not in hints:
            continue
        sd = dict(kind.distortion).get(metric, 0.0)
        if sd == 0.0:
            continue
        stream = stream_id(seed, f"artefact:{kind.hint.value}:{metric.value}")
        draw = bounded_normal(stream, int(seconds // kind.distortion_period))
        if kind.hint is QualityHint.MOTION_ARTEFACT and metric is Metric.SPO2:
            # Motion makes oximeters under-read (venous pulsation), rarely over-read.
            draw = -abs(draw)
        total += sd * draw
    return total


def suggested_flags(metric: Metric, hints: frozenset[QualityHint]) -> frozenset[QualityFlag]:
    flags: set[QualityFlag] = set()
    for hint in hints:
        flags |= SUGGESTED_FLAGS[hint].get(metric, frozenset())
    return frozenset(flags)
