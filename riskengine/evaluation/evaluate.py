"""Walk-forward evaluation of variance models: losses, VaR backtests, a model set.

Every model's forecasts are the engine's own point-in-time panels
(`riskengine.volatility.forecast_variance`, one run per horizon, as a policy of
that horizon would get them): row t is known at the close of t from the asset's
returns up to t, GARCH refits walking forward. Each asset is scored on its own
observations, on the same rows for every model and horizon:

- from its `burn_in_days`-th observation (the longest first window of the models
  compared, at least `BURN_IN_DAYS`), and from `start`, to the last observation
  whose longest horizon is complete (no data after `end` is read at all);
- losses (`riskengine.evaluation.losses`): mean QLIKE and squared error of the
  H-day variance forecast against the sum of the next H squared returns;
- the model confidence set of Hansen, Lunde and Nason (arch's
  `arch.bootstrap.MCS`, range statistic, stationary bootstrap with blocks of the
  larger of sqrt(T) and H rows, seeded) on the QLIKE losses, per asset and horizon;
- one-day VaR at each level (`riskengine.evaluation.value_at_risk`), its
  exceedances and the Kupiec and Christoffersen tests
  (`riskengine.evaluation.coverage`);
- how often each GARCH model's refits fell back or ended on a bound, and the
  share of scored days forecast by the fallback (from the one-day run); and over
  all assets, why its refits fell back (`riskengine.evaluation.refits`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from arch.bootstrap import MCS

from riskengine._typing import FloatArray
from riskengine.data.prices import Market, load_market, make_market
from riskengine.data.sleeves import did_you_mean
from riskengine.errors import DataError, SpecError
from riskengine.evaluation.coverage import coverage_tests
from riskengine.evaluation.losses import qlike, realised_variance, squared_error
from riskengine.evaluation.refits import refit_outcomes
from riskengine.evaluation.value_at_risk import in_force
from riskengine.specs import ModelSpec, load_model
from riskengine.specs.files import builtin_names
from riskengine.volatility import MODELS, VolForecast, forecast_variance

HORIZONS = (1, 5, 21)
"""Forecast horizons scored, in the asset's own observations."""
VAR_LEVELS = (0.99, 0.975)
"""One-day VaR confidence levels backtested."""
BURN_IN_DAYS = 250
"""Fewest observations of an asset before its first scored forecast."""
MCS_SIZE = 0.10
"""Size of the model confidence set test: a model with p-value above it is kept."""
MCS_REPS = 1000
"""Bootstrap replications of the model confidence set."""


@dataclass(frozen=True)
class Evaluation:
    """The evaluation of variance models on the assets of a price panel.

    Attributes
    ----------
    table : pd.DataFrame
        One row per asset and model: asset, model, first_date, last_date and
        forecasts (the period and the forecasts scored); per horizon H,
        ``qlike_Hd``, ``mse_Hd``, ``mcs_pvalue_Hd`` and ``in_mcs_Hd``; per VaR
        level (tag ``var99``, ``var97_5``), ``_exceedances``, ``_expected``,
        ``_rate`` and the ``_kupiec``, ``_independence`` and ``_conditional``
        statistics with their ``_p`` values; ``refits``, ``fallback_rate``,
        ``boundary_rate`` (shares of refits) and ``fallback_days`` (share of
        scored days).
    models : tuple of ModelSpec
        The models, in the order given.
    horizons : tuple of int
        Horizons scored.
    levels : tuple of float
        VaR levels backtested.
    burn_in_days : int
        Observations of each asset before its first scored forecast.
    skipped : dict
        Assets left out (none was named) with why: too little history.
    source, fingerprint : str
        Where the prices came from and their SHA-256.
    simulated : bool
        Whether the prices are the simulator's.
    seconds : dict
        Wall time of each model's forecasts, all horizons.
    mcs_size : float
        Size of the model confidence set.
    mcs_reps : int
        Its bootstrap replications.
    seed : int
        Its bootstrap seed.
    refit_outcomes : pd.DataFrame
        Each GARCH model's refits over all assets, to each asset's last scored
        date: counts and shares that fell back or ended on a bound, and the
        fallbacks by kind (`riskengine.evaluation.refits.refit_outcomes`); no
        row for a model without refits.
    """

    table: pd.DataFrame
    models: tuple[ModelSpec, ...]
    horizons: tuple[int, ...]
    levels: tuple[float, ...]
    burn_in_days: int
    skipped: dict[str, str]
    source: str
    fingerprint: str
    simulated: bool
    seconds: dict[str, float]
    mcs_size: float
    mcs_reps: int
    seed: int
    refit_outcomes: pd.DataFrame


def level_tag(level: float) -> str:
    """Column prefix of a VaR level: 0.99 -> ``var99``, 0.975 -> ``var97_5``."""
    return "var" + f"{level * 100:g}".replace(".", "_")


