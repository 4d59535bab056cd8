"""Simulating a seeded multi-asset market from the calibrated parameters."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, stdtrit

from riskengine._typing import BoolArray, FloatArray
from riskengine.errors import DataError, SpecError
from riskengine.scenarios.settings import (
    PARAMS_PATH,
    RV_DAYS,
    YEAR_DAYS,
)

SPIKE_LEAD_MONTHS = 7  # the simulated spike starts this long before `end`


@dataclass(frozen=True, slots=True)
class SpikeEpisode:
    """Weekdays of the simulated spike: run-up, unwind, end of the high-vol phase."""

    start: pd.Timestamp
    peak: pd.Timestamp
    trough: pd.Timestamp
    end: pd.Timestamp


@dataclass(frozen=True, slots=True, eq=False)
class SimulatedMarket:
    """A simulated price panel and what produced it.

    Attributes
    ----------
    prices : pd.DataFrame
        Closes, shape (n_calendar_days, n_assets), DatetimeIndex named ``date``;
        exchange assets are NaN on Saturdays and Sundays, daily assets never.
    sleeves : dict[str, str]
        Sleeve of each asset.
    seed : int
        Seed of ``np.random.default_rng`` that generated the panel.
    description : str
        One line saying the data are simulated and naming the calibration source.
    stress : pd.Series
        True on stress-regime days (weekends keep Friday's), by date.
    spike : SpikeEpisode
        Dates of the safe-haven spike.
    """

    prices: pd.DataFrame
    sleeves: dict[str, str]
    seed: int
    description: str
    stress: pd.Series
    spike: SpikeEpisode


def default_params() -> dict[str, Any]:
    """Load the shipped calibration.

    Returns
    -------
    dict
        The parameters in ``simulator_params.json`` beside this module.
    """
    params: dict[str, Any] = json.loads(PARAMS_PATH.read_text(encoding="utf-8"))
    return params


def _markov_stress(
    u: FloatArray, p_enter: float, p_exit: float, forced: BoolArray
) -> BoolArray:
    """Two-state chain from uniforms: stationary start, stress where ``forced``."""
    stress = np.empty(u.size, dtype=bool)
    state = bool(u[0] < p_enter / (p_enter + p_exit))
    for t, (draw, force) in enumerate(zip(u.tolist(), forced.tolist(), strict=True)):
        if t:
            state = draw >= p_exit if state else draw < p_enter
        stress[t] = state = state or force
    return stress


def _student_t(normals: FloatArray, nu: FloatArray) -> FloatArray:
    """Map standard normals to unit-variance Student-t draws (Gaussian copula)."""
    tails = stdtrit(nu, ndtr(-np.abs(normals)))
    draws: FloatArray = -np.sign(normals) * tails * np.sqrt((nu - 2.0) / nu)
    return draws


def _sigma(z: FloatArray, stress: BoolArray, spec: dict[str, FloatArray]) -> FloatArray:
    """Daily vol (percent): regime scale times a GARCH(1,1) driven by ``z``."""
    omega, alpha, beta = spec["omega"], spec["alpha"], spec["beta"]
    var = np.empty_like(z)
    var[0] = omega / (1.0 - alpha - beta)
    for t in range(1, len(z)):
        var[t] = omega + (alpha * z[t - 1] ** 2 + beta) * var[t - 1]
    scale = np.where(stress[:, None], spec["vol_scale_stress"], spec["vol_scale_calm"])
    sigma: FloatArray = scale * np.sqrt(var)
    return sigma


def _drift(
    mu: FloatArray | float, variance: FloatArray | float, sigma: FloatArray
) -> FloatArray:
    """Daily log drift (percent) on days of vol ``sigma``: ``mu + (h - sigma**2)/200``.

    ``mu`` is the mean log drift at the unconditional variance ``h``; adding the
    variance gap keeps every day's expected simple return,
    ``E[exp(r / 100) - 1]``, at the premium a step (to second order), whatever the
    regime or the GARCH state: timing volatility neither earns nor loses a premium.
    """
    drift: FloatArray = mu + (variance - sigma**2) / 200.0
    return drift


def _phase_noise(z: FloatArray, ends: list[int], variance: float) -> FloatArray:
    """Noise from ``z`` summing to zero within each phase, of sample variance given."""
    noise = z.copy()
    for lo, hi in zip([0, *ends[:-1]], ends, strict=True):
        noise[lo:hi] -= noise[lo:hi].mean()
    scaled: FloatArray = noise * math.sqrt(
        variance * (noise.size - 1) / (noise @ noise)
    )
    return scaled


def _spike_returns(
    sigma: FloatArray,
    z: FloatArray,
    drift: tuple[float, float],
    shape: dict[str, float],
    pos: list[int],
) -> FloatArray:
    """Percent returns of one metal with the calibrated spike laid over ``pos``.

    Run-up and the 21 days after the peak reproduce the calibrated log returns and
    vol ratios exactly (noise centred per phase, then scaled, drift ``mu`` constant
    after the trough); afterwards the extra variance decays to match
    ``post_vol_ratio`` in the middle of the next 21 days. ``drift`` is the metal's
    ``mu`` and unconditional variance, as `_drift` takes them.
    """
    i0, ip, it, ih = pos
    mu, variance = drift
    returns = _drift(mu, variance, sigma) + sigma * z
    prior = returns[i0 - YEAR_DAYS - RV_DAYS + 2 : i0 + 1]
    windows = np.lib.stride_tricks.sliding_window_view(prior, RV_DAYS)
    base = float(np.median(windows.std(axis=1, ddof=1)))  # as calibrated
    run_up_var = (shape["run_up_vol_ratio"] * base) ** 2
    returns[i0 + 1 : ip + 1] = 100 * shape["run_up_log_return"] / (ip - i0)
    returns[i0 + 1 : ip + 1] += _phase_noise(z[i0 + 1 : ip + 1], [ip - i0], run_up_var)
    phases = np.full(RV_DAYS, mu)
    phases[: it - ip] = 100 * shape["unwind_log_return"] / (it - ip)
    high_var = max((shape["vol_ratio"] * base) ** 2 - phases.var(ddof=1), base**2)
    noise = _phase_noise(z[ip + 1 : ih + 1], [it - ip, RV_DAYS], high_var)
    returns[ip + 1 : ih + 1] = phases + noise
    excess = high_var / base**2 - 1.0
    left = min(max(shape["post_vol_ratio"] ** 2 - 1.0, 1e-9) / max(excess, 1e-9), 1.0)
    decay = left ** (np.arange(1, sigma.size - ih) / ((RV_DAYS + 1) / 2))
    ratio = np.sqrt(1.0 + excess * decay)
    post = np.maximum(sigma[ih + 1 :], ratio * base)
    returns[ih + 1 :] = _drift(mu, variance, post) + post * z[ih + 1 :]
    return returns


def _log_prices(returns: FloatArray) -> FloatArray:
    """Log prices relative to the first row from percent log returns (row 0 unused)."""
    log_prices = np.zeros_like(returns)
    log_prices[1:] = np.cumsum(returns[1:] / 100.0, axis=0)
    return log_prices


def _spike_positions(weekdays: pd.DatetimeIndex, spike: dict[str, Any]) -> list[int]:
    """Weekday positions of the spike's start, peak, trough and high-vol end."""
    lead = weekdays[-1] - pd.DateOffset(months=SPIKE_LEAD_MONTHS)
    i0 = int(weekdays.searchsorted(lead))
    ip = i0 + spike["run_up_days"]
    pos = [i0, ip, ip + spike["unwind_days"], ip + RV_DAYS]
    if i0 < YEAR_DAYS + RV_DAYS or pos[-1] >= weekdays.size:
        raise DataError(
            f"simulate_market: {weekdays[0].date()}..{weekdays[-1].date()} is too "
            f"short: the spike starting {lead.date()} needs {YEAR_DAYS + RV_DAYS} "
            "weekdays before it; choose an earlier start"
        )
    return pos


def simulate_market(
    seed: int = 20260130,
    *,
    start: str = "2012-01-03",
    end: str = "2026-08-21",
    params: dict[str, Any] | None = None,
) -> SimulatedMarket:
    r"""Simulate a multi-asset price panel with regimes and a safe-haven spike.

    Parameters
    ----------
    seed : int, optional
        Seed of ``np.random.default_rng``; the same seed gives the same panel.
    start, end : str, optional
        First and last calendar day (ISO dates).
    params : dict, optional
        Output of `calibrate`; defaults to the shipped ``simulator_params.json``.

    Returns
    -------
    SimulatedMarket
        Prices starting at 100: exchange assets on weekdays, daily ones every day.

    Raises
    ------
    SpecError
        If ``params`` lacks a section.
    DataError
        If ``start..end`` is too short for a year of history before the spike.

    Notes
    -----
    Per asset, percent log returns are
    :math:`r_t = \mu + (\bar h - \sigma_t^2) / 200 + \sigma_t z_t` with
    :math:`\sigma_t = s_{k_t} \sqrt{h_t}`, :math:`h_{t+1} = \omega + (\alpha
    z_t^2 + \beta) h_t` a GARCH(1,1) driven by its own shocks, :math:`\bar h =
    \omega / (1 - \alpha - \beta)` and :math:`s_k` the vol scale of regime
    :math:`k_t`, a calm/stress Markov chain on weekdays. The drift :math:`\mu`
    (from a documented premium, see `PREMIA`) plus the variance gap gives every
    day the same expected simple return, the premium a step. The :math:`z_t` are
    unit-variance Student-t, joined by a Gaussian copula with the regime's
    correlations.
    Exchange assets step on weekdays only, daily assets every day. The spike starts
    `SPIKE_LEAD_MONTHS` before ``end``: the metals replay the calibrated run-up,
    unwind and vol ratios (to their median 21-day vol over the year before), then
    their extra vol decays; the regime is stress from its start to the high-vol end.
    """
    params = default_params() if params is None else params
    missing = {"source", "assets", "regime", "correlation", "spike"} - set(params)
    if missing:
        raise SpecError(f"simulator params: missing section(s) {sorted(missing)}")
    days = pd.date_range(start, end, freq="D", name="date")
    weekday = np.asarray(days.day_of_week < 5)
    spike, regime, corr = params["spike"], params["regime"], params["correlation"]
    pos = _spike_positions(days[weekday], spike)
    forced = np.zeros(weekday.sum(), dtype=bool)
    forced[pos[0] + 1 : pos[-1] + 1] = True
    rng = np.random.default_rng(seed)
    stress = _markov_stress(
        rng.random(forced.size),
        regime["p_calm_to_stress"],
        regime["p_stress_to_calm"],
        forced,
    )[np.maximum(np.cumsum(weekday) - 1, 0)]  # weekends keep Friday's regime
    assets = np.array(corr["assets"])
    keys = ("mu", "omega", "alpha", "beta", "nu", "vol_scale_calm", "vol_scale_stress")
    spec = {k: np.array([params["assets"][a][k] for a in assets]) for k in keys}
    spec["variance"] = spec["omega"] / (1.0 - spec["alpha"] - spec["beta"])
    calm, hot = (np.linalg.cholesky(np.array(corr[k])) for k in ("calm", "stress"))
    normals = rng.standard_normal((days.size, assets.size))
    z = _student_t(
        np.where(stress[:, None], normals @ hot.T, normals @ calm.T), spec["nu"]
    )

    daily = np.array([params["assets"][a]["calendar"] == "daily" for a in assets])
    log_prices = np.full(z.shape, np.nan)
    z_day, spec_day = z[:, daily], {k: v[daily] for k, v in spec.items()}
    sigma = _sigma(z_day, stress, spec_day)
    drift = _drift(spec_day["mu"], spec_day["variance"], sigma)
    log_prices[:, daily] = _log_prices(drift + sigma * z_day)
    z_ex, spec_ex = z[weekday][:, ~daily], {k: v[~daily] for k, v in spec.items()}
    sigma = _sigma(z_ex, stress[weekday], spec_ex)
    returns = _drift(spec_ex["mu"], spec_ex["variance"], sigma) + sigma * z_ex
    for j, asset in enumerate(assets[~daily]):
        if asset in spike["assets"]:
            drift_j = (float(spec_ex["mu"][j]), float(spec_ex["variance"][j]))
            args = (sigma[:, j], z_ex[:, j], drift_j, spike["assets"][asset])
            returns[:, j] = _spike_returns(*args, pos)
    log_prices[np.ix_(weekday, ~daily)] = _log_prices(returns)
    source = params["source"]
    description = (
        f"SIMULATED prices, not market data: riskengine simulator, seed {seed}, "
        f"GARCH(1,1)-t with calm/stress regimes calibrated to {source['file']} "
        f"({source['fit_window'][0]}..{source['fit_window'][1]}), drifts from "
        "documented long-run premia, safe-haven spike shaped on "
        f"{spike['start']}..{spike['trough']}"
    )
    return SimulatedMarket(
        prices=pd.DataFrame(100.0 * np.exp(log_prices), index=days, columns=assets),
        sleeves={str(a): params["assets"][a]["sleeve"] for a in assets},
        seed=seed,
        description=description,
        stress=pd.Series(stress, index=days, name="stress"),
        spike=SpikeEpisode(*days[weekday][pos]),
    )
