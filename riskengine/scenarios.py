"""Seeded multi-asset market simulator calibrated to real prices: the embedded default.

Everything `simulate_market` returns is SIMULATED, not market data. Its parameters,
shipped in ``simulator_params.json``, are derived from a real price file by
`calibrate`; re-derive them with
``riskengine calibrate-simulator --prices CSV --out JSON``.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from arch import arch_model
from scipy.optimize import minimize
from scipy.special import expit, logit, ndtr, stdtrit

from riskengine._typing import BoolArray, FloatArray
from riskengine.errors import DataError, ModelError, SpecError

SLEEVES: dict[str, str] = {
    "GLD": "safe_haven",
    "SLV": "safe_haven",
    "SPY": "dm_equity",
    "EEM": "em_equity",
    "HYG": "credit",
    "TLT": "rates",
    "BTC_USD": "crypto",
}
DAILY_ASSETS = frozenset({"BTC_USD"})  # trade every calendar day, others on weekdays
SPIKE_ASSETS = ("GLD", "SLV")
FIT_START, FIT_END = "2008-01-01", "2025-12-31"
SPIKE_WINDOW = ("2026-01-01", "2026-02-28")
SPIKE_LEAD_MONTHS = 7  # the simulated spike starts this long before `end`
EWMA_LAMBDA, STRESS_QUANTILE = 0.94, 0.8
RV_DAYS, YEAR_DAYS = 21, 252  # realised-vol window; trading days a year
SIGNIFICANT_DIGITS = 7
PARAMS_PATH = Path(__file__).with_name("simulator_params.json")
NOTES = {
    "returns": "percent daily log returns, each asset over its own trading days",
    "garch": "mu, omega, alpha, beta, nu: GARCH(1,1)-t by arch's likelihood with "
    "variance targeting (mu, omega/(1-alpha-beta) = sample mean, variance); the "
    "unconstrained arch fit has alpha+beta = persistence_unconstrained",
    "ann_vol": "sqrt(omega/(1-alpha-beta)), annualised by 252 days (365 if daily)",
    "regime": "stress: exchange days whose SPY EWMA vol at the previous close is "
    "above its quantile; vol_scale_*: the stress/calm ratio of realised vol, scaled "
    "to keep the GARCH variance; transition probabilities per exchange day",
    "correlation": "pairwise, of GARCH standardised residuals on exchange days, by "
    "regime",
    "spike": "start, peak, trough of the GLD/SLV mean log price; ratios of 21-day "
    "realised vol over the run-up, the 21 days after the peak (vol_ratio) and the "
    "21 after those (post_vol_ratio) to its median over the year before the start",
}


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


def _rounded(obj: Any) -> Any:
    """Round every float in a JSON-like object to `SIGNIFICANT_DIGITS`."""
    if isinstance(obj, float):
        return float(f"{obj:.{SIGNIFICANT_DIGITS}g}")
    if isinstance(obj, dict):
        return {key: _rounded(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_rounded(value) for value in obj]
    return obj


def _fit_garch_t(returns: pd.Series) -> tuple[dict[str, float], pd.Series]:
    """Fit a variance-targeted GARCH(1,1)-t; return parameters and std. residuals."""
    model = arch_model(returns, vol="GARCH", p=1, q=1, dist="t", rescale=False)
    free = model.fit(disp="off").params
    mean, var = float(returns.mean()), float(returns.var())

    def unpack(x: FloatArray) -> list[float]:  # unconstrained -> mu, omega, a, b, nu
        persistence, alpha_share = float(expit(x[0])), float(expit(x[1]))
        alpha, beta = persistence * alpha_share, persistence * (1.0 - alpha_share)
        return [mean, var * (1.0 - persistence), alpha, beta, 2.0 + math.exp(x[2])]

    def neg_loglik(x: FloatArray) -> float:
        return -float(model.fix(unpack(x)).loglikelihood)

    persistence = min(free["alpha[1]"] + free["beta[1]"], 0.99)
    share = min(free["alpha[1]"] / persistence, 0.99)
    start = np.array([logit(persistence), logit(share), math.log(free["nu"] - 2.0)])
    options = {"xatol": 1e-9, "fatol": 1e-9, "maxiter": 5000}
    opt = minimize(neg_loglik, start, method="Nelder-Mead", options=options)
    if not opt.success:
        raise ModelError(f"GARCH-t fit of {returns.name}: {opt.message}")
    params = unpack(opt.x)
    fitted = dict(zip(["mu", "omega", "alpha", "beta", "nu"], params, strict=True))
    fitted["persistence_unconstrained"] = float(free["alpha[1]"] + free["beta[1]"])
    return fitted, model.fix(params).std_resid


def _correlation(residuals: pd.DataFrame) -> list[list[float]]:
    """Pairwise correlation, eigenvalues floored so the matrix is positive definite."""
    values, vectors = np.linalg.eigh(residuals.corr().to_numpy())
    matrix = (vectors * np.maximum(values, 1e-6)) @ vectors.T
    scale = np.sqrt(np.diag(matrix))
    matrix = matrix / np.outer(scale, scale)
    matrix = (matrix + matrix.T) / 2.0
    np.fill_diagonal(matrix, 1.0)
    return matrix.tolist()


def _spike(prices: pd.DataFrame) -> dict[str, Any]:
    """Shape of the safe-haven episode in `SPIKE_WINDOW` (see ``NOTES["spike"]``)."""
    logp = np.log(prices[list(SPIKE_ASSETS)].dropna())
    window = logp.mean(axis=1).loc[SPIKE_WINDOW[0] : SPIKE_WINDOW[1]]
    where = f"{'/'.join(SPIKE_ASSETS)}@{SPIKE_WINDOW[0]}..{SPIKE_WINDOW[1]}"
    if window.empty:
        raise DataError(f"{where}: no prices in the spike window")
    peak = window.idxmax()
    start, trough = window.loc[:peak].idxmin(), window.loc[peak:].idxmin()
    i0, ip, it = (int(i) for i in logp.index.get_indexer([start, peak, trough]))
    history = i0 >= YEAR_DAYS + RV_DAYS and ip + 2 * RV_DAYS < len(logp)
    if not (history and ip - i0 >= 2 and 1 <= it - ip < RV_DAYS):
        raise DataError(
            f"{where}: a spike needs a run-up of 2+ days, an unwind of "
            f"1-{RV_DAYS - 1} days, a year before it and {2 * RV_DAYS} trading "
            "days after its peak"
        )
    returns = logp.diff()
    vol = returns.rolling(RV_DAYS).std() * math.sqrt(YEAR_DAYS)
    figures = {}
    for asset in SPIKE_ASSETS:
        prior = float(vol[asset].iloc[i0 - YEAR_DAYS + 1 : i0 + 1].median())
        run_up_vol = returns[asset].iloc[i0 + 1 : ip + 1].std() * math.sqrt(YEAR_DAYS)
        figures[asset] = {
            "run_up_log_return": float(logp[asset].iloc[ip] - logp[asset].iloc[i0]),
            "unwind_log_return": float(logp[asset].iloc[it] - logp[asset].iloc[ip]),
            "prior_median_vol": prior,
            "run_up_vol_ratio": float(run_up_vol / prior),
            "vol_ratio": float(vol[asset].iloc[ip + RV_DAYS] / prior),
            "post_vol_ratio": float(vol[asset].iloc[ip + 2 * RV_DAYS] / prior),
        }
    dates = {"start": start, "peak": peak, "trough": trough}
    return {key: day.date().isoformat() for key, day in dates.items()} | {
        "run_up_days": ip - i0,
        "unwind_days": it - ip,
        "assets": figures,
    }


def calibrate(prices: pd.DataFrame, *, source: str = "price panel") -> dict[str, Any]:
    """Derive the simulator's parameters from a real wide price panel.

    Parameters
    ----------
    prices : pd.DataFrame
        Closes, shape (n_dates, n_assets), DatetimeIndex, NaN where an asset does
        not trade; needs the columns of `SLEEVES` and prices in `SPIKE_WINDOW`.
    source : str, optional
        Name of the data source, recorded in the provenance.

    Returns
    -------
    dict
        JSON-able parameters, floats rounded to 7 significant digits (see `NOTES`).

    Raises
    ------
    DataError
        If columns, the date index or the spike episode are missing.
    ModelError
        If a GARCH fit does not converge.
    """
    missing = sorted(set(SLEEVES) - set(prices.columns))
    if missing or not isinstance(prices.index, pd.DatetimeIndex):
        raise DataError(f"{source}: need a DatetimeIndex and the columns {missing}")
    returns = pd.DataFrame(
        {a: 100 * np.log(prices[a].dropna()).diff() for a in SLEEVES}
    )
    window = returns.loc[FIT_START:FIT_END]
    fits = {a: _fit_garch_t(window[a].dropna()) for a in SLEEVES}
    days = window[[a for a in SLEEVES if a not in DAILY_ASSETS]].dropna().index
    spy_var = returns["SPY"].dropna().pow(2).ewm(alpha=1 - EWMA_LAMBDA, adjust=False)
    state = np.sqrt(spy_var.mean()).shift(1).reindex(days)
    threshold = float(state.quantile(STRESS_QUANTILE))
    stress = (state > threshold).to_numpy()
    p_enter = float(np.mean(stress[1:][~stress[:-1]]))
    p_exit = float(np.mean(~stress[1:][stress[:-1]]))
    share = p_enter / (p_enter + p_exit)
    vol_ratio = window.loc[days[stress]].std() / window.loc[days[~stress]].std()
    residuals = pd.DataFrame({a: fit[1] for a, fit in fits.items()}).reindex(days)
    assets = {}
    for a, (fit, _) in fits.items():
        scale_calm = 1.0 / math.sqrt(1.0 - share + share * vol_ratio[a] ** 2)
        year = 365 if a in DAILY_ASSETS else YEAR_DAYS
        long_run_var = fit["omega"] / (1.0 - fit["alpha"] - fit["beta"])
        assets[a] = {
            "sleeve": SLEEVES[a],
            "calendar": "daily" if a in DAILY_ASSETS else "exchange",
            "fit_start": window[a].first_valid_index().date().isoformat(),
            "fit_end": window[a].last_valid_index().date().isoformat(),
            "n_obs": int(window[a].count()),
            **fit,
            "ann_vol": math.sqrt(year * long_run_var) / 100,
            "vol_scale_calm": scale_calm,
            "vol_scale_stress": scale_calm * float(vol_ratio[a]),
        }
    regime = {
        "state_variable": f"SPY EWMA vol, lambda {EWMA_LAMBDA}",
        "quantile": STRESS_QUANTILE,
        "threshold_vol": threshold * math.sqrt(YEAR_DAYS) / 100,
        "p_calm_to_stress": p_enter,
        "p_stress_to_calm": p_exit,
        "n_days": len(days),
    }
    first, last = (day.date().isoformat() for day in prices.index[[0, -1]])
    return _rounded(
        {
            "description": "parameters of riskengine's simulated default market",
            "source": {
                "file": source,
                "first_date": first,
                "last_date": last,
                "fit_window": [FIT_START, FIT_END],
                "spike_window": list(SPIKE_WINDOW),
            },
            "notes": NOTES,
            "assets": assets,
            "regime": regime,
            "correlation": {
                "assets": list(SLEEVES),
                "calm": _correlation(residuals[~stress]),
                "stress": _correlation(residuals[stress]),
            },
            "spike": _spike(prices),
        }
    )


def write_calibration(prices_path: str | Path, out_path: str | Path) -> dict[str, Any]:
    """Calibrate on a CSV price file and write the parameters as JSON, atomically.

    Parameters
    ----------
    prices_path : str or Path
        Wide CSV of closes with a ``date`` column.
    out_path : str or Path
        JSON file to write, through a temporary file in the same directory.

    Returns
    -------
    dict
        The parameters written.
    """
    prices = pd.read_csv(prices_path, index_col="date", parse_dates=True)
    params = calibrate(prices, source=Path(prices_path).name)
    text = json.dumps(params, indent=2)  # then one line per innermost list:
    text = re.sub(
        r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: f"[{' '.join(m[1].split())}]", text
    )
    out = Path(out_path)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return params


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
    sigma: FloatArray, z: FloatArray, mu: float, shape: dict[str, float], pos: list[int]
) -> FloatArray:
    """Percent returns of one metal with the calibrated spike laid over ``pos``.

    Run-up and the 21 days after the peak reproduce the calibrated log returns and
    vol ratios exactly (noise centred per phase, then scaled); afterwards the extra
    variance decays to match ``post_vol_ratio`` in the middle of the next 21 days.
    """
    i0, ip, it, ih = pos
    prior = (sigma * z)[i0 - YEAR_DAYS - RV_DAYS + 2 : i0 + 1]
    windows = np.lib.stride_tricks.sliding_window_view(prior, RV_DAYS)
    base = float(np.median(windows.std(axis=1, ddof=1)))  # as calibrated
    returns = mu + sigma * z
    run_up_var = (shape["run_up_vol_ratio"] * base) ** 2
    returns[i0 + 1 : ip + 1] = 100 * shape["run_up_log_return"] / (ip - i0)
    returns[i0 + 1 : ip + 1] += _phase_noise(z[i0 + 1 : ip + 1], [ip - i0], run_up_var)
    drift = np.full(RV_DAYS, mu)
    drift[: it - ip] = 100 * shape["unwind_log_return"] / (it - ip)
    high_var = max((shape["vol_ratio"] * base) ** 2 - drift.var(ddof=1), base**2)
    noise = _phase_noise(z[ip + 1 : ih + 1], [it - ip, RV_DAYS], high_var)
    returns[ip + 1 : ih + 1] = drift + noise
    excess = high_var / base**2 - 1.0
    left = min(max(shape["post_vol_ratio"] ** 2 - 1.0, 1e-9) / max(excess, 1e-9), 1.0)
    decay = left ** (np.arange(1, sigma.size - ih) / ((RV_DAYS + 1) / 2))
    ratio = np.sqrt(1.0 + excess * decay)
    returns[ih + 1 :] = mu + np.maximum(sigma[ih + 1 :], ratio * base) * z[ih + 1 :]
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
    Per asset, percent log returns are :math:`r_t = \mu + s_{k_t} \sqrt{h_t} z_t`
    with :math:`h_{t+1} = \omega + (\alpha z_t^2 + \beta) h_t`, a GARCH(1,1) driven
    by its own shocks, and :math:`s_k` the vol scale of regime :math:`k_t`, a
    calm/stress Markov chain on weekdays. The :math:`z_t` are unit-variance
    Student-t, joined by a Gaussian copula with the regime's correlations.
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
    calm, hot = (np.linalg.cholesky(np.array(corr[k])) for k in ("calm", "stress"))
    normals = rng.standard_normal((days.size, assets.size))
    z = _student_t(
        np.where(stress[:, None], normals @ hot.T, normals @ calm.T), spec["nu"]
    )

    daily = np.array([params["assets"][a]["calendar"] == "daily" for a in assets])
    log_prices = np.full(z.shape, np.nan)
    z_day, spec_day = z[:, daily], {k: v[daily] for k, v in spec.items()}
    sigma = _sigma(z_day, stress, spec_day)
    log_prices[:, daily] = _log_prices(spec_day["mu"] + sigma * z_day)
    z_ex, spec_ex = z[weekday][:, ~daily], {k: v[~daily] for k, v in spec.items()}
    sigma = _sigma(z_ex, stress[weekday], spec_ex)
    returns = spec_ex["mu"] + sigma * z_ex
    for j, asset in enumerate(assets[~daily]):
        if asset in spike["assets"]:
            args = (sigma[:, j], z_ex[:, j], spec_ex["mu"][j], spike["assets"][asset])
            returns[:, j] = _spike_returns(*args, pos)
    log_prices[np.ix_(weekday, ~daily)] = _log_prices(returns)
    source = params["source"]
    description = (
        f"SIMULATED prices, not market data: riskengine simulator, seed {seed}, "
        f"GARCH(1,1)-t with calm/stress regimes calibrated to {source['file']} "
        f"({source['fit_window'][0]}..{source['fit_window'][1]}), safe-haven spike "
        f"shaped on {spike['start']}..{spike['trough']}"
    )
    return SimulatedMarket(
        prices=pd.DataFrame(100.0 * np.exp(log_prices), index=days, columns=assets),
        sleeves={str(a): params["assets"][a]["sleeve"] for a in assets},
        seed=seed,
        description=description,
        stress=pd.Series(stress, index=days, name="stress"),
        spike=SpikeEpisode(*days[weekday][pos]),
    )