def evaluate_models(
    prices: str | Path | pd.DataFrame | Market,
    models: Sequence[str | Path | ModelSpec] | None = None,
    *,
    assets: Sequence[str] | None = None,
    start: str | None = None,
    end: str | None = None,
    horizons: Sequence[int] = HORIZONS,
    levels: Sequence[float] = VAR_LEVELS,
    mcs_size: float = MCS_SIZE,
    mcs_reps: int = MCS_REPS,
    seed: int = 0,
) -> Evaluation:
    """Score variance models out of sample on every asset of a price panel.

    Parameters
    ----------
    prices : str, Path, DataFrame or Market
        A CSV/Parquet price file, a wide price frame, or a `Market`.
    models : sequence, optional
        Built-in model names, TOML paths or specs (default: every built-in model).
    assets : sequence of str, optional
        Assets to score (default: every column with enough history).
    start, end : str, optional
        First forecast date scored; last date of data read (ISO dates).
    horizons : sequence of int
        Forecast horizons H, in observations.
    levels : sequence of float
        One-day VaR confidence levels, each in (0.5, 1).
    mcs_size, mcs_reps, seed : float, int, int
        The model confidence set's size, bootstrap replications and seed.

    Returns
    -------
    Evaluation
        The table and how it was made.

    Raises
    ------
    DataError
        An asset that is not a column, or a named asset with too little history.
    SpecError
        A model that cannot be loaded, or two models with one name.
    ValueError
        A horizon below 1, a level outside (0.5, 1), `mcs_size` outside (0, 1).
    """
    horizons, levels = tuple(sorted(set(horizons))), tuple(levels)
    if not horizons or min(horizons) < 1:
        raise ValueError(f"horizons: expected integers of at least 1, got {horizons}")
    if not all(0.5 < level < 1.0 for level in levels):
        raise ValueError(f"levels: expected confidence levels in (0.5, 1): {levels}")
    if not 0.0 < mcs_size < 1.0:
        raise ValueError(f"mcs_size: must be in (0, 1), got {mcs_size}")
    market = _market(prices)
    specs = _specs(models)
    returns = market.returns.loc[:end] if end else market.returns
    burn_in = max(BURN_IN_DAYS, *(_first_window(spec) for spec in specs))
    first = pd.Timestamp(start) if start else None
    chosen, skipped = _assets(returns, assets, burn_in, max(horizons), first, market)
    panel = returns[chosen]
    forecasts: dict[str, dict[int, VolForecast]] = {}
    seconds: dict[str, float] = {}
    for spec in specs:
        began = time.perf_counter()
        forecasts[spec.name] = {
            h: forecast_variance(panel, spec, horizon_days=h, start=first)
            for h in sorted({1, *horizons})
        }
        seconds[spec.name] = time.perf_counter() - began
    rows = []
    for asset in chosen:
        rows += _asset_rows(
            panel[asset],
            specs,
            forecasts,
            horizons,
            levels,
            burn_in,
            first,
            (mcs_size, mcs_reps, seed),
        )
    table = pd.DataFrame(rows)
    last_dates = table.groupby("asset")["last_date"].first().to_dict()
    garch_fits = {
        spec.name: forecasts[spec.name][1].fits
        for spec in specs
        if MODELS[spec.family].fallback
    }
    return Evaluation(
        table=table,
        models=tuple(specs),
        horizons=horizons,
        levels=levels,
        burn_in_days=burn_in,
        skipped=skipped,
        source=market.source,
        fingerprint=market.fingerprint,
        simulated=market.simulated,
        seconds=seconds,
        mcs_size=mcs_size,
        mcs_reps=mcs_reps,
        seed=seed,
        refit_outcomes=refit_outcomes(garch_fits, last_dates),
    )


def _market(prices: str | Path | pd.DataFrame | Market) -> Market:
    """A `Market` from a file, a frame or a market."""
    if isinstance(prices, Market):
        return prices
    if isinstance(prices, pd.DataFrame):
        return make_market(prices, source="DataFrame")
    return load_market(prices)


def _specs(models: Sequence[str | Path | ModelSpec] | None) -> list[ModelSpec]:
    """The model specs, loaded; two with one name are a `SpecError`."""
    given = builtin_names("models") if models is None else list(models)
    specs = [m if isinstance(m, ModelSpec) else load_model(m) for m in given]
    names = [spec.name for spec in specs]
    if not specs or len(set(names)) != len(names):
        raise SpecError(f"models: expected distinct model names, got {names}")
    return specs


def _first_window(spec: ModelSpec) -> int:
    """Observations a model needs before its own first forecast."""
    if MODELS[spec.family].fallback:  # a GARCH family: its first fit
        return spec.min_window_days
    return spec.window_days if spec.family == "realised" else 0


