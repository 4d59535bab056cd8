"""Trigger signals: how the watched sleeves' series become one number per close.

A trigger watches some sleeves (e.g. ``safe_haven``, or ``volatility`` for the VIX
index): their vol forecasts, returns or closes, held or not, signal-only series
included. Each asset's series become a signal on its own observations (one `Signal`
object in `SIGNALS`, keyed by `TriggerSpec.signal`), and the watched assets' values
combine by `TriggerSpec.aggregate`. Some signals read what only a fitted GARCH model
gives (the term structure of its forecasts, its persistence); `forecast_horizon`
refuses them on other models. Everything is a function of the panels up to each
date (`riskengine.policy.triggers` turns the signal into states and multipliers).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskengine.errors import SpecError
from riskengine.registry import Registry
from riskengine.specs import PolicySpec, TriggerSpec
from riskengine.volatility import VolForecast
from riskengine.volatility.forecast import MODELS, GarchModel

SHORT_WINDOW_DAYS = 21
"""Window of the realised-vol and vol-of-vol signals."""

TERM_DAYS = 21
"""Horizon of the term-structure signal: the model's forecast over the next month."""


@dataclass(frozen=True)
class AssetSeries:
    """One watched asset's series on the backtest calendar, known at each close.

    Attributes
    ----------
    vol : pd.Series
        One-day forecast vol.
    returns, level : pd.Series
        Returns and closes, NaN where the asset has no price that day.
    term : pd.Series
        Average daily forecast vol over the next `TERM_DAYS` days (see
        `term_volatility`); NaN unless the signal `needs_term`.
    persistence : pd.Series
        Persistence of the GARCH fit in force (`VolForecast.persistence`); NaN
        unless the signal `needs_fits`.
    """

    vol: pd.Series
    returns: pd.Series
    level: pd.Series
    term: pd.Series
    persistence: pd.Series


class Signal(ABC):
    """How one asset's series become a trigger signal, named by `TriggerSpec.signal`.

    Attributes
    ----------
    name : str
        The `TriggerSpec.signal` value.
    fallback : str
        Empty: a signal without enough history is NaN, which never changes the
        trigger's state.
    needs_term : bool
        Whether it reads the model's `TERM_DAYS`-day forecasts.
    needs_fits : bool
        Whether it reads the GARCH fits' parameters (`VolForecast.persistence`).
    """

    name: str
    fallback: str = ""
    needs_term: bool = False
    needs_fits: bool = False

    @property
    def needs_garch(self) -> bool:
        """Whether only a GARCH-family model gives the signal a meaning."""
        return self.needs_term or self.needs_fits

    @abstractmethod
    def of_asset(self, series: AssetSeries, window: int) -> pd.Series:
        """The signal on the dates the asset has an observation.

        Parameters
        ----------
        series : AssetSeries
            The asset's series on the backtest calendar.
        window : int
            `TriggerSpec.lookback_days`.

        Returns
        -------
        pd.Series
            Indexed by the asset's own observation dates (the caller carries each
            value over the days without one).
        """


@dataclass(frozen=True)
class VolZscore(Signal):
    """(vol - trailing mean) / trailing std of the forecast vol, today included."""

    name: str = "vol_zscore"

    def of_asset(self, series: AssetSeries, window: int) -> pd.Series:
        """The z-score of the forecast vol over `window` observations."""
        own = series.vol[series.returns.notna()]
        rolling = own.rolling(window, min_periods=window)
        return (own - rolling.mean()) / rolling.std()


@dataclass(frozen=True)
class VolRatio(Signal):
    """Forecast vol over its trailing median."""

    name: str = "vol_ratio"

    def of_asset(self, series: AssetSeries, window: int) -> pd.Series:
        """Forecast vol over its median of `window` observations."""
        own = series.vol[series.returns.notna()]
        return own / own.rolling(window, min_periods=window).median()


@dataclass(frozen=True)
class VolOfVol(Signal):
    """Z-score of the 21-day std of daily log changes in forecast vol."""

    name: str = "vol_of_vol"

    def of_asset(self, series: AssetSeries, window: int) -> pd.Series:
        """The z-score over `window` observations of the vol of log vol changes."""
        own = series.vol[series.returns.notna()]
        dispersion = np.log(own).diff().rolling(SHORT_WINDOW_DAYS).std()
        rolling = dispersion.rolling(window, min_periods=window)
        return (dispersion - rolling.mean()) / rolling.std()


