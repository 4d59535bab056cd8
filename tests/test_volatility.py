"""riskengine.volatility against direct arch calls, and every model's contract.

Real series come from ../shared/data (each asset on its own dates) and from arch's
bundled S&P 500 data; GARCH models are fitted on percent returns. Every assert
states its tolerance.
"""

import pickle
import re
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from arch.data import sp500
from arch.univariate import EWMAVariance, ZeroMean

from riskengine.data.prices import load_market
from riskengine.errors import SpecError
from riskengine.events import Event
from riskengine.specs import ModelSpec, builtin_names, load_model
from riskengine.volatility import (
    PERCENT,
    VolForecast,
    arch_model_for,
    ewma_variance,
    families,
    fast_fit,
    forecast_variance,
    realised_variance,
    window_fit,
)

GARCH = replace(
    load_model("garch11-t"), window_days=500, min_window_days=250, refit_every_days=50
)
ONE_REFIT = {"window_days": 500, "min_window_days": 250, "refit_every_days": 1000}
FAMILIES = [
    (family, dist)
    for family in ("garch", "gjr", "egarch")
    for dist in ("normal", "t", "skewt")
]


@pytest.fixture(scope="module")
def real_returns(real_prices_path: Path) -> pd.DataFrame:
    return load_market(real_prices_path).returns


def spy_window(real_returns: pd.DataFrame, n: int) -> pd.Series:
    return real_returns["SPY"].loc["2016":].dropna().iloc[:n]


def refit_events(forecast: VolForecast) -> list[Event]:
    """Events of the refits and the filter, not of the fallback before the first fit."""
    return [event for event in forecast.events if event.details["method"] != "none"]


def fitted_params(forecast_fits: pd.DataFrame, row: int = 0) -> np.ndarray:
    """Parameters of one refit, in arch's order (the columns after n_evals)."""
    first = forecast_fits.columns.get_loc("n_evals") + 1
    values = forecast_fits.iloc[row, first:]
    return values[values.notna()].to_numpy(float)


LOCAL_MAXIMUM = np.array(
    [0.0080916, -0.0346007, 0.0818410, -0.2677813, 0.9330743, 229.8197, -0.1353138]
)
"""EGARCH-skew-t (mu, omega, alpha, gamma, beta, nu, lambda): a local maximum on
the first 650 of the last 1100 S&P 500 returns of arch's data, 9.8 below arch's
cold fit."""


def arch_forecast(spec: ModelSpec, y: np.ndarray, params: np.ndarray) -> float:
    fixed = arch_model_for(y, spec).fix(params)
    return float(fixed.forecast(horizon=1, reindex=False).variance.iloc[-1, 0])


def test_ewma_equals_pandas_ewm(real_returns: pd.DataFrame) -> None:
    panel = real_returns[["SPY", "BTC_USD", "IEF"]].loc["2014":]
    ours = ewma_variance(panel.to_numpy(), 0.94)
    reference = (panel**2).ewm(alpha=0.06, adjust=True, ignore_na=True).mean()
    np.testing.assert_allclose(ours, reference.to_numpy(), rtol=1e-12, atol=0)


def test_ewma_forecast_carries_through_days_without_a_price(
    real_returns: pd.DataFrame,
) -> None:
    panel = real_returns[["IEF"]].loc["2025-09":"2025-10"]
    variance = forecast_variance(panel, load_model("ewma-0.94")).variance["IEF"]
    last = panel["IEF"].last_valid_index()
    assert (variance.loc[last:] == variance.loc[last]).all()


def test_realised_variance_is_the_trailing_mean_of_squares(
    real_returns: pd.DataFrame,
) -> None:
    """Against pandas rolling(21, min_periods=1) on each asset's own dates, 1e-10
    (both difference running sums)."""
    panel = real_returns[["SPY", "BTC_USD", "IEF"]].loc["2014":]
    ours = realised_variance(panel.to_numpy(), 21)
    for j, asset in enumerate(panel):
        own = panel[asset].dropna()
        reference = (own**2).rolling(21, min_periods=1).mean()
        rows = panel.index.get_indexer(own.index)
        np.testing.assert_allclose(ours[rows, j], reference, rtol=1e-10, atol=0)
    forecast = forecast_variance(panel, load_model("realised-21d"))
    assert forecast.variance.loc["2015"].notna().all().all()


@pytest.mark.parametrize(("family", "dist"), FAMILIES, ids=map("-".join, FAMILIES))
def test_reported_loglikelihood_equals_arch_at_the_fitted_parameters(
    real_returns: pd.DataFrame, family: str, dist: str
) -> None:
    """Every family and distribution: arch's fix() log-likelihood, 1e-6 relative.

    GARCH and GJR with normal or t errors take the fast path, the rest arch's.
    """
    spec = replace(GARCH, family=family, distribution=dist, **ONE_REFIT)
    returns = spy_window(real_returns, 300)
    forecast = forecast_variance(returns.to_frame(), spec)
    fit = forecast.fits.iloc[0]
    fast = family != "egarch" and dist != "skewt"
    assert fit["method"] == ("fast" if fast else "arch")
    y = returns.to_numpy()[:250] * PERCENT
    reference = arch_model_for(y, spec).fix(fitted_params(forecast.fits))
    assert fit["loglikelihood"] == pytest.approx(reference.loglikelihood, rel=1e-6)