def _assets(
    returns: pd.DataFrame,
    assets: Sequence[str] | None,
    burn_in: int,
    horizon: int,
    start: pd.Timestamp | None,
    market: Market,
) -> tuple[list[str], dict[str, str]]:
    """The assets to score and, when none was named, those left out with why."""
    for asset in assets or ():
        if asset not in returns.columns:
            raise DataError(
                f"{market.source}: no asset {asset!r} "
                f"({did_you_mean(asset, map(str, returns.columns))})"
            )
    chosen, skipped = [], {}
    for asset in assets or list(returns.columns):
        series = returns[asset].dropna()
        scored = series.index[burn_in:-horizon] if len(series) > horizon else []
        if start is not None:
            scored = [date for date in scored if date >= start]
        if len(scored) >= 2:
            chosen.append(str(asset))
            continue
        since = (
            "" if start is None else f" ({len(scored)} scorable from {start.date()})"
        )
        problem = (
            f"{market.source}: {asset}: {len(series)} returns{since}, too few to "
            f"score after a {burn_in}-observation burn-in and a {horizon}-day horizon"
        )
        if assets:
            raise DataError(problem)
        skipped[str(asset)] = problem
    if not chosen:
        raise DataError(f"{market.source}: no asset has enough history to score")
    return chosen, skipped


def _asset_rows(
    returns: pd.Series,
    specs: list[ModelSpec],
    forecasts: dict[str, dict[int, VolForecast]],
    horizons: tuple[int, ...],
    levels: tuple[float, ...],
    burn_in: int,
    start: pd.Timestamp | None,
    mcs: tuple[float, int, int],
) -> list[dict[str, object]]:
    """One table row per model for one asset."""
    asset, observed = str(returns.name), returns.notna().to_numpy()
    values, dates = returns.to_numpy(float)[observed], returns.index[observed]
    scored = np.zeros(values.size, bool)
    scored[burn_in : values.size - max(horizons)] = True
    if start is not None:
        scored &= dates >= start
    rows: list[dict[str, object]] = [
        {
            "asset": asset,
            "model": spec.name,
            "first_date": dates[scored][0],
            "last_date": dates[scored][-1],
            "forecasts": int(scored.sum()),
        }
        for spec in specs
    ]
    for h in horizons:
        realised = realised_variance(values, h)[scored]
        predicted = np.column_stack(
            [
                forecasts[spec.name][h]
                .horizon_variance[asset]
                .to_numpy(float)[observed][scored]
                for spec in specs
            ]
        )
        losses = qlike(realised[:, None], predicted)
        errors = squared_error(realised[:, None], predicted)
        pvalues = _mcs_pvalues(losses, h, *mcs)
        for k, row in enumerate(rows):
            row[f"qlike_{h}d"] = float(losses[:, k].mean())
            row[f"mse_{h}d"] = float(errors[:, k].mean())
            row[f"mcs_pvalue_{h}d"] = pvalues[k]
            row[f"in_mcs_{h}d"] = bool(pvalues[k] > mcs[0])
    following = np.append(values[1:], np.nan)[scored]
    for spec, row in zip(specs, rows, strict=True):
        one_day = forecasts[spec.name][1]
        variance = one_day.variance[asset].to_numpy(float)[observed]
        used = in_force(one_day, asset, dates, levels)
        for level in levels:
            threshold = used.value_at_risk(variance, level)[scored]
            tests = coverage_tests(following < threshold, 1.0 - level)
            tag = level_tag(level)
            row[f"{tag}_exceedances"] = tests.exceedances
            row[f"{tag}_expected"] = tests.observations * tests.expected_rate
            row[f"{tag}_rate"] = tests.exceedances / tests.observations
            row[f"{tag}_kupiec"] = tests.lr_pof
            row[f"{tag}_kupiec_p"] = tests.pvalue_pof
            row[f"{tag}_independence"] = tests.lr_ind
            row[f"{tag}_independence_p"] = tests.pvalue_ind
            row[f"{tag}_conditional"] = tests.lr_cc
            row[f"{tag}_conditional_p"] = tests.pvalue_cc
        fits = one_day.fits
        fits = fits[(fits["asset"] == asset) & (fits["date"] <= dates[scored][-1])]
        status = fits["status"].to_numpy(str)
        row["refits"] = status.size
        for name in ("fallback", "boundary"):
            share = float(np.mean(status == name)) if status.size else math.nan
            row[f"{name}_rate"] = share
        row["fallback_days"] = float(used.fallback[scored].mean())
    return rows


def _mcs_pvalues(
    losses: FloatArray, horizon: int, size: float, reps: int, seed: int
) -> list[float]:
    """Each model's MCS p-value on its losses (columns); NaN with one model."""
    if losses.shape[1] < 2:
        return [math.nan]
    block = max(int(math.sqrt(losses.shape[0])), horizon)
    mcs = MCS(losses, size, reps=reps, block_size=block, method="R", seed=seed)
    mcs.compute()
    return [float(mcs.pvalues.loc[k, "Pvalue"]) for k in range(losses.shape[1])]