@dataclass(frozen=True)
class RealisedVsForecast(Signal):
    """21-day realised vol over the forecast made 21 observations before."""

    name: str = "realised_vs_forecast"

    def of_asset(self, series: AssetSeries, window: int) -> pd.Series:
        """Realised over forecast vol; `window` is unused."""
        observed = series.returns.notna()
        realised = series.returns[observed].rolling(SHORT_WINDOW_DAYS).std()
        return realised / series.vol[observed].shift(SHORT_WINDOW_DAYS)


@dataclass(frozen=True)
class Level(Signal):
    """The close itself (e.g. the VIX index in points)."""

    name: str = "level"

    def of_asset(self, series: AssetSeries, window: int) -> pd.Series:
        """The closes; `window` is unused."""
        return series.level.dropna()


@dataclass(frozen=True)
class LevelZscore(Signal):
    """(close - trailing mean) / trailing std of the closes, today included."""

    name: str = "level_zscore"

    def of_asset(self, series: AssetSeries, window: int) -> pd.Series:
        """The z-score of the close over `window` closes."""
        closes = series.level.dropna()
        rolling = closes.rolling(window, min_periods=window)
        return (closes - rolling.mean()) / rolling.std()


@dataclass(frozen=True)
class ResidualShock(Signal):
    """Size of the day's standardised residual: |r_t| / sigma_t.

    sigma_t is the model's forecast of the return of t made at the close of the
    asset's previous observation, so the signal is known at the close of t. A
    GARCH policy reads its GARCH sigma: a 4-sigma day under a model whose vol has
    already risen is a smaller shock than under one that lags. The first `window`
    returns of an asset give no signal (its forecast is still warming up, e.g. a
    GARCH fallback). The trigger holds its state at least `min_days_in_state`
    days, which sets how long one shock cuts for.
    """

    name: str = "residual_shock"

    def of_asset(self, series: AssetSeries, window: int) -> pd.Series:
        """|return| over the previous observation's forecast vol, after `window`."""
        observed = series.returns.notna()
        prior = series.vol[observed].shift(1)
        shock = (series.returns[observed].abs() / prior).where(prior > 0)
        return shock.where(np.arange(len(shock)) >= window)


@dataclass(frozen=True)
class VolTermStructure(Signal):
    """One-day forecast vol over the model's average daily vol for the next month.

    A GARCH forecast reverts towards the long-run vol of its fitted parameters, so
    the ratio is above 1 when today's vol stands above where the model expects it
    to settle (an inverted term structure: a shock the model has not absorbed) and
    below 1 in calm. Flat models (EWMA, realised variance) give exactly 1.
    """

    name: str = "vol_term_structure"
    needs_term: bool = True

    def of_asset(self, series: AssetSeries, window: int) -> pd.Series:
        """Vol over the `TERM_DAYS`-day average vol; `window` is unused."""
        observed = series.returns.notna()
        average = series.term[observed]
        return (series.vol[observed] / average).where(average > 0)


@dataclass(frozen=True)
class Persistence(Signal):
    """Persistence of the GARCH fit in force: how slowly today's shocks will decay.

    ``alpha + gamma / 2 + beta`` (GARCH, GJR) or ``beta`` (EGARCH) of the
    asset's latest refit (`VolForecast.persistence`): near 1 the model expects a
    vol shock to last (half-life ``log 0.5 / log p`` days: 0.99 is 69 days,
    0.995 is 138), a regime reading EWMA cannot give, its decay being fixed. It
    moves only at refits; a refit replaced by the fallback gives no value, so the
    trigger holds its state until the next fit.
    """

    name: str = "persistence"
    needs_fits: bool = True

    def of_asset(self, series: AssetSeries, window: int) -> pd.Series:
        """The fit's persistence on the asset's observations; `window` is unused."""
        observed = series.returns.notna()
        return series.persistence[observed].dropna()


SIGNALS: Registry[Signal] = Registry(
    "trigger signal",
    "signal",
    [
        VolZscore(),
        VolRatio(),
        VolOfVol(),
        RealisedVsForecast(),
        Level(),
        LevelZscore(),
        ResidualShock(),
        VolTermStructure(),
        Persistence(),
    ],
)
"""Every trigger signal by `TriggerSpec.signal` name."""