def assert_refits_reach_arch(
    forecast: VolForecast, y: np.ndarray, ends: Sequence[int] | None = None
) -> None:
    """Each refit against arch's cold fit of its window, on what is well defined.

    arch's log-likelihood at the refit's parameters (its fix()) is never below its
    own fit's by more than 1e-6 relative, and the forecast at the refit date is
    arch's fix() forecast at those parameters, 1e-9 relative. The two fits'
    parameters and forecasts are not compared: where the likelihood is flat (in nu,
    along the persistence ridge) they depend on each optimiser's path. `ends` are
    the refits' last observations (default: every `refit_every_days`).
    """
    spec = forecast.model
    if ends is None:
        ends = range(spec.min_window_days - 1, len(y), spec.refit_every_days)
    assert len(forecast.fits) == len(ends)
    assert "fallback" not in set(forecast.fits["status"])
    for row, fit_end in enumerate(ends):
        model = arch_model_for(
            y[max(0, fit_end + 1 - spec.window_days) : fit_end + 1], spec
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # arch's chatter on the reference fit
            reference = model.fit(disp="off")
        ours = model.fix(fitted_params(forecast.fits, row))
        tolerance = 1e-6 * abs(reference.loglikelihood)
        assert ours.loglikelihood >= reference.loglikelihood - tolerance, row
        expected = ours.forecast(horizon=1, reindex=False).variance.iloc[-1, 0]
        at_refit = forecast.variance.iloc[fit_end, 0] * PERCENT**2
        assert at_refit == pytest.approx(expected, rel=1e-9), row


@pytest.mark.parametrize("name", ["garch11-t", "gjr11-t"])
def test_warm_started_refits_reach_cold_arch_fits(
    real_returns: pd.DataFrame, name: str
) -> None:
    """Every refit (warm-started, fast path) reaches arch's cold fit (see
    `assert_refits_reach_arch` for the tolerances)."""
    spec = replace(load_model(name), window_days=500, refit_every_days=50)
    returns = spy_window(real_returns, 700)
    forecast = forecast_variance(returns.to_frame(), spec)
    assert refit_events(forecast) == []
    assert set(forecast.fits["method"]) == {"fast"}
    assert_refits_reach_arch(forecast, returns.to_numpy() * PERCENT)


def test_egarch_skewt_refits_reach_cold_arch_fits_on_sp500() -> None:
    """arch's bundled S&P 500, EGARCH-skew-t refitted every 400 observations.

    Every refit after the first runs from the previous fit and from arch's cold
    start and keeps the higher log-likelihood (its chain records both, to the
    chain's two decimals); each reaches arch's cold fit (`assert_refits_reach_arch`).
    """
    returns = sp500.load()["Adj Close"].pct_change().dropna().iloc[-1100:]
    spec = replace(load_model("egarch11-skewt"), refit_every_days=400)
    forecast = forecast_variance(returns.to_frame("SP500"), spec)
    assert list(forecast.fits["method"]) == ["arch"] * 3
    assert_refits_reach_arch(forecast, returns.to_numpy() * PERCENT)
    chains = [parse_chain(chain) for chain in forecast.fits["attempts"]]
    assert [[link[0] for link in chain] for chain in chains] == [
        ["arch-cold"],
        ["arch-warm", "arch-cold"],
        ["arch-warm", "arch-cold"],
    ]
    for chain, llf in zip(chains, forecast.fits["loglikelihood"], strict=True):
        kept = [link for link in chain if link[2]]
        assert len(kept) == 1
        assert kept[0][1] == round(llf, 2) == max(link[1] for link in chain)


def parse_chain(chain: str) -> list[tuple[str, float, bool]]:
    """A fit's ``attempts`` as (method-start, log-likelihood, kept) per link."""
    links = re.findall(r"([a-z]+-[a-z]+)\((-?\d+\.\d\d)((?:, [^,)]+)*)\)", chain)
    assert ">".join(f"{m}({v}{notes})" for m, v, notes in links) == chain
    return [(m, float(v), notes.endswith(", kept")) for m, v, notes in links]


def test_a_warm_start_on_a_worse_local_maximum_is_caught_and_recorded() -> None:
    """arch's S&P 500, EGARCH-skew-t, the 650 observations to 2017-03-17.

    LOCAL_MAXIMUM (nu = 230: the likelihood is flat in nu) is where arch's
    optimiser stops when warm-started from the fit of the first 250 observations,
    9.8 below arch's cold fit (in arch's fix(), no optimiser involved). Started
    there, the refit keeps the cold run: arch's log-likelihood to 1e-9 relative,
    its chain names both runs and which was kept.
    """
    y = sp500.load()["Adj Close"].pct_change().dropna().to_numpy()[-1100:] * PERCENT
    spec = load_model("egarch11-skewt")
    window = y[:650]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cold = arch_model_for(window, spec).fit(disp="off")
    trap = arch_model_for(window, spec).fix(LOCAL_MAXIMUM).loglikelihood
    assert trap < cold.loglikelihood - 5.0
    first = window_fit.fit_with_arch(y[:250], spec, None, 1)
    previous = replace(first, params=LOCAL_MAXIMUM)
    fit = window_fit.fit_with_arch(window, spec, previous, 1)
    assert fit.loglikelihood == pytest.approx(cold.loglikelihood, rel=1e-9)
    (warm_start, warm_llf, warm_kept), cold_link = parse_chain(fit.attempts)
    assert (warm_start, warm_kept) == ("arch-warm", False)
    assert warm_llf < cold.loglikelihood - 5.0
    assert cold_link == ("arch-cold", round(cold.loglikelihood, 2), True)
    assert fit.problem == ""


def test_a_fast_fit_that_does_not_converge_is_refitted_cold_by_arch(
    real_returns: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chain records the fast runs, then arch's cold run, which is kept."""
    original_chain = fast_fit.fit_chain

    def not_converged(*args: Any, **options: Any) -> list[fast_fit.GarchFit]:
        return [
            replace(fit, converged=False) for fit in original_chain(*args, **options)
        ]

    monkeypatch.setattr(fast_fit, "fit_chain", not_converged)
    spec = replace(GARCH, **ONE_REFIT)
    forecast = forecast_variance(spy_window(real_returns, 300).to_frame(), spec)
    assert list(forecast.fits["method"]) == ["arch"]
    chain = parse_chain(forecast.fits["attempts"].iloc[0])
    assert [(link[0], link[2]) for link in chain] == [
        ("fast-cold", False),
        ("arch-cold", True),
    ]


@pytest.mark.parametrize("on_boundary", ["keep", "fallback"])
def test_fit_windows_equals_fit_window_in_a_loop(
    real_returns: pd.DataFrame, on_boundary: str
) -> None:
    """GJR-t on SPY with a stretch of equal returns: the chained fits (compiled
    chunks, arch for what does not converge, the refused windows) equal
    `fit_window` called window by window from the last converged fit."""
    y = spy_window(real_returns, 900).to_numpy() * PERCENT
    y[400:520] = 0.0
    spec = replace(load_model("gjr11-t"), on_boundary=on_boundary)
    spans = [(max(0, end - 100), end - 1) for end in range(300, y.size + 1, 7)]
    singles, previous, faces = [], None, window_fit.faces_for(spec)
    for first, last in spans:
        fit = window_fit.fit_window(y[first : last + 1], spec, previous, 1, faces)
        singles.append(fit)
        previous = fit if fit.converged else previous
        faces = faces if fit.faces is None else fit.faces
    ticks = []
    chained = window_fit.fit_windows(y, spans, spec, 1, lambda: ticks.append(1))
    assert len(ticks) == len(chained) == len(spans)
    assert any(fit.problem.startswith("fit failed") for fit in singles)
    assert on_boundary == "keep" or any(fit.boundary for fit in singles)
    for ours, theirs in zip(chained, singles, strict=True):
        for name in ours.__slots__:
            mine, reference = getattr(ours, name), getattr(theirs, name)
            if name == "faces" and reference is not None:
                for a, b in zip(mine, reference, strict=True):
                    np.testing.assert_array_equal(a, b)
            elif isinstance(reference, np.ndarray):
                np.testing.assert_array_equal(mine, reference)
            else:
                assert mine == reference or (mine != mine and reference != reference)


@pytest.mark.parametrize("name", ["garch11-t", "gjr11-t", "egarch11-skewt"])
def test_filter_between_refits_equals_arch_fix(
    real_returns: pd.DataFrame, name: str
) -> None:
    """Incremental (one refit, then 350 days of filtering) equals recomputation.

    The reference is arch's fix() at the refit's parameters on every observation
    up to t, recomputed from scratch: 1e-9 relative.
    """
    spec = replace(load_model(name), **ONE_REFIT)
    returns = spy_window(real_returns, 600)
    forecast = forecast_variance(returns.to_frame(), spec)
    params = fitted_params(forecast.fits)
    y = returns.to_numpy() * PERCENT
    for t in (249, 250, 300, 599):
        expected = arch_forecast(spec, y[: t + 1], params) / PERCENT**2
        assert forecast.variance.iloc[t, 0] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("name", ["garch11-t", "gjr11-t"])
def test_horizon_sums_equal_arch_analytic_forecasts(
    real_returns: pd.DataFrame, name: str
) -> None:
    """Sum of arch's 1..10-step forecasts at the same parameters, 1e-10 relative."""
    spec = replace(load_model(name), **ONE_REFIT)
    returns = spy_window(real_returns, 600)
    forecast = forecast_variance(returns.to_frame(), spec, horizon_days=10)
    params = fitted_params(forecast.fits)
    y = returns.to_numpy() * PERCENT
    for t in (249, 400, 599):
        fixed = arch_model_for(y[: t + 1], spec).fix(params)
        steps = fixed.forecast(horizon=10, reindex=False).variance.iloc[-1]
        expected = steps.sum() / PERCENT**2
        assert forecast.horizon_variance.iloc[t, 0] == pytest.approx(
            expected, rel=1e-10
        )


def test_egarch_horizon_equals_arch_bootstrap_forecast(
    real_returns: pd.DataFrame,
) -> None:
    """EGARCH 5-day sum at the refit date: arch's bootstrap (100k paths), 1%.

    Both take expectations over the fit window's standardised residuals; arch by
    simulation (its Monte Carlo error here is about 0.25%), ours in closed form.
    """
    spec = replace(load_model("egarch11-skewt"), **ONE_REFIT)
    returns = spy_window(real_returns, 250)
    forecast = forecast_variance(returns.to_frame(), spec, horizon_days=5)
    fixed = arch_model_for(returns.to_numpy() * PERCENT, spec).fix(
        fitted_params(forecast.fits)
    )
    paths = fixed.forecast(
        horizon=5,
        method="bootstrap",
        simulations=100_000,
        random_state=np.random.RandomState(0),
        reindex=False,
    )
    expected = paths.variance.iloc[-1].sum() / PERCENT**2
    assert forecast.horizon_variance.iloc[-1, 0] == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("name", ["ewma-0.94", "realised-21d"])
def test_ewma_and_realised_horizons_are_flat(
    real_returns: pd.DataFrame, name: str
) -> None:
    """H-day variance is H times the one-day forecast (exactly), as arch's EWMA's."""
    panel = real_returns[["SPY", "BTC_USD"]].loc["2020":"2021"]
    forecast = forecast_variance(panel, load_model(name), horizon_days=21)
    pd.testing.assert_frame_equal(forecast.horizon_variance, 21 * forecast.variance)
    model = ZeroMean(panel["SPY"].dropna().to_numpy() * PERCENT)
    model.volatility = EWMAVariance(0.94)
    steps = model.fit(disp="off").forecast(horizon=21, reindex=False).variance
    np.testing.assert_allclose(steps.iloc[-1], steps.iloc[-1, 0], rtol=1e-12)


def test_default_horizon_is_one_day(real_returns: pd.DataFrame) -> None:
    forecast = forecast_variance(spy_window(real_returns, 300).to_frame(), GARCH)
    assert forecast.horizon_days == 1
    pd.testing.assert_frame_equal(forecast.horizon_variance, forecast.variance)
    with pytest.raises(ValueError, match="horizon_days: must be at least 1"):
        forecast_variance(
            spy_window(real_returns, 300).to_frame(), GARCH, horizon_days=0
        )


def test_constant_series_falls_back_to_ewma_and_is_recorded() -> None:
    dates = pd.bdate_range("2020-01-01", periods=400)
    constant = pd.DataFrame({"FLAT": np.full(400, 0.001)}, index=dates)
    forecast = forecast_variance(constant, GARCH)
    assert [e.kind for e in refit_events(forecast)] == ["model_fallback"] * 4
    event = refit_events(forecast)[0]
    assert (event.subject, event.date) == ("FLAT", dates[249])
    assert "returns are all equal" in event.message
    fallback = ewma_variance(constant.to_numpy(), GARCH.fallback_decay)[:, 0]
    np.testing.assert_allclose(forecast.variance["FLAT"], fallback, rtol=1e-12)


def test_short_series_is_recorded_and_uses_the_fallback() -> None:
    """The fallback before the first fit is recorded where it is first needed,
    with what is known there, so dropping later rows leaves the record as is."""
    dates = pd.bdate_range("2020-01-01", periods=50)
    noise = np.random.default_rng(0).standard_normal(50) * 0.01
    returns = pd.DataFrame({"NEW": noise}, index=dates)
    forecast = forecast_variance(returns, GARCH)
    (event,) = forecast.events
    assert (event.kind, event.subject, event.date) == (
        "model_fallback",
        "NEW",
        dates[0],
    )
    assert event.message == (
        "garch11-t on NEW at 2020-01-01: 1 observation so far, fewer than "
        "min_window_days (250); EWMA 0.94 used until the first fit"
    )
    assert forecast_variance(returns.iloc[:5], GARCH).events == forecast.events
    (late,) = forecast_variance(returns, GARCH, start=dates[10]).events
    assert late.date == dates[10]
    assert "11 observations so far, fewer than min_window_days (250)" in late.message
    expected = ewma_variance(noise[:, None], GARCH.fallback_decay)[:, 0]
    np.testing.assert_allclose(forecast.variance["NEW"], expected, rtol=1e-12)


def test_no_fallback_record_once_the_first_fit_precedes_start() -> None:
    dates = pd.bdate_range("2020-01-01", periods=300)
    noise = np.random.default_rng(0).standard_normal(300) * 0.01
    returns = pd.DataFrame({"OLD": noise}, index=dates)
    early = forecast_variance(returns, GARCH, start=dates[248]).events
    assert [e.date for e in early if e.details["method"] == "none"] == [dates[248]]
    forecast = forecast_variance(returns, GARCH, start=dates[249])
    assert refit_events(forecast) == list(forecast.events)


@pytest.mark.parametrize("growth", [0.01, 0.05])
def test_explosive_series_falls_back_at_every_refit(growth: float) -> None:
    """Volatility growing 1% (5%) a day: every fit ends on the unit root (or
    another bound) and is replaced; the fallback is finite."""
    rng = np.random.default_rng(1)
    n = 600
    values = 1e-4 * np.exp(growth * np.arange(n)) * rng.standard_normal(n)
    dates = pd.bdate_range("2020-01-01", periods=n)
    spec = replace(GARCH, on_boundary="fallback")
    forecast = forecast_variance(pd.DataFrame({"BOOM": values}, index=dates), spec)
    assert len(refit_events(forecast)) == len(forecast.fits) == 8
    assert set(forecast.fits["status"]) == {"fallback"}
    unit_root = ("alpha[1] + gamma[1]/2 + beta[1] <= 1", "persistence 1")  # fast, arch
    assert all(any(u in e.message for u in unit_root) for e in refit_events(forecast))
    expected = ewma_variance(values[:, None], GARCH.fallback_decay)[:, 0]
    np.testing.assert_allclose(forecast.variance["BOOM"], expected, rtol=1e-12)


def test_a_fit_on_the_unit_root_is_recorded_and_replaced_or_kept(
    real_returns: pd.DataFrame,
) -> None:
    """BTC, window to 2021-06: the maximum is on alpha + beta = 1."""
    returns = real_returns[["BTC_USD"]].loc[:"2021-06-30"].dropna().iloc[-1000:]
    spec = replace(load_model("garch11-t"), **ONE_REFIT)
    rejected = forecast_variance(returns, replace(spec, on_boundary="fallback"))
    kept = forecast_variance(returns, spec)  # the shipped models keep such fits
    assert [e.kind for e in refit_events(rejected)] == ["model_fallback"]
    assert "converged on a bound (alpha[1] + gamma[1]/2 + beta[1] <= 1)" in (
        refit_events(rejected)[0].message
    )
    assert [e.kind for e in refit_events(kept)] == ["model_boundary"]
    assert list(kept.fits["status"]) == ["boundary"]
    y = returns.to_numpy()[:, 0] * PERCENT
    expected = arch_forecast(spec, y, fitted_params(kept.fits)) / PERCENT**2
    assert kept.variance.iloc[-1, 0] == pytest.approx(expected, rel=1e-9)
    assert rejected.variance.iloc[-1, 0] != pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('family = "figarch"', r"family: expected one of 'ewma'"),
        ('family = "garch"\ndistribution = "ged"', r"distribution: expected one of"),
        ('family = "garch"\nwindow = "rolling"', r"window: expected one of"),
        (
            'family = "garch"\nmin_window_days = 50',
            r"min_window_days: must be at least",
        ),
        (
            'family = "gjr"\nwindow_days = 200',
            r"window_days: must be at least min_window_days \(250\)",
        ),
        ('family = "realised"\nwindow_days = 1', r"window_days: must be at least 2"),
        ('family = "garch"\non_boundary = "ignore"', r"on_boundary: expected one of"),
        ('family = "garch"\nfallback = "garch"', r"fallback: expected one of 'ewma'"),
        ('family = "garch"\nrefit_every_days = 0', r"refit_every_days: must be at"),
        (
            'family = "garch"\nrefit_on = "yearly"',
            r"refit_on: expected one of .*'year_end'",
        ),
        (
            'family = "garch"\nrefit_on = "year_end"\nrefit_calendar = "NYSX"',
            r"refit_calendar: unknown trading calendar 'NYSX' \(did you mean 'XNYS'",
        ),
        (
            'family = "garch"\nrefit_on = "month_end"\nrefit_calendar = "auto"',
            r"refit_calendar: 'auto' is a policy's calendar",
        ),
    ],
    ids=[
        "family",
        "dist",
        "window",
        "min",
        "trailing",
        "realised",
        "boundary",
        "fallback",
        "refit",
        "refit_on",
        "refit_calendar",
        "refit_calendar_auto",
    ],
)
def test_bad_model_spec_names_file_and_field(
    tmp_path: Path, text: str, match: str
) -> None:
    path = tmp_path / "model.toml"
    path.write_text(f'name = "m"\n{text}\n')
    with pytest.raises(SpecError, match=match) as info:
        load_model(path)
    assert str(path) in str(info.value)


