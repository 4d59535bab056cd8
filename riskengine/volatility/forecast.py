"""Point-in-time variance forecasts for a whole return panel, 1 to H days ahead.

Row t of a forecast is the variance of the return of t+1 (for H days, the sum of
the variances of t+1..t+H) as known at the close of t, from the asset's own
returns up to t. Each asset is modelled on its own observations (days without a
new price do not update it), so assets that start late or miss an exchange
holiday need no special case.

GARCH-family models are refitted every `refit_every_days` observations (or at a
policy's rebalance dates, or at the calendar's month, quarter or year closes: see
`riskengine.volatility.refit_schedule`) on a trailing (or expanding) window,
warm-started from the previous fit, and filtered with fixed parameters in between.
GARCH(1,1) and GJR(1,1) with normal or t errors are fitted by
`riskengine.volatility.fast_fit`, which re-checks a doubtful warm start from arch's
cold start; a fit it does not converge is redone by arch from its cold start. Every
other combination is fitted by arch twice, from the previous fit and from arch's
cold start, keeping the higher likelihood: a warm start can stop on a worse local
maximum, with no cheap sign of it; a kept fit is never below arch's cold fit, and an
EGARCH fit must be invertible (see `riskengine.volatility.window_fit`). A fit
that fails, is non-stationary or non-invertible (or ends on a bound, with
``on_boundary = "fallback"``) is recorded as an event and replaced by the spec's
fallback until the next refit.

Each model kind is one `VolatilityModel` object in `MODELS`, keyed by
`ModelSpec.family`: EWMA, realised variance, one entry per GARCH family (see
`riskengine.volatility.families`) and the previous calendar month's realised
variance (`riskengine.volatility.monthly`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from riskengine._typing import FloatArray, ReturnPanel
from riskengine.blas import one_blas_thread
from riskengine.events import Event
from riskengine.progress import Progress
from riskengine.registry import Registry
from riskengine.specs import ModelSpec
from riskengine.volatility.families import GARCH_FAMILIES
from riskengine.volatility.garch import FIT_COLUMNS, garch_panel
from riskengine.volatility.monthly import month_variance
from riskengine.volatility.simple import ewma_variance, realised_variance

_UNIT = ("alpha[1]", "gamma[1]", "beta[1]")
"""The fit parameters a family's persistence reads (0 for one it lacks)."""

Panels = tuple[FloatArray, FloatArray, tuple[Event, ...], pd.DataFrame]
"""A model's one-day and H-day variances on the asset's own rows, events and fits."""


@dataclass(frozen=True)
class VolForecast:
    """Variance forecasts of a panel, and how they were produced.

    Attributes
    ----------
    variance : pd.DataFrame
        Daily variance (decimal returns squared) of t+1 known at the close of t,
        shape (n_days, n_assets); NaN before an asset's first return.
    model : ModelSpec
        The model that produced it.
    events : tuple of Event
        ``model_fallback`` (a refit replaced by the fallback, or an asset with
        too little history for any fit) and ``model_boundary`` (a fit on a bound
        kept, with ``on_boundary = "keep"``) events.
    horizon_days : int
        Horizon H of `horizon_variance`.
    horizon_variance : pd.DataFrame
        Variance of the sum of the returns of t+1..t+H known at the close of t:
        the sum of the 1..H-step variance forecasts, shape (n_days, n_assets).
    fits : pd.DataFrame
        One row per GARCH refit: asset, date (end of the window), observations,
        method (``fast`` or ``arch``), status (``ok``, ``boundary`` or
        ``fallback``), reason, attempts (the optimiser runs in order, with where
        each ended and which was kept, e.g.
        ``arch-warm(-715.27)>arch-cold(-705.43, kept)``), log-likelihood,
        evaluations (fast path) and the parameters by arch's names. Empty for
        EWMA and realised variance.
    """

    variance: pd.DataFrame
    model: ModelSpec
    events: tuple[Event, ...]
    horizon_days: int
    horizon_variance: pd.DataFrame
    fits: pd.DataFrame

    @property
    def volatility(self) -> pd.DataFrame:
        """Daily volatility forecasts (square root of `variance`)."""
        return np.sqrt(self.variance)

    @cached_property
    def persistence(self) -> pd.DataFrame:
        """Persistence of the GARCH fit in force at each close, like `variance`.

        The family's unit root (``alpha + gamma / 2 + beta`` for GARCH and GJR,
        ``beta`` for EGARCH) of the asset's latest refit at or before the close:
        how slowly today's shock decays (half-life ``log 0.5 / log persistence``
        days). NaN before an asset's first fit, while a fit is replaced by the
        fallback, and throughout for models without fits (EWMA, realised).
        Computed on first use and kept (runs sharing a forecast read it once).
        """
        frame = pd.DataFrame(
            np.nan, index=self.variance.index, columns=self.variance.columns
        )
        if self.fits.empty:
            return frame
        family = GARCH_FAMILIES.lookup(self.model.family, f"model '{self.model.name}'")
        fits = self.fits
        params = [fits.get(name, pd.Series(0.0, index=fits.index)) for name in _UNIT]
        values = [
            family.unit_root(float(a), float(g), float(b))
            if status != "fallback"
            else np.nan
            for a, g, b, status in zip(*params, fits["status"], strict=True)
        ]
        by_date = pd.Series(values, index=fits.index)
        for asset, rows in fits.groupby("asset").groups.items():
            dated = pd.Series(by_date[rows].to_numpy(), index=fits.loc[rows, "date"])
            # the latest fit's value, NaN (a fallback) included, until the next fit
            frame[asset] = dated.sort_index().reindex(frame.index, method="ffill")
        return frame