def trigger_signal(
    spec: TriggerSpec,
    volatility: pd.DataFrame,
    returns: pd.DataFrame,
    levels: pd.DataFrame,
    sleeves: Mapping[str, str],
    term_volatility: pd.DataFrame | None = None,
    persistence: pd.DataFrame | None = None,
) -> pd.Series:
    """The trigger's signal at each close, from the watched sleeves' assets.

    Per asset (on its own observations), by `spec.signal` (see `SIGNALS`):
    ``vol_zscore``: (vol - trailing mean) / trailing std of the forecast vol over
    `lookback_days` (including today); ``vol_ratio``: vol / trailing median;
    ``vol_of_vol``: z-score of the 21-day std of daily log changes in forecast vol;
    ``realised_vs_forecast``: 21-day realised vol / the forecast made 21 days before;
    ``level``: the close itself (e.g. the VIX index in points);
    ``level_zscore``: (close - trailing mean) / trailing std over `lookback_days`;
    ``residual_shock``: |r_t| / the vol forecast for t made at the previous close,
    from the asset's `lookback_days` + 1st return on; ``vol_term_structure``: the
    one-day forecast vol over the average daily vol forecast for the next
    `TERM_DAYS` days; ``persistence``: the persistence of the GARCH fit in force.
    The assets' values are combined by `spec.aggregate` (max or mean); on a day an
    asset has no new observation its last value stands.

    Parameters
    ----------
    spec : TriggerSpec
        The rule.
    volatility, returns, levels : pd.DataFrame
        Forecast vol, returns and closes (NaN where no price that day) on the
        backtest calendar, shape (n_days, n_assets), the watched assets among the
        columns.
    sleeves : Mapping
        Sleeve of every asset.
    term_volatility : pd.DataFrame, optional
        Average daily forecast vol over the next `TERM_DAYS` days, like
        `volatility` (see `term_volatility`); needed by signals that `needs_term`.
    persistence : pd.DataFrame, optional
        `VolForecast.persistence`, like `volatility`; needed by signals that
        `needs_fits`.

    Returns
    -------
    pd.Series
        Signal indexed like `volatility`; NaN where no watched asset has enough data.

    Raises
    ------
    SpecError
        If `spec.signal` names no registered signal.
    ValueError
        If the signal needs `term_volatility` or `persistence` and it is not given.
    """
    signal = SIGNALS.lookup(spec.signal, f"trigger '{spec.name}'")
    watched = [a for a in volatility.columns if sleeves[a] in spec.watch_sleeves]
    if signal.needs_term and term_volatility is None:
        raise ValueError(
            f"trigger '{spec.name}': signal: {spec.signal} needs the model's "
            f"{TERM_DAYS}-day forecasts (forecast_variance(horizon_days={TERM_DAYS}))"
        )
    if signal.needs_fits and persistence is None:
        raise ValueError(
            f"trigger '{spec.name}': signal: {spec.signal} needs the GARCH fits' "
            "persistence (VolForecast.persistence)"
        )
    missing = pd.DataFrame(np.nan, index=volatility.index, columns=volatility.columns)
    term = missing if term_volatility is None else term_volatility
    fitted = missing if persistence is None else persistence
    per_asset = {
        a: signal.of_asset(
            AssetSeries(volatility[a], returns[a], levels[a], term[a], fitted[a]),
            spec.lookback_days,
        )
        .reindex(volatility.index)
        .ffill()
        for a in watched
    }
    frame = pd.DataFrame(per_asset, index=volatility.index)
    if frame.empty or frame.shape[1] == 0:
        return pd.Series(np.nan, index=volatility.index)
    combined = frame.max(axis=1) if spec.aggregate == "max" else frame.mean(axis=1)
    return combined.where(frame.notna().any(axis=1))


def forecast_horizon(policy: PolicySpec) -> int:
    """The forecast horizon a policy's triggers read: `TERM_DAYS` or 1.

    Raises
    ------
    SpecError
        If a trigger names no registered signal, or reads what only a GARCH fit
        gives (the term structure, persistence) on another model: EWMA and
        realised-variance forecasts are flat and have no fitted parameters.
    """
    horizon = 1
    for i, spec in enumerate(policy.triggers):
        signal = SIGNALS.lookup(spec.signal, f"trigger '{spec.name}'")
        model = MODELS.lookup(policy.model.family, f"model '{policy.model.name}'")
        if signal.needs_garch and not isinstance(model, GarchModel):
            reads = "term structure" if signal.needs_term else "fitted persistence"
            raise SpecError(
                f"policy '{policy.name}': triggers[{i}].signal: {spec.signal} "
                f"reads the model's {reads}, and model '{policy.model.name}' "
                f"({policy.model.family}) has none: it is not a fitted GARCH "
                "model and its forecasts are flat; use a GARCH-family model"
            )
        if signal.needs_term:
            horizon = TERM_DAYS
    return horizon


def term_volatility(forecast: VolForecast) -> pd.DataFrame | None:
    """Average daily vol over the next `TERM_DAYS` days, None for another horizon.

    The square root of `VolForecast.horizon_variance` over `TERM_DAYS`, known at
    the same close as the one-day forecast.
    """
    if forecast.horizon_days != TERM_DAYS:
        return None
    return np.sqrt(forecast.horizon_variance / TERM_DAYS)