def test_expanding_window_ignores_window_days(real_returns: pd.DataFrame) -> None:
    spec = replace(GARCH, window="expanding", window_days=250)
    forecast = forecast_variance(spy_window(real_returns, 600).to_frame(), spec)
    assert list(forecast.fits["observations"]) == list(range(250, 601, 50))


@pytest.mark.parametrize("name", builtin_names("models"))
def test_model_contract(real_returns: pd.DataFrame, name: str) -> None:
    """Every registered model: no look-ahead, no silent NaN, late assets, pickling.

    SPY and GLD from 2015, TLT listed 100 days later; returns after day 330 are
    tripled. Nothing at or before day 330 may move (exactly), inputs are not
    modified, and every forecast after an asset's first return is finite.
    """
    spec = load_model(name)
    panel = real_returns[["SPY", "GLD", "TLT"]].loc["2015":].dropna().iloc[:400]
    panel.iloc[:100, 2] = np.nan
    original = panel.copy()
    cut = 330
    perturbed = panel.copy()
    perturbed.iloc[cut + 1 :] *= 3.0
    base = forecast_variance(panel, spec, horizon_days=5)
    moved = forecast_variance(perturbed, spec, horizon_days=5)
    pd.testing.assert_frame_equal(panel, original)
    for frame in ("variance", "horizon_variance"):
        before = getattr(base, frame).iloc[: cut + 1]
        after = getattr(moved, frame).iloc[: cut + 1]
        pd.testing.assert_frame_equal(before, after, check_exact=True)
    assert not base.variance.iloc[cut + 2 :].equals(moved.variance.iloc[cut + 2 :])
    cut_date = panel.index[cut]
    assert [e for e in base.events if e.date <= cut_date] == [
        e for e in moved.events if e.date <= cut_date
    ]
    if spec.family in ("garch", "gjr", "egarch"):
        assert set(base.fits["asset"]) == {"SPY", "GLD", "TLT"}
        assert (base.fits["method"] == "arch").all() == (spec.family == "egarch")
    started = panel.notna().cummax().to_numpy()
    assert np.isfinite(base.variance.to_numpy()[started]).all()
    assert np.isnan(base.variance.to_numpy()[~started]).all()
    clone = pickle.loads(pickle.dumps(base))
    pd.testing.assert_frame_equal(clone.variance, base.variance)