class VolatilityModel(ABC):
    """One kind of variance model, named by `ModelSpec.family`.

    Attributes
    ----------
    name : str
        The `ModelSpec.family` value.
    fallback : str
        What replaces the model's forecast when it cannot make one, recorded as
        ``model_fallback`` events and in the fits; empty when it always can.
    """

    name: str
    fallback: str = ""

    @abstractmethod
    def forecast(
        self,
        returns: ReturnPanel,
        spec: ModelSpec,
        horizon_days: int,
        start: pd.Timestamp | None,
        refit_dates: pd.DatetimeIndex | None,
        progress: Progress | None = None,
    ) -> Panels:
        """One-day and H-day variances, events and fits (see `forecast_variance`).

        The variances are NaN on days an asset has no return (the caller carries
        the last forecast over them). A model that refits tells `progress` of
        each refit; the others, which take no time, ignore it.
        """


class FlatModel(VolatilityModel):
    """A model of one-day forecasts only: the H-day variance is H times one day's."""

    def forecast(
        self,
        returns: ReturnPanel,
        spec: ModelSpec,
        horizon_days: int,
        start: pd.Timestamp | None,
        refit_dates: pd.DatetimeIndex | None,
        progress: Progress | None = None,
    ) -> Panels:
        """One-day and H-day variances, no events, no fits."""
        one_day = self.one_day(returns.to_numpy(float), spec)
        return one_day, one_day * horizon_days, (), pd.DataFrame(columns=FIT_COLUMNS)

    @abstractmethod
    def one_day(self, values: FloatArray, spec: ModelSpec) -> FloatArray:
        """One-day variance forecasts after each row of `values` (n_days, n_assets)."""


@dataclass(frozen=True)
class EwmaModel(FlatModel):
    """EWMA of squared returns with `ModelSpec.decay` (RiskMetrics); flat H-day."""

    name: str = "ewma"

    def one_day(self, values: FloatArray, spec: ModelSpec) -> FloatArray:
        """``sigma2_t = decay sigma2_{t-1} + (1 - decay) r_t^2``."""
        return ewma_variance(values, spec.decay)


@dataclass(frozen=True)
class RealisedModel(FlatModel):
    """Mean squared return over `ModelSpec.window_days` observations; flat H-day."""

    name: str = "realised"

    def one_day(self, values: FloatArray, spec: ModelSpec) -> FloatArray:
        """Mean squared return over the last `window_days` observations."""
        return realised_variance(values, spec.window_days)


