"""Calibrating the simulator to a real price file (``calibrate-simulator``)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from arch import arch_model
from scipy.optimize import minimize
from scipy.special import expit, logit

from riskengine._typing import FloatArray
from riskengine.data.prices import read_price_file
from riskengine.errors import DataError, ModelError
from riskengine.output import check_json_file, dumps, write_json_file
from riskengine.scenarios.premia import PREMIA, daily_log_drift
from riskengine.scenarios.settings import (
    DAILY_ASSETS,
    EWMA_LAMBDA,
    FIT_END,
    FIT_START,
    PERIODS_PER_YEAR,
    RV_DAYS,
    SLEEVES,
    SPIKE_ASSETS,
    SPIKE_WINDOW,
    STRESS_QUANTILE,
    YEAR_DAYS,
)

SIGNIFICANT_DIGITS = 7


NOTES = {
    "returns": "percent daily log returns, each asset over its own trading days",
    "garch": "omega, alpha, beta, nu: GARCH(1,1)-t by arch's likelihood with "
    "variance targeting (mean, omega/(1-alpha-beta) = sample mean, variance); the "
    "unconstrained arch fit has alpha+beta = persistence_unconstrained",
    "drift": "mu, the mean percent daily log return, comes from premium_annual, not "
    "from the sample mean: premium_annual is the expected arithmetic excess return "
    "over cash a year (the simulated cash rate is 0), from premium_source; mu = "
    "100*premium_annual/steps - h/200 with h = omega/(1-alpha-beta) and steps = "
    "252 a year (365 if daily), as the engine annualises, so that E[exp(r/100)-1] "
    "= premium_annual/steps to second order; on a day of vol sigma the simulator "
    "adds (h - sigma^2)/200, so that this holds on every day, whatever the regime",
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
    """Fit a variance-targeted GARCH(1,1)-t; return variance parameters, residuals.

    The sample mean serves the fit only: the simulator's drift comes from `PREMIA`.
    """
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
    names = ["omega", "alpha", "beta", "nu"]
    fitted = dict(zip(names, params[1:], strict=True))
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

    Everything is estimated from ``prices`` except the drifts, which come from the
    documented long-run premia of `PREMIA` (see ``NOTES["drift"]``).

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
    if not isinstance(prices.index, pd.DatetimeIndex):
        raise DataError(f"{source}: prices must be indexed by date")
    missing = sorted(set(SLEEVES) - set(prices.columns))
    if missing:
        raise DataError(
            f"{source}: no column {', '.join(missing)}: the simulator's assets are "
            f"{', '.join(SLEEVES)}"
        )
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
        calendar = "daily" if a in DAILY_ASSETS else "exchange"
        long_run_var = fit["omega"] / (1.0 - fit["alpha"] - fit["beta"])
        premium = PREMIA[a]
        drift = daily_log_drift(
            premium.excess_return_annual, long_run_var, PERIODS_PER_YEAR[calendar]
        )
        assets[a] = {
            "sleeve": SLEEVES[a],
            "calendar": calendar,
            "fit_start": window[a].first_valid_index().date().isoformat(),
            "fit_end": window[a].last_valid_index().date().isoformat(),
            "n_obs": int(window[a].count()),
            "premium_annual": premium.excess_return_annual,
            "premium_source": premium.source,
            "mu": drift,
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


def is_calibration(payload: Any) -> bool:
    """Whether parsed JSON is a parameters file riskengine wrote (its description)."""
    return isinstance(payload, dict) and str(payload.get("description", "")).startswith(
        "parameters of riskengine's"
    )


def write_calibration(prices_path: str | Path, out_path: str | Path) -> dict[str, Any]:
    """Calibrate on a price file and write the parameters as JSON, atomically.

    Parameters
    ----------
    prices_path : str or Path
        Wide CSV or Parquet file of closes, read and checked as every price file
        (`riskengine.data.prices.read_price_file`).
    out_path : str or Path
        JSON file to write (strict JSON: a non-finite number is null), through a
        temporary file beside it; an existing file is replaced only if it is a
        parameters file riskengine wrote.

    Returns
    -------
    dict
        The parameters written.

    Raises
    ------
    DataError
        If the price file cannot be read or fails its checks, or lacks what
        `calibrate` needs.
    OutputError
        Before calibrating, if `out_path` is not riskengine's to replace; after, if
        it cannot be written (the previous file is then intact).
    """
    check_json_file(out_path, is_calibration, "simulator parameters")
    prices = read_price_file(prices_path)
    params = calibrate(prices, source=Path(prices_path).name)
    text = dumps(params)  # then one line per innermost list:
    text = re.sub(
        r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: f"[{' '.join(m[1].split())}]", text
    )
    write_json_file(out_path, text + "\n", is_calibration, "simulator parameters")
    return params