def test_refits_can_follow_the_rebalance_dates(real_returns: pd.DataFrame) -> None:
    panel = real_returns[["SPY", "BTC_USD"]].loc["2016":"2019"]
    fridays = panel.index[panel.index.day_of_week == 4][::4]
    spec = replace(GARCH, refit_on="rebalance")
    forecast = forecast_variance(panel, spec, refit_dates=fridays)
    for asset in panel:
        own = panel[asset].dropna().index
        expected = {
            own[own <= d][-1]
            for d in fridays
            if (own <= d).sum() >= spec.min_window_days
        }
        assert (
            set(forecast.fits.loc[forecast.fits["asset"] == asset, "date"]) == expected
        )


def test_skipping_refits_before_start_keeps_the_forecasts_from_start(
    real_returns: pd.DataFrame,
) -> None:
    """Refits whose forecasts all precede `start` are skipped; the others are the
    full run's: the same dates and statuses, the same maxima (log-likelihood to
    1e-9 relative), and forecasts from `start` on to 1e-3 relative.

    The first refit kept starts cold rather than warm, so the two runs stop at
    different points of the same maximum; where the likelihood is flat (GLD,
    persistence 0.99, on alpha >= 0) that moves forecasts by up to 1.4e-4 with
    numpy 2.4 and arch 8.0.
    """
    panel = real_returns[["SPY", "GLD"]].loc["2012":"2019"]
    start = pd.Timestamp("2018-01-02")
    full = forecast_variance(panel, GARCH)
    trimmed = forecast_variance(panel, GARCH, start=start)
    assert len(trimmed.fits) < len(full.fits) / 2
    kept = full.fits.set_index(["asset", "date"]).loc[
        trimmed.fits.set_index(["asset", "date"]).index
    ]
    assert list(trimmed.fits["status"]) == list(kept["status"])
    np.testing.assert_allclose(
        trimmed.fits["loglikelihood"], kept["loglikelihood"], rtol=1e-9
    )
    np.testing.assert_allclose(
        trimmed.variance.loc[start:], full.variance.loc[start:], rtol=1e-3
    )