@dataclass(frozen=True)
class RealisedMonthModel(VolatilityModel):
    """Realised variance of the previous calendar month (Moreira and Muir); flat H-day.

    See `riskengine.volatility.monthly`: the demeaned sum of squared daily returns
    of the latest month complete at t, over `monthly.MONTH_DAYS`.
    """

    name: str = "realised_month"

    def forecast(
        self,
        returns: ReturnPanel,
        spec: ModelSpec,
        horizon_days: int,
        start: pd.Timestamp | None,
        refit_dates: pd.DatetimeIndex | None,
        progress: Progress | None = None,
    ) -> Panels:
        """One-day and H-day variances, no events, no fits."""
        one_day = month_variance(returns)
        return one_day, one_day * horizon_days, (), pd.DataFrame(columns=FIT_COLUMNS)


@dataclass(frozen=True)
class GarchModel(VolatilityModel):
    """A GARCH family, refitted and filtered (`riskengine.volatility.garch`)."""

    name: str
    fallback: str = "EWMA with fallback_decay, until the next successful refit"

    def forecast(
        self,
        returns: ReturnPanel,
        spec: ModelSpec,
        horizon_days: int,
        start: pd.Timestamp | None,
        refit_dates: pd.DatetimeIndex | None,
        progress: Progress | None = None,
    ) -> Panels:
        """One-day and H-day variances, fallback events and refit records."""
        return garch_panel(returns, spec, horizon_days, start, refit_dates, progress)


MODELS: Registry[VolatilityModel] = Registry(
    "volatility model",
    "family",
    [
        EwmaModel(),
        RealisedModel(),
        *(GarchModel(name) for name in GARCH_FAMILIES),
        RealisedMonthModel(),
    ],
)
"""Every volatility model by `ModelSpec.family` name."""


def forecast_variance(
    returns: ReturnPanel,
    spec: ModelSpec,
    *,
    horizon_days: int = 1,
    start: pd.Timestamp | None = None,
    refit_dates: pd.DatetimeIndex | None = None,
    progress: Progress | None = None,
) -> VolForecast:
    """Point-in-time variance forecasts of every asset of a panel.

    Parameters
    ----------
    returns : pd.DataFrame
        Simple returns, shape (n_days, n_assets), NaN where an asset has no new price.
    spec : ModelSpec
        The volatility model.
    horizon_days : int
        H for `VolForecast.horizon_variance`: 1..H-day variance forecasts summed
        (GARCH and GJR in closed form through the persistence, EGARCH through the
        empirical distribution of the fit's standardised residuals; flat for
        EWMA, realised variance and the fallback).
    start : Timestamp, optional
        First date whose forecast is needed: GARCH refits whose forecasts all
        precede it are skipped (rows before it hold the fallback), and the first
        refit kept starts cold.
    refit_dates : DatetimeIndex, optional
        For ``refit_on = "rebalance"``: refit each asset at its last observation
        at or before each of these dates, instead of every `refit_every_days`.
    progress : Progress, optional
        Told of each GARCH refit, counted over all assets (see
        `riskengine.progress`); None (the default) costs nothing.

    Returns
    -------
    VolForecast
        Forecasts aligned with `returns`, carried over days without a new price.

    Raises
    ------
    ValueError
        If `horizon_days` is not a positive integer.
    SpecError
        If `spec.family` names no registered model.
    """
    if isinstance(horizon_days, bool) or not isinstance(horizon_days, int):
        raise ValueError(f"horizon_days: expected an integer, got {horizon_days!r}")
    if horizon_days < 1:
        raise ValueError(f"horizon_days: must be at least 1, got {horizon_days}")
    model = MODELS.lookup(spec.family, f"model '{spec.name}'")
    # arch's optimiser (SLSQP) ends elsewhere on a flat likelihood when BLAS splits
    # its products over threads: on one thread, wherever the forecasts are made
    with one_blas_thread():
        one_day, total, events, fits = model.forecast(
            returns, spec, horizon_days, start, refit_dates, progress
        )

    def frame(array: FloatArray) -> pd.DataFrame:
        return pd.DataFrame(array, index=returns.index, columns=returns.columns).ffill()

    return VolForecast(frame(one_day), spec, events, horizon_days, frame(total), fits)
