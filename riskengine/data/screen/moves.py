"""Findings in one asset's log price moves: ticks, outliers, flat runs, no moves.

Every finding here is a function of the prices up to its date: a move is measured
against the robust sigma of the moves before it, a bad tick is dated at the close
of the price that takes it back, a stale feed at the price that makes its run too
long, a near-constant series at the first price whose history is too calm.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from riskengine._typing import FloatArray, IndexArray
from riskengine.calendar import annual_vol_factor
from riskengine.data.screen.findings import Finding
from riskengine.specs import ScreenSpec

MIN_MOVES_FOR_SIGMA = 20
"""Fewest earlier moves of an asset for a robust sigma, or a volatility to judge."""
RECENT_MOVES = 21
"""Moves (a month of trading days) of the recent median in a robust sigma."""
MAD_TO_SIGMA = 1.4826
"""Median absolute deviation to standard deviation, under normality."""


def move_findings(
    column: str, moves: FloatArray, dates: pd.DatetimeIndex, spec: ScreenSpec
) -> list[Finding]:
    """Bad ticks, absurd moves and outliers among one asset's log moves.

    Parameters
    ----------
    column : str
        The asset.
    moves : ndarray, shape (n_moves,)
        Log price changes; ``moves[i]`` is the move onto the price of ``dates[i]``.
    dates : pd.DatetimeIndex
        Date of each move's second price.
    spec : ScreenSpec
        Thresholds and actions.
    """
    findings: list[Finding] = []
    sigmas = _robust_sigmas(moves, spec.robust_window_days)
    beyond_ratio = np.abs(moves) > math.log(spec.max_price_ratio)
    beyond_sigmas = (np.abs(np.nan_to_num(sigmas)) > spec.absurd_sigmas) & (
        np.abs(moves) >= math.log(spec.bad_tick_min_ratio)
    )
    absurd = beyond_ratio | beyond_sigmas
    for i in np.flatnonzero(absurd):
        if beyond_ratio[i]:
            finite = abs(moves[i]) < math.log(np.finfo(float).max)
            why = f"beyond screen.max_price_ratio = {spec.max_price_ratio:g}" + (
                "" if finite else " (too large for a return to be a number)"
            )
        else:
            why = (
                f"{sigmas[i]:+.1f} robust sigmas, beyond screen.absurd_sigmas = "
                f"{spec.absurd_sigmas:g} (a bad print, an unadjusted split, "
                "another series?)"
            )
        findings.append(
            Finding(
                "absurd_move",
                column,
                dates[i],
                f"absurd move: price {_ratio(moves[i])} the previous one, {why}",
                spec.action("absurd_move"),
                {"log_move": float(moves[i])},
            )
        )
    ticks = _bad_ticks(moves, sigmas, spec)
    for i in ticks:
        findings.append(
            Finding(
                "bad_tick",
                column,
                dates[i + 1],
                f"bad tick on {dates[i].date()}: price {_ratio(moves[i])} "
                f"({sigmas[i]:+.1f} robust sigmas) then {_ratio(moves[i + 1])} "
                f"({sigmas[i + 1]:+.1f}), back near where it was, both beyond "
                f"screen.bad_tick_sigmas = {spec.bad_tick_sigmas:g} and "
                f"screen.bad_tick_min_ratio = {spec.bad_tick_min_ratio:g}: almost "
                "surely a bad print",
                spec.action("bad_tick"),
                {
                    "tick_date": str(dates[i].date()),
                    "sigmas": float(sigmas[i]),
                    "next_sigmas": float(sigmas[i + 1]),
                    "log_move": float(moves[i]),
                    "next_log_move": float(moves[i + 1]),
                },
            )
        )
    # a move is known for an outlier at its close; the move taking back a bad tick
    # is said as the tick, found at the same close
    explained = absurd.copy()
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
    """Each move over its robust sigma, from the moves before it only.

    The sigma is 1.4826 x the larger of two medians of |move|: over the `window`
    moves before (all of them while fewer) and over the `RECENT_MOVES` before. A
    calm year then does not make every move of a new storm an outlier, and a
    quiet month does not shrink the scale. A move with fewer than
    `MIN_MOVES_FOR_SIGMA` moves before it, or a zero scale (a mostly flat
    series), gives NaN, no sigma.
    """
    size = pd.Series(np.abs(moves))
    medians = [
        size.rolling(n, min_periods=MIN_MOVES_FOR_SIGMA).median().shift(1).to_numpy()
        for n in (window, RECENT_MOVES)
    ]
    scale = np.fmax(*medians) * MAD_TO_SIGMA
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
    """Runs of prices equal to the one before, found at the one that makes too many.

    A run is found at its ``max_unchanged_prices + 1``-th unchanged price, once.
    """
    flat = np.concatenate([[False], moves == 0.0, [False]])
    starts = np.flatnonzero(flat[1:] & ~flat[:-1])
    stops = np.flatnonzero(~flat[1:] & flat[:-1])
    too_many = spec.max_unchanged_prices + 1
    return [
        Finding(
            "flat_run",
            column,
            dates[a + too_many - 1],
            f"price unchanged on {too_many} consecutive prices from "
            f"{dates[a].date()}, beyond screen.max_unchanged_prices = "
            f"{spec.max_unchanged_prices} (a stale feed?)",
            spec.action("flat_run"),
            {"prices": too_many, "from": str(dates[a].date())},
        )
        for a, b in zip(starts, stops, strict=True)
        if b - a >= too_many
    ]


def constant_findings(
    column: str,
    moves: FloatArray,
    dates: pd.DatetimeIndex,
    spec: ScreenSpec,
    periods_per_year: float,
) -> list[Finding]:
    """A finding at the first price where the asset's volatility so far is too low.

    The volatility runs over every move up to the price (log moves, annualised by
    the engine's calendar), once there are `MIN_MOVES_FOR_SIGMA` of them.
    """
    std = pd.Series(moves).expanding(min_periods=MIN_MOVES_FOR_SIGMA).std(ddof=1)
    vols = std.to_numpy() * annual_vol_factor(periods_per_year)
    low = np.flatnonzero(vols < spec.min_vol_annual)
    if not low.size:
        return []
    i = int(low[0])
    return [
        Finding(
            "near_constant",
            column,
            dates[i],
            f"near-constant: annual volatility {vols[i]:.3%} over its first {i + 2} "
            f"prices, below screen.min_vol_annual = {spec.min_vol_annual:g} (a vol "
            "target would lever it to the cap)",
            spec.action("near_constant"),
            {"vol_annual": float(vols[i]), "prices": i + 2},
        )
    ]


def _ratio(log_move: float) -> str:
    """A price ratio in words, even one too large for a float: ``x50``, ``x1e+600``."""
    if abs(log_move) < 700:
        return f"x{math.exp(log_move):.3g}"
    return f"x1e{log_move / math.log(10):+.0f}"