def test_a_broken_egarch_fit_on_ief_is_not_kept(real_returns: pd.DataFrame) -> None:
    """EGARCH-skew-t on IEF from 2016: at 2019-08-01 arch's cold run ends far below
    a constant variance's log-likelihood (-3294.76 against -167.78; on TLT a 2018
    run once ended at a daily mean of 208%) and the warm one is degenerate; the
    refit falls back, and no forecast or 5-day sum is absurd or infinite (arch
    8.0, scipy 1.17, BLAS on one thread)."""
    returns = real_returns[["IEF"]].loc["2016":].dropna()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow, even silenced
        forecast = forecast_variance(
            returns, load_model("egarch11-skewt"), horizon_days=5
        )
    fit = forecast.fits.set_index("date").loc["2019-08-01"]
    assert fit["status"] == "fallback"
    assert "a broken fit" in fit["reason"]
    cold = parse_chain(fit["attempts"])[1]
    assert cold == ("arch-cold", -3294.76, True)
    assert "broken" in fit["attempts"].split(">")[1]
    for frame in (forecast.variance, forecast.horizon_variance):
        values = frame.to_numpy()[~np.isnan(frame.to_numpy())]
        assert np.isfinite(values).all()
        assert values.max() < 1.0 * 5  # was 1.6e304 a day, and inf over 5 days
    sound = forecast.fits[forecast.fits["status"] != "fallback"]
    assert (sound["mu"].abs() < 1.0).all()  # percent a day


