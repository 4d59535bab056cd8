"""Findings in one asset's log price moves: ticks, outliers, flat runs, no moves."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from riskengine._typing import FloatArray, IndexArray
from riskengine.calendar import annual_vol_factor
from riskengine.screen.findings import Finding
from riskengine.specs import ScreenSpec

MIN_MOVES_FOR_SIGMA = 20
"""Fewest moves of an asset for a robust sigma (moves in sigmas, near-constant)."""
MAD_TO_SIGMA = 1.4826
"""Median absolute deviation to standard deviation, under normality."""


def move_findings(
    column: str, moves: FloatArray, dates: pd.DatetimeIndex, spec: ScreenSpec
) -> list[Finding]:
    """Bad ticks, absurd moves and outliers among one asset's log moves."""
    findings: list[Finding] = []
    absurd = np.abs(moves) > math.log(spec.max_price_ratio)
    for i in np.flatnonzero(absurd):
        finite = abs(moves[i]) < math.log(np.finfo(float).max)
        findings.append(
            Finding(
                "absurd_move",
                column,
                dates[i],
                f"absurd move: price {_ratio(moves[i])} the previous one, beyond "
                f"screen.max_price_ratio = {spec.max_price_ratio:g}"
                + ("" if finite else " (too large for a return to be a number)"),
                spec.action("absurd_move"),
                {"log_move": float(moves[i])},
            )
        )
    sigmas = _robust_sigmas(moves, spec.robust_window_days)
    ticks = _bad_ticks(moves, sigmas, spec)
    for i in ticks:
        findings.append(
            Finding(
                "bad_tick",
                column,
                dates[i],
                f"bad tick: price {_ratio(moves[i])} ({sigmas[i]:+.1f} robust sigmas) "
                f"then {_ratio(moves[i + 1])} on {dates[i + 1].date()} "
                f"({sigmas[i + 1]:+.1f}), back near where it was, both beyond "
                f"screen.bad_tick_sigmas = {spec.bad_tick_sigmas:g} and "
                f"screen.bad_tick_min_ratio = {spec.bad_tick_min_ratio:g}: almost "
                "surely a bad print",
                spec.action("bad_tick"),
                {
                    "sigmas": float(sigmas[i]),
                    "next_sigmas": float(sigmas[i + 1]),
                    "log_move": float(moves[i]),
                    "next_log_move": float(moves[i + 1]),
                },
            )
        )
    explained = absurd.copy()
    explained[ticks] = True
    explained[ticks + 1] = True
    outliers = np.abs(np.nan_to_num(sigmas)) > spec.outlier_sigmas
    for i in np.flatnonzero(outliers & ~explained):
        findings.append(
            Finding(
                "outlier",
                column,
                dates[i],
                f"move of {sigmas[i]:+.1f} robust sigmas (price {_ratio(moves[i])}), "
                f"beyond screen.outlier_sigmas = {spec.outlier_sigmas:g}",
                spec.action("outlier"),
                {"sigmas": float(sigmas[i]), "log_move": float(moves[i])},
            )
        )
    return findings


def _robust_sigmas(moves: FloatArray, window: int) -> FloatArray:
    """Each move over its robust sigma: median |move| in a centred window, x 1.4826.

    Windows with fewer than a quarter of `window` moves use the whole history's
    median; a zero scale (a mostly flat series) gives NaN, no sigma.
    """
    if len(moves) < MIN_MOVES_FOR_SIGMA:
        return np.full(len(moves), np.nan)
    size = pd.Series(np.abs(moves))
    local = size.rolling(window, center=True, min_periods=max(window // 4, 1))
    scale = local.median().fillna(size.median()).to_numpy() * MAD_TO_SIGMA
    with np.errstate(divide="ignore", invalid="ignore"):
        sigmas: FloatArray = np.where(scale > 0, moves / scale, np.nan)
    return sigmas


def _bad_ticks(moves: FloatArray, sigmas: FloatArray, spec: ScreenSpec) -> IndexArray:
    """Moves beyond both thresholds that the next move, also beyond, takes back."""
    if len(moves) < 2:
        return np.array([], dtype=np.intp)
    big = (np.abs(np.nan_to_num(sigmas)) > spec.bad_tick_sigmas) & (
        np.abs(moves) >= math.log(spec.bad_tick_min_ratio)
    )
    now, after = moves[:-1], moves[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        reversal = -after / now
    back = (reversal >= spec.bad_tick_min_reversal) & (
        reversal <= 1.0 / spec.bad_tick_min_reversal
    )
    return np.flatnonzero(big[:-1] & big[1:] & back)


def flat_findings(
    column: str, moves: FloatArray, dates: pd.DatetimeIndex, spec: ScreenSpec
) -> list[Finding]:
    """Runs of more than `max_unchanged_prices` prices equal to the one before."""
    flat = np.concatenate([[False], moves == 0.0, [False]])
    starts = np.flatnonzero(flat[1:] & ~flat[:-1])
    stops = np.flatnonzero(~flat[1:] & flat[:-1])
    return [
        Finding(
            "flat_run",
            column,
            dates[a],
            f"price unchanged on {b - a} consecutive prices to {dates[b - 1].date()}, "
            f"beyond screen.max_unchanged_prices = {spec.max_unchanged_prices} "
            "(a stale feed?)",
            spec.action("flat_run"),
            {"prices": int(b - a), "to": str(dates[b - 1].date())},
        )
        for a, b in zip(starts, stops, strict=True)
        if b - a > spec.max_unchanged_prices
    ]


def constant_findings(
    column: str,
    moves: FloatArray,
    first: pd.Timestamp,
    spec: ScreenSpec,
    periods_per_year: float,
) -> list[Finding]:
    """A finding when an asset's annualised volatility is below the spec's floor."""
    if len(moves) < MIN_MOVES_FOR_SIGMA:
        return []
    vol = float(np.std(moves, ddof=1)) * annual_vol_factor(periods_per_year)
    if vol >= spec.min_vol_annual:
        return []
    return [
        Finding(
            "near_constant",
            column,
            first,
            f"near-constant: annual volatility {vol:.3%} over {len(moves) + 1} "
            f"prices, below screen.min_vol_annual = {spec.min_vol_annual:g} (a vol "
            "target would lever it to the cap)",
            spec.action("near_constant"),
            {"vol_annual": vol},
        )
    ]


def _ratio(log_move: float) -> str:
    """A price ratio in words, even one too large for a float: ``x50``, ``x1e+600``."""
    if abs(log_move) < 700:
        return f"x{math.exp(log_move):.3g}"
    return f"x1e{log_move / math.log(10):+.0f}"
