"""Classroom challenges: goals checked against a configuration's metrics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._checks import check_choice
from ..schemes import SCHEMES

if TYPE_CHECKING:
    import pandas as pd

@dataclass(frozen=True)
class Challenge:
    """A classroom goal: reach ``min_sqnr_db`` with codes of ``code_bits`` (None: any) and at
    most ``max_bits_per_element`` stored bits (None: no budget), with one of ``schemes``
    (None: any). ``beat`` names a reference (scheme, settings) whose SQNR on the same tensor
    must be exceeded instead of a fixed number."""

    key: str
    title: str
    goal: str
    hint: str
    min_sqnr_db: float | None = None
    code_bits: int | None = None
    max_bits_per_element: float | None = None
    schemes: tuple[str, ...] | None = None
    beat: tuple[str, tuple[tuple[str, Any], ...]] | None = None


CHALLENGES: dict[str, Challenge] = {c.key: c for c in (
    Challenge("int8_40db", "Eight bits, 40 dB",
              "Reach SQNR >= 40 dB with an 8-bit integer scheme (symmetric or asymmetric).",
              "Min-max spends codes on the rare largest values; a calibrator that clips a few of them "
              "(percentile, mse) shrinks the step for everyone else.",
              min_sqnr_db=40.0, code_bits=8, schemes=("symmetric", "asymmetric")),
    Challenge("four_bit_30db", "Four-bit codes, 30 dB",
              "Reach SQNR >= 30 dB at 4 bits on this tensor.",
              "One scale for the whole tensor cannot do it on a bell curve. Smaller groups can — then look at "
              "the bits per element: the scales cost more than the codes.",
              min_sqnr_db=30.0, code_bits=4),
    Challenge("budget_20db", "20 dB in 4.1 bits",
              "Reach SQNR >= 20 dB storing at most 4.1 bits per element, scales and codebooks included.",
              "Uniform grids top out near 19 dB at 4 bits on a normal tensor; non-uniform levels put more of them "
              "where the values are.",
              min_sqnr_db=20.0, max_bits_per_element=4.1),
    Challenge("beat_fp8", "Beat FP8 with 6.6 bits",
              "Beat FP8 E4M3 (scaled per tensor) on this tensor's SQNR, storing at most 6.6 bits per element.",
              "FP8 keeps its relative precision at every magnitude; one uniform 6-bit grid for the whole tensor falls "
              "short. Give groups of values their own scale — and count what the scales cost — or put 64 levels "
              "where the values are.",
              max_bits_per_element=6.6, beat=("fp8_e4m3fn", (("scaling", "per_tensor"),))),
)}


@dataclass(frozen=True)
class ChallengeCheck:
    passed: bool
    rows: pd.DataFrame  # condition, yours, goal, met


def code_bits(scheme: str, settings: Mapping[str, Any]) -> int | None:
    """Bits of one stored code for ``scheme`` with ``settings`` (validated), scales not counted:
    the scheme's own ``code_bits`` hook."""
    spec = SCHEMES[check_choice(scheme, "scheme", SCHEMES)]
    return spec.code_bits(spec.validate(settings))


def check_challenge(challenge: Challenge, scheme: str, settings: Mapping[str, Any], metrics: Mapping[str, float],
                    reference: Mapping[str, float] | None = None) -> ChallengeCheck:
    """Check a configuration's ``metrics`` (a :class:`Metrics` dict) against ``challenge``;
    ``reference`` is the metrics of ``challenge.beat`` on the same tensor when it has one."""
    import pandas as pd

    rows = []
    if challenge.schemes is not None:
        rows.append(("scheme", scheme, " or ".join(challenge.schemes), scheme in challenge.schemes))
    if challenge.code_bits is not None:
        cb = code_bits(scheme, settings)
        rows.append(("bits per code", "—" if cb is None else str(cb), f"= {challenge.code_bits}", cb == challenge.code_bits))
    if challenge.max_bits_per_element is not None:
        b = float(metrics["bits_per_element"])
        rows.append(("bits per element (scales included)", f"{b:.3f}", f"<= {challenge.max_bits_per_element:g}",
                     bool(b <= challenge.max_bits_per_element)))
    sq = float(metrics["sqnr_db"])
    if challenge.min_sqnr_db is not None:
        rows.append(("SQNR", f"{sq:.2f} dB", f">= {challenge.min_sqnr_db:g} dB", bool(sq >= challenge.min_sqnr_db)))
    if challenge.beat is not None:
        if reference is None:
            raise ValueError(f"challenge {challenge.key!r} needs the metrics of {challenge.beat[0]} as reference")
        ref = float(reference["sqnr_db"])
        rows.append((f"SQNR vs {challenge.beat[0]}", f"{sq:.2f} dB", f"> {ref:.2f} dB", bool(sq > ref)))
    df = pd.DataFrame(rows, columns=["condition", "yours", "goal", "met"])
    return ChallengeCheck(bool(df["met"].all()), df)