def test_egarch_on_a_flat_stretch_falls_back_with_finite_sums() -> None:
    """A window with 50 equal returns: EGARCH's fit (alpha about 10) has 3-day
    terms that overflow; it is recorded and replaced, the sums stay finite."""
    rng = np.random.default_rng(3)
    values = rng.standard_t(6, 250) * 0.01
    values[100:150] = 0.0
    dates = pd.bdate_range("2021-01-04", periods=250)
    spec = ModelSpec(
        name="flat-egarch",
        family="egarch",
        window_days=150,
        min_window_days=100,
        refit_every_days=100,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        forecast = forecast_variance(
            pd.DataFrame({"FLAT": values}, index=dates), spec, horizon_days=3
        )
    assert np.isfinite(forecast.horizon_variance.to_numpy()[1:]).all()
    assert forecast.horizon_variance.to_numpy()[1:].max() < 0.1**2 * 3
    replaced = forecast.fits[forecast.fits["status"] == "fallback"]
    recorded = {e.date for e in refit_events(forecast)}
    assert set(replaced["date"]) <= recorded
    assert (forecast.fits.loc[forecast.fits["status"] == "ok", "alpha[1]"] < 5).all()


def test_a_filtered_variance_outside_arch_bounds_is_a_breakdown(
    real_returns: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path that leaves arch's variance bounds 20 rows after the refit falls
    back from that row, recorded there; earlier rows keep the filter."""
    spec = replace(GARCH, **ONE_REFIT)
    returns = spy_window(real_returns, 300).to_frame()
    sound = forecast_variance(returns, spec)
    family = type(families.family_of(spec))
    honest = family.filter

    def blows_up(self: Any, resids: np.ndarray, core: Any, first: float) -> Any:
        path = honest(self, resids, core, first)
        path[20:] = 1e30
        return path

    monkeypatch.setattr(family, "filter", blows_up)
    broken = forecast_variance(returns, spec)
    (event,) = [e for e in refit_events(broken) if e.details["method"] == "filter"]
    assert event.date == returns.index[249 + 20]
    assert re.search(
        r"filtered variance 1e\+30 is outside arch's variance bounds", event.message
    )
    np.testing.assert_array_equal(broken.variance[:269], sound.variance[:269])
    fallback = ewma_variance(returns.to_numpy(), spec.fallback_decay)[269:, 0]
    np.testing.assert_allclose(broken.variance.iloc[269:, 0], fallback, rtol=1e-12)


# --- the previous calendar month's realised variance (Moreira and Muir) -------------


def _month_rv(returns: pd.Series) -> pd.Series:
    """Independent: each calendar month's demeaned sum of squared returns, by pandas."""
    by_month = returns.groupby(returns.index.to_period("M"))
    return by_month.apply(lambda month: ((month - month.mean()) ** 2).sum())


@pytest.mark.parametrize("asset", ["SPY", "BTC_USD"])
def test_realised_month_is_the_previous_months_demeaned_sum(
    real_returns: pd.DataFrame, asset: str
) -> None:
    forecast = forecast_variance(real_returns, load_model("realised-month"))
    returns = real_returns[asset].dropna()
    rv = _month_rv(returns) / 21.0
    rows = returns.groupby(returns.index.to_period("M"))
    last_rows = rows.apply(lambda month: month.index[-1]).iloc[:-1]  # complete months
    middle_rows = rows.apply(lambda month: month.index[len(month) // 2]).iloc[1:]
    variance = forecast.variance[asset]
    # at a month's last close the forecast already holds that month (tolerance 1e-15)
    np.testing.assert_allclose(
        variance.loc[last_rows.to_numpy()], rv.iloc[:-1], rtol=1e-12, atol=1e-15
    )
    # within a month, the previous month's
    np.testing.assert_allclose(
        variance.loc[middle_rows.to_numpy()], rv.shift(1).iloc[1:], rtol=1e-12
    )
    np.testing.assert_array_equal(forecast.horizon_variance, forecast.variance)
    assert forecast.fits.empty
    assert forecast.events == ()


def test_realised_month_closes_on_the_last_session_and_keeps_a_thin_month() -> None:
    # NYSE sessions of June to October 2024: weekdays less three holidays
    holidays = pd.to_datetime(["2024-06-19", "2024-07-04", "2024-09-02"])
    sessions = pd.bdate_range("2024-06-03", "2024-10-31").difference(holidays)
    rng = np.random.default_rng(7)
    returns = pd.DataFrame(
        rng.normal(0.0, 0.01, (sessions.size, 2)), index=sessions, columns=["A", "B"]
    )
    # B has one return in August: a month too thin to measure keeps July's
    august = returns.index.to_period("M") == pd.Period("2024-08", "M")
    returns.loc[august, "B"] = np.nan
    returns.loc[pd.Timestamp("2024-08-15"), "B"] = 0.02
    spec = ModelSpec(name="m", family="realised_month")
    variance = forecast_variance(returns, spec).variance
    rv = {a: _month_rv(returns[a].dropna()) / 21.0 for a in "AB"}
    # 2024-08-30, a Friday, is August's last session (the 31st is a Saturday)
    friday = pd.Timestamp("2024-08-30")
    assert variance.loc[friday, "A"] == pytest.approx(rv["A"]["2024-08"], rel=1e-12)
    assert variance.loc[pd.Timestamp("2024-08-29"), "A"] == pytest.approx(
        rv["A"]["2024-07"], rel=1e-12
    )
    assert variance.loc[friday, "B"] == pytest.approx(rv["B"]["2024-07"], rel=1e-12)
    assert variance.loc[pd.Timestamp("2024-09-30"), "B"] == pytest.approx(
        rv["B"]["2024-09"], rel=1e-12
    )
    # before the first complete month: the mean squared return so far
    june = returns.loc[:"2024-06-27", "A"]
    assert variance.loc[june.index[-1], "A"] == pytest.approx(
        (june**2).mean(), rel=1e-12
    )


# --- refits on calendar dates -----------------------------------------------------


def _weekday_panel(first: str, last: str, seed: int) -> pd.DataFrame:
    """Weekday returns (holidays included, as a price file may print them)."""
    dates = pd.bdate_range(first, last)
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"A": rng.standard_t(5, dates.size) * 0.01}, index=dates)


def test_calendar_refits_fall_on_the_nyse_period_closes() -> None:
    """Checked by hand on the NYSE calendar of 2023-2024.

    Quarter closes: 2023-12-29 (the 30th and 31st are a weekend), 2024-03-28 (Good
    Friday the 29th is a holiday: the weekday row of the 29th, present in the
    data, is no session and closes nothing), 2024-06-28 (missing from the data: the
    first row after it, 2024-07-01, refits), 2024-09-30, 2024-12-31. The first fit
    needs 250 observations, reached in December 2023.
    """
    panel = _weekday_panel("2023-01-02", "2024-12-31", seed=3)
    panel = panel.drop(pd.Timestamp("2024-06-28"))
    spec = replace(GARCH, refit_on="quarter_end")
    forecast = forecast_variance(panel, spec)
    expected = ["2023-12-29", "2024-03-28", "2024-07-01", "2024-09-30", "2024-12-31"]
    assert list(forecast.fits["date"]) == list(pd.to_datetime(expected))
    assert panel.index[spec.min_window_days - 1] < pd.Timestamp("2023-12-29")
    months = forecast_variance(panel, replace(spec, refit_on="month_end")).fits
    # month closes of 2024 on the NYSE: the last weekday of each month but March
    closes = pd.to_datetime(
        [
            *("2023-12-29", "2024-01-31", "2024-02-29", "2024-03-28", "2024-04-30"),
            *("2024-05-31", "2024-07-01", "2024-07-31", "2024-08-30", "2024-09-30"),
            *("2024-10-31", "2024-11-29", "2024-12-31"),
        ]
    )
    assert list(months["date"]) == list(closes)
    years = forecast_variance(panel, replace(spec, refit_on="year_end")).fits
    assert list(years["date"]) == list(pd.to_datetime(["2023-12-29", "2024-12-31"]))


def test_calendar_refits_are_point_in_time() -> None:
    """Cutting the data short leaves every earlier forecast and fit identical
    (bit for bit): a period's close is the calendar's, not the next row's; the
    cut falls on 2015-12-30, the day before the year's close."""
    returns = sp500.load()["Adj Close"].pct_change().dropna().loc["2008":"2016"]
    panel = returns.to_frame("SP500")
    spec = replace(load_model("garch11-t"), refit_on="year_end", window_days=750)
    full = forecast_variance(panel, spec, horizon_days=5)
    cut = pd.Timestamp("2015-12-30")
    short = forecast_variance(panel.loc[:cut], spec, horizon_days=5)
    pd.testing.assert_frame_equal(short.variance, full.variance.loc[:cut])
    pd.testing.assert_frame_equal(
        short.horizon_variance, full.horizon_variance.loc[:cut]
    )
    pd.testing.assert_frame_equal(
        short.fits, full.fits[full.fits["date"] <= cut].reset_index(drop=True)
    )
    assert pd.Timestamp("2015-12-31") in set(full.fits["date"])


def test_year_end_refits_reach_arch_fits_of_the_same_windows() -> None:
    """garch11-t refitted at each NYSE year close on arch's S&P 500 (1999-2018,
    every session present): the refits are the data's last rows of each year from
    the 250th observation, and each reaches arch's cold fit of the same trailing
    window (log-likelihood not below arch's by more than 1e-6 relative, forecast at
    the refit date equal to arch's fix() at our parameters to 1e-9 relative; see
    `assert_refits_reach_arch`)."""
    returns = sp500.load()["Adj Close"].pct_change().dropna()
    spec = replace(load_model("garch11-t"), refit_on="year_end")
    forecast = forecast_variance(returns.to_frame("SP500"), spec)
    last_rows = returns.groupby(returns.index.year).tail(1).index
    first_fit = returns.index[spec.min_window_days - 1]
    assert list(forecast.fits["date"]) == list(last_rows[last_rows >= first_fit])
    ends = [int(returns.index.get_loc(d)) for d in forecast.fits["date"]]
    assert_refits_reach_arch(forecast, returns.to_numpy() * PERCENT, ends)
