"""riskengine.volatility.fast_fit against direct arch calls on real percent returns.

Windows are 1000 trading days of simple returns x 100: five per asset for SPY,
GLD, BTC_USD and TLT (each on its own non-NaN dates) and four of arch's bundled
S&P 500 series. Every assert states its tolerance.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest
from arch import arch_model
from arch.data import sp500
from arch.univariate import GARCH
from arch.univariate.base import ARCHModel
from scipy import special
from scipy.signal import lfilter

from riskengine.errors import DataError
from riskengine.volatility import _kernels, _refit_kernels, fast_fit

WINDOW = 1000
MODELS = list(
    itertools.product(("garch", "gjr"), ("normal", "t"), ("zero", "constant"))
)
MODEL_IDS = ["-".join(m) for m in MODELS]
# A plausible point away from any optimum: mu, omega, alpha, gamma, beta, nu.
FULL_PARAMS = {
    "mu": 0.04,
    "omega": 0.03,
    "alpha[1]": 0.07,
    "gamma[1]": 0.06,
    "beta[1]": 0.86,
    "nu": 6.5,
}


@pytest.fixture(scope="module")
def windows(real_prices_raw: pd.DataFrame) -> dict[str, np.ndarray]:
    out = {}
    for asset in ("SPY", "GLD", "BTC_USD", "TLT"):
        returns = 100.0 * real_prices_raw[asset].dropna().pct_change().dropna()
        for i, end in enumerate(np.linspace(WINDOW, returns.size, 5).astype(int)):
            out[f"{asset}/{i}"] = returns.to_numpy()[end - WINDOW : end]
    prices = sp500.load()["Adj Close"]
    returns = 100.0 * prices.pct_change().dropna()
    for i, end in enumerate(np.linspace(WINDOW, returns.size, 4).astype(int)):
        out[f"SP500/{i}"] = returns.to_numpy()[end - WINDOW : end]
    return out


def arch_reference(y: np.ndarray, vol: str, dist: str, mean: str) -> ARCHModel:
    return arch_model(
        y,
        mean="Constant" if mean == "constant" else "Zero",
        vol="GARCH",
        p=1,
        o=int(vol == "gjr"),
        q=1,
        dist=dist,
    )


def model_params(vol: str, dist: str, mean: str) -> np.ndarray:
    names = [
        n
        for n in FULL_PARAMS
        if (n != "mu" or mean == "constant")
        and (n != "gamma[1]" or vol == "gjr")
        and (n != "nu" or dist == "t")
    ]
    return np.array([FULL_PARAMS[n] for n in names])


@pytest.mark.parametrize(("vol", "dist", "mean"), MODELS, ids=MODEL_IDS)
def test_loglikelihood_at_fixed_params_equals_arch(
    windows: dict[str, np.ndarray], vol: str, dist: str, mean: str
) -> None:
    """Relative tolerance 1e-9, at a generic point and at arch's own optimum."""
    for key in ("SPY/4", "BTC_USD/2", "SP500/3"):
        y = windows[key]
        model = arch_reference(y, vol, dist, mean)
        generic = model_params(vol, dist, mean)
        optimum = model.fit(disp="off").params.to_numpy()
        for params in (generic, optimum):
            ours, _ = fast_fit.loglikelihood_and_gradient(
                y, params, vol=vol, dist=dist, mean=mean
            )
            theirs = model.fix(params).loglikelihood
            assert ours == pytest.approx(theirs, rel=1e-9), (key, params)


@pytest.mark.parametrize(("vol", "dist", "mean"), MODELS, ids=MODEL_IDS)
def test_analytic_gradient_matches_central_differences(
    windows: dict[str, np.ndarray], vol: str, dist: str, mean: str
) -> None:
    """Each component to 1e-5 relative (none is near zero at this point)."""
    y = windows["GLD/2"]
    params = model_params(vol, dist, mean)
    _, grad = fast_fit.loglikelihood_and_gradient(
        y, params, vol=vol, dist=dist, mean=mean
    )
    numeric = np.empty_like(params)
    for i in range(params.size):
        step = np.zeros_like(params)
        step[i] = 1e-6 * max(abs(params[i]), 1e-2)
        up, _ = fast_fit.loglikelihood_and_gradient(
            y, params + step, vol=vol, dist=dist, mean=mean
        )
        down, _ = fast_fit.loglikelihood_and_gradient(
            y, params - step, vol=vol, dist=dist, mean=mean
        )
        numeric[i] = (up - down) / (2.0 * step[i])
    np.testing.assert_allclose(grad, numeric, rtol=1e-5)


def assert_fit_matches_arch(y: np.ndarray, vol: str, dist: str, mean: str) -> None:
    """Against arch's own fit of the window, on what is well defined.

    arch's log-likelihood at our parameters (its fix()) is never below its own
    fit's by more than 1e-6 relative, and our forecast is arch's fix() forecast at
    our parameters to 1e-9 relative. The two fits' parameters and forecasts are
    not compared: where the likelihood is flat (in nu, along the persistence
    ridge) they depend on where each optimiser stops.
    """
    model = arch_reference(y, vol, dist, mean)
    result = model.fit(disp="off")
    fit = fast_fit.fit(y, vol=vol, dist=dist, mean=mean)
    assert fit.converged, fit.message
    assert fit.param_names == tuple(result.params.index)
    ours = model.fix(fit.params)
    shortfall = (result.loglikelihood - ours.loglikelihood) / abs(result.loglikelihood)
    assert shortfall <= 1e-6
    forecast = ours.forecast(horizon=1).variance.iloc[-1, 0]
    assert fit.forecast_variance == pytest.approx(forecast, rel=1e-9)


def test_garch_t_constant_fit_matches_arch_on_every_window(
    windows: dict[str, np.ndarray],
) -> None:
    for key, y in windows.items():
        try:
            assert_fit_matches_arch(y, "garch", "t", "constant")
        except AssertionError as error:
            error.add_note(f"window {key}")
            raise


@pytest.mark.parametrize(("vol", "dist", "mean"), MODELS, ids=MODEL_IDS)
def test_every_model_fit_matches_arch(
    windows: dict[str, np.ndarray], vol: str, dist: str, mean: str
) -> None:
    for key in ("SPY/4", "TLT/2", "BTC_USD/3"):
        try:
            assert_fit_matches_arch(windows[key], vol, dist, mean)
        except AssertionError as error:
            error.add_note(f"window {key}")
            raise


@pytest.mark.parametrize(("vol", "dist", "mean"), MODELS, ids=MODEL_IDS)
def test_filter_variance_equals_arch_fix(
    windows: dict[str, np.ndarray], vol: str, dist: str, mean: str
) -> None:
    """Path to 1e-10 relative; the forecast to 1e-9 (arch rebuilds its backcast
    at the given mu for forecasting, a difference damped by beta^1000)."""
    y = windows["BTC_USD/2"]
    params = model_params(vol, dist, mean)
    fixed = arch_reference(y, vol, dist, mean).fix(params)
    path = fast_fit.filter_variance(y, params, vol=vol, dist=dist, mean=mean)
    assert path.shape == (y.size + 1,)
    np.testing.assert_allclose(path[:-1], fixed.conditional_volatility**2, rtol=1e-10)
    forecast = fixed.forecast(horizon=1).variance.iloc[-1, 0]
    assert path[-1] == pytest.approx(forecast, rel=1e-9)


def test_filter_variance_starts_from_a_given_backcast(
    windows: dict[str, np.ndarray],
) -> None:
    y = windows["SPY/4"]
    params = model_params("gjr", "t", "constant")
    path = fast_fit.filter_variance(y, params, vol="gjr", backcast=4.0)
    _, omega, alpha, gamma, beta, _ = params
    assert path[0] == pytest.approx(omega + (alpha + gamma / 2 + beta) * 4.0, rel=1e-15)
    default = fast_fit.filter_variance(y, params, vol="gjr")
    assert path[-1] == pytest.approx(default[-1], rel=1e-9)  # start-up forgotten


@pytest.mark.parametrize("vol", ["garch", "gjr"])
def test_cold_start_is_archs_grid_choice(vol: str) -> None:
    """arch's starting values (its grid's best point) to 1e-14, the mean to 1e-12.

    Six windows of arch's bundled S&P 500 series, on which arch's grid picks at
    least three different points (alpha, gamma, persistence); riskengine sums the
    grid's likelihoods for all points at once, arch one point at a time.
    """
    returns = 100.0 * sp500.load()["Adj Close"].pct_change().dropna().to_numpy()
    free = np.array([0, 1, 2, 3, 4, 5] if vol == "gjr" else [0, 1, 2, 4, 5])
    picked = set()
    for end in np.linspace(WINDOW, returns.size, 6).astype(int):
        y = returns[end - WINDOW : end]
        ours = _kernels.cold_start(y, free, _kernels.sample_startup(y, free))
        theirs = GARCH(1, int(vol == "gjr"), 1).starting_values(y - y.mean())
        np.testing.assert_allclose(ours[1:-1], theirs, rtol=1e-14)
        assert ours[0] == pytest.approx(y.mean(), rel=1e-12)
        picked.add(tuple(theirs[1:]))
    assert len(picked) >= 3  # the windows exercise different grid points


def test_warm_start_from_neighbouring_window_reaches_the_same_optimum(
    real_prices_raw: pd.DataFrame,
) -> None:
    """Loglikelihood to 1e-10 relative, parameters to 1e-4 (nu to 1e-3) absolute.

    GJR's maximum here has alpha = 0 (gamma carries all the ARCH effect): a warm
    fit ending on that bound is checked from the cold start, so it costs more.
    """
    returns = (100.0 * real_prices_raw["SPY"].dropna().pct_change().dropna()).to_numpy()
    for vol in ("garch", "gjr"):
        previous = fast_fit.fit(returns[-WINDOW - 5 : -5], vol=vol)
        cold = fast_fit.fit(returns[-WINDOW:], vol=vol)
        warm = fast_fit.fit(returns[-WINDOW:], vol=vol, starting_values=previous.params)
        assert warm.converged, warm.message
        if vol == "garch":
            assert (warm.message, warm.on_bounds) == ("warm start", ())
            assert warm.n_evals < cold.n_evals
        else:
            assert warm.on_bounds == ("alpha[1] >= 0",)
            assert "warm start ended on a bound" in warm.message
        assert warm.loglikelihood == pytest.approx(cold.loglikelihood, rel=1e-10)
        atol = np.where(np.array(warm.param_names) == "nu", 1e-3, 1e-4)
        assert np.all(np.abs(warm.params - cold.params) <= atol), (warm, cold)


def test_warm_start_stuck_at_alpha_zero_is_rechecked_from_the_cold_start(
    real_prices_raw: pd.DataFrame,
) -> None:
    """SLV, window to 2018-10-17: a warm start at alpha = 0 is held at a local maximum.

    From there the optimiser stays on the alpha >= 0 bound (llf -1652.25); fit
    then also runs arch's cold start and keeps the better, interior maximum
    (-1651.78, arch's too), to 1e-10.
    """
    returns = 100.0 * real_prices_raw["SLV"].dropna().pct_change().dropna()
    end = returns.index.get_loc(pd.Timestamp("2018-10-17")) + 1
    y = returns.to_numpy()[end - WINDOW : end]
    stuck = np.array([0.00319, 0.00343, 0.0, 0.99672, 3.9241])
    free = fast_fit._free_positions("garch", "t", "constant")
    a_mat, b_fixed, b_scaled, _ = fast_fit._constraint_template(tuple(free))
    sample = _kernels.sample_startup(y, free)
    hessian = _kernels.hessian(y, free, True, sample, stuck)
    local = _kernels.fit_from(
        y,
        free,
        True,
        sample,
        stuck,
        _refit_kernels.positive_inverse(hessian),
        a_mat,
        (b_fixed, b_scaled),
        fast_fit._TOLERANCES,
        200,
        False,
        -np.inf,
    )
    warm = fast_fit.fit(y, starting_values=stuck)
    cold = fast_fit.fit(y)
    assert local[0][2] < 1e-6
    assert local[1] < warm.loglikelihood - 0.4
    assert warm.message.startswith("cold start (warm start ended on a bound)")
    stuck_run, cold_run = warm.attempts
    assert (stuck_run.start, stuck_run.kept, cold_run.start, cold_run.kept) == (
        "warm",
        False,
        "cold",
        True,
    )
    assert stuck_run.loglikelihood < cold_run.loglikelihood - 0.4
    assert cold_run.loglikelihood == warm.loglikelihood
    assert warm.loglikelihood == pytest.approx(cold.loglikelihood, rel=1e-10)
    assert warm.params[2] > 0.01
    assert warm.on_bounds == ()


def test_fit_reports_the_bounds_it_ends_on(windows: dict[str, np.ndarray]) -> None:
    """BTC's third window: the maximum is on the unit root (to 1e-12).

    arch's own fit is no better (1e-6 relative), and in arch's fix() lowering
    alpha or beta by 1e-4 from our maximum lowers the log-likelihood: the unit
    root binds. TLT's first: on omega's and alpha's lower bounds (a constant
    variance).
    """
    y = windows["BTC_USD/2"]
    model = arch_reference(y, "garch", "t", "constant")
    result = model.fit(disp="off")
    fit = fast_fit.fit(y)
    assert fit.on_bounds == ("alpha[1] + gamma[1]/2 + beta[1] <= 1",)
    assert fit.params[2] + fit.params[3] == pytest.approx(1.0, abs=1e-12)
    assert fit.loglikelihood >= result.loglikelihood - 1e-6 * abs(result.loglikelihood)
    at_maximum = model.fix(fit.params).loglikelihood
    for position in (2, 3):  # alpha, beta
        inside = fit.params.copy()
        inside[position] -= 1e-4
        assert model.fix(inside).loglikelihood < at_maximum
    assert fast_fit.fit(windows["TLT/0"]).on_bounds == (
        "omega >= 1e-08 * mean(resid**2)",
        "alpha[1] >= 0",
    )


def test_warm_start_with_the_previous_inverse_hessian_needs_few_evaluations(
    real_prices_raw: pd.DataFrame,
) -> None:
    """Weekly refits of SPY: the same optimum (1e-10 relative) in <= 8 evaluations."""
    returns = (100.0 * real_prices_raw["SPY"].dropna().pct_change().dropna()).to_numpy()
    previous = fast_fit.fit(returns[-WINDOW - 25 : -25])
    for end in range(returns.size - 20, returns.size + 1, 5):
        y = returns[end - WINDOW : end]
        warm = fast_fit.fit(
            y,
            starting_values=previous.params,
            inverse_hessian=previous.inverse_hessian,
            faces=previous.faces,
        )
        cold = fast_fit.fit(y)
        assert warm.message == "warm start"
        assert [(run.start, run.kept) for run in warm.attempts] == [("warm", True)]
        assert warm.n_evals <= 8
        assert warm.loglikelihood == pytest.approx(cold.loglikelihood, rel=1e-10)
        previous = warm


def test_digamma_matches_scipy() -> None:
    """To 1e-13 relative over the range nu / 2 takes (nu in [2.05, 500])."""
    points = np.geomspace(1.0, 300.0, 60)
    ours = np.array([_kernels.digamma(x) for x in points])
    np.testing.assert_allclose(ours, special.digamma(points), rtol=1e-13, atol=1e-15)


def test_infeasible_starting_values_fall_back_to_the_cold_start(
    windows: dict[str, np.ndarray],
) -> None:
    y = windows["GLD/2"]
    cold = fast_fit.fit(y)
    nonstationary = np.array([0.0, 0.02, 0.2, 0.9, 8.0])
    fit = fast_fit.fit(y, starting_values=nonstationary)
    np.testing.assert_array_equal(fit.params, cold.params)
    assert [(run.start, run.note, run.kept) for run in fit.attempts] == [
        ("warm", "breaks a constraint", False),
        ("cold", "", True),
    ]


def test_fit_is_deterministic_and_frozen(windows: dict[str, np.ndarray]) -> None:
    y = windows["TLT/2"]
    first, second = fast_fit.fit(y, vol="gjr"), fast_fit.fit(y, vol="gjr")
    np.testing.assert_array_equal(first.params, second.params)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.loglikelihood = 0.0  # type: ignore[misc]


def test_invalid_inputs_are_named() -> None:
    y = np.random.default_rng(0).standard_normal(500)
    with pytest.raises(DataError, match=r"y: .* 1 non-finite"):
        fast_fit.fit(np.append(y, np.nan))
    with pytest.raises(ValueError, match="vol='egarch'"):
        fast_fit.fit(y, vol="egarch")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"params: expected 5 values"):
        fast_fit.filter_variance(y, np.array([0.1, 0.1, 0.8]))
    with pytest.raises(ValueError, match="backcast: must be a positive"):
        fast_fit.filter_variance(y, np.array([0.0, 0.1, 0.1, 0.8, 8.0]), backcast=0.0)
    with pytest.raises(DataError, match="y: returns are all equal"):
        fast_fit.fit(np.full(500, 0.1))


def synthetic_returns(kind: str, seed: int, size: int) -> np.ndarray:
    """Percent returns of the benchmark's synthetic shapes (legacy, stable stream).

    ``"flat"``: i.i.d. Student-t(5) of unit variance, no volatility clustering (the
    GARCH likelihood is flat near alpha = 0); ``"regime"``: a 2-state Markov
    volatility (0.6 and 1.8, staying with probability 0.995 and 0.98), t(6) shocks.
    """
    rng = np.random.RandomState(seed)
    if kind == "flat":
        return rng.standard_t(5, size) / np.sqrt(5.0 / 3.0)
    stay, vols = (0.995, 0.98), (0.6, 1.8)
    state, out = 0, np.empty(size)
    for t in range(size):
        if rng.random_sample() >= stay[state]:
            state = 1 - state
        out[t] = vols[state] * rng.standard_t(6) / np.sqrt(1.5)
    return out


def boundary_checks(y_all: np.ndarray) -> list[tuple[float, float, float]]:
    """Weekly warm refits over `y_all`; where the warm start ended on a bound:
    (arch's log-likelihood, the fit's, the warm run's alone)."""
    previous, rows, faces = None, [], None
    for end in range(WINDOW, y_all.size + 1, 5):
        y = y_all[end - WINDOW : end]
        fit = fast_fit.fit(
            y,
            starting_values=None if previous is None else previous.params,
            inverse_hessian=None if previous is None else previous.inverse_hessian,
            faces=faces,
        )
        faces = fit.faces
        if fit.converged:
            previous = fit
        if "warm start ended on a bound" not in fit.message:
            continue
        warm = fit.attempts[0]
        assert warm.start == "warm"
        assert fit.loglikelihood == max(run.loglikelihood for run in fit.attempts)
        reference = arch_reference(y, "garch", "t", "constant").fit(disp="off")
        rows.append((reference.loglikelihood, fit.loglikelihood, warm.loglikelihood))
    return rows


def test_boundary_fits_on_a_regime_panel_reach_arch_maximum() -> None:
    """2-state volatility, 150 weekly refits: each of the 34 windows whose warm start
    ended on a bound (and was checked from arch's cold start) reaches arch's
    log-likelihood to 1e-6 relative."""
    rows = np.array(boundary_checks(synthetic_returns("regime", 9, WINDOW + 750)))
    assert len(rows) == 34
    arch_llf, ours, _ = rows.T
    assert np.all((arch_llf - ours) / np.abs(arch_llf) <= 1e-6)


def test_boundary_fits_on_a_flat_panel_are_rescued_by_the_cold_check() -> None:
    """i.i.d. t(5), 150 weekly refits, 131 of them ending on a bound (alpha = 0 or
    beta = 0) from their warm start.

    The warm run alone stops below arch's maximum (by more than 1e-6 relative) on
    13 windows (arch 8.0, scipy 1.17); the check from arch's cold start and the
    faces' maxima lift all to it (without the faces, 2 stayed below, by at most
    1e-4 relative). The counts against arch are asserted with room for arch's
    releases.
    """
    rows = np.array(boundary_checks(synthetic_returns("flat", 0, WINDOW + 750)))
    assert len(rows) == 131
    arch_llf, ours, warm = rows.T
    below = (arch_llf - ours) / np.abs(arch_llf)
    warm_below = (arch_llf - warm) / np.abs(arch_llf)
    assert np.sum(warm_below > 1e-6) >= 10
    assert np.sum(below > 1e-6) <= 1
    assert below.max() <= 1e-4


def test_path_bounds_carry_archs_bounds_forward_point_in_time() -> None:
    """On the fit window's last row the bounds are arch's own for its next forecast
    (`variance_bounds` of the window with one more, zero, residual); after it, an
    independent pandas/scipy computation: the EWMA of squares from arch's backcast
    (scipy's lfilter), their running maximum, the window's variance (numpy)."""
    rng = np.random.default_rng(3)
    window, resids = 1000, rng.standard_t(4, size=1040) * 1.3
    resids[1010] = 25.0  # a shock after the window moves the upper bound
    lower, upper = _kernels.path_bounds(resids, window)
    assert lower.shape == upper.shape == (41,)
    start = _kernels.backcast(resids[:window])
    own_lower, own_upper = _kernels.variance_bounds(
        np.append(resids[:window], 0.0), start
    )
    np.testing.assert_allclose(
        [lower[0], upper[0]], [own_lower[-1], own_upper[-1]], rtol=1e-12
    )
    squares = resids**2
    ewma = lfilter([0.06], [1.0, -0.94], squares, zi=[0.94 * start])[0][window - 1 :]
    largest = np.maximum.accumulate(squares)[window - 1 :]
    np.testing.assert_allclose(
        lower, np.maximum(ewma / 1e6, np.var(resids[:window]) / 1e8), rtol=1e-12
    )
    np.testing.assert_allclose(
        upper,
        np.minimum(np.maximum(ewma * 1e6, 1.0 + largest), 1e7 * (1.0 + largest)),
        rtol=1e-12,
    )
    assert upper[12] > upper[10]  # the shock of row 1010 counts from row 1010 on


def loop_of_fits(
    y: np.ndarray, spans: list[tuple[int, int]], vol: str, bound_is_usable: bool
) -> list[fast_fit.GarchFit | None]:
    """`fast_fit.fit` window by window, warm from the last usable fit; None where
    `fit` refuses the window."""
    previous, fits, faces = None, [], None
    for first, last in spans:
        try:
            fit = fast_fit.fit(
                y[first : last + 1],
                vol=vol,  # type: ignore[arg-type]
                starting_values=None if previous is None else previous.params,
                inverse_hessian=None if previous is None else previous.inverse_hessian,
                faces=faces,
            )
        except DataError:
            fits.append(None)
            continue
        fits.append(fit)
        faces = fit.faces
        if fit.converged and (bound_is_usable or not fit.on_bounds):
            previous = fit
    return fits


def assert_same_fit(chained: fast_fit.GarchFit, single: fast_fit.GarchFit) -> None:
    for field in dataclasses.fields(single):
        ours, theirs = getattr(chained, field.name), getattr(single, field.name)
        if field.name == "faces":
            for mine, reference in zip(ours, theirs, strict=True):
                np.testing.assert_array_equal(mine, reference)
        elif isinstance(theirs, np.ndarray):
            np.testing.assert_array_equal(ours, theirs)
        else:
            assert ours == theirs or (ours != ours and theirs != theirs), field.name


@pytest.mark.parametrize("vol", ["garch", "gjr"])
@pytest.mark.parametrize("bound_is_usable", [True, False])
def test_a_chain_of_fits_equals_fit_window_by_window(
    vol: str, bound_is_usable: bool
) -> None:
    """60 weekly windows of a flat panel, half of whose fits end on a bound: every
    field of every fit equal, bit for bit, to `fit` called in a loop."""
    y = synthetic_returns("flat", 4, WINDOW + 300)
    spans = [(end - WINDOW, end - 1) for end in range(WINDOW, y.size + 1, 5)]
    singles = loop_of_fits(y, spans, vol, bound_is_usable)
    chained = fast_fit.fit_chain(
        y,
        np.array([first for first, _ in spans]),
        np.array([last for _, last in spans]),
        vol=vol,  # type: ignore[arg-type]
        bound_is_usable=bound_is_usable,
    )
    assert len(chained) == len(spans) == 61
    assert sum(bool(fit.on_bounds) for fit in chained) >= 20
    for ours, theirs in zip(chained, singles, strict=True):
        assert theirs is not None
        assert_same_fit(ours, theirs)


def test_a_chain_stops_before_a_refused_window_and_after_a_failed_fit() -> None:
    """50-day windows over a constant stretch: the chain stops before each window
    `fit` refuses (all zeros) and after each fit that does not converge (kept);
    restarted after them from the last converged fit, the chains give `fit`'s
    fits, bit for bit."""
    rng = np.random.default_rng(5)
    y = np.concatenate([rng.standard_t(5, 300), np.zeros(60), rng.standard_t(5, 200)])
    spans = [(end - 50, end - 1) for end in range(250, y.size + 1, 10)]
    firsts, lasts = np.array(spans).T
    singles = loop_of_fits(y, spans, "garch", True)
    assert [i for i, fit in enumerate(singles) if fit is None] == [10, 11]
    chained: list[fast_fit.GarchFit | None] = []
    calls, previous, faces = [], None, None
    while len(chained) < len(spans):
        begun = len(chained)
        made = fast_fit.fit_chain(
            y,
            firsts[begun:],
            lasts[begun:],
            starting_values=None if previous is None else previous.params,
            inverse_hessian=None if previous is None else previous.inverse_hessian,
            faces=faces,
        )
        calls.append((begun, len(made)))
        chained += made if made else [None]  # none: the first window is refused
        previous = next((f for f in reversed(made) if f.converged), previous)
        faces = made[-1].faces if made else faces
    assert calls[:3] == [(0, 10), (10, 0), (11, 0)]
    failed = [i for i, fit in enumerate(chained) if fit and not fit.converged]
    assert failed == [12, 14]
    for begun, count in calls:  # each chain ends at the end, a failure or a refusal
        end = begun + count
        assert end == len(spans) or end - 1 in failed or singles[end] is None
    for ours, theirs in zip(chained, singles, strict=True):
        assert (ours is None) == (theirs is None)
        if ours is not None and theirs is not None:
            assert_same_fit(ours, theirs)


def test_a_face_reaches_archs_arch1_maximum_that_the_cold_run_misses() -> None:
    """i.i.d. t(5), the window ending at row 1200: arch's SLSQP ends on beta = 0 (an
    ARCH(1)), the run from arch's cold start on another maximum more than 1 lower;
    the run from the beta = 0 face reaches arch's (to 1e-9 relative)."""
    y = synthetic_returns("flat", 0, WINDOW + 400)[1200 - WINDOW : 1200]
    fit = fast_fit.fit(y)
    reference = arch_reference(y, "garch", "t", "constant").fit(disp="off")
    assert [(run.start, run.kept) for run in fit.attempts] == [
        ("cold", False),
        ("face", True),
    ]
    cold, face = fit.attempts
    assert cold.loglikelihood < reference.loglikelihood - 1.0
    assert fit.loglikelihood == pytest.approx(reference.loglikelihood, rel=1e-9)
    assert face.loglikelihood == fit.loglikelihood
    assert fit.on_bounds == ("beta[1] >= 0",)
    assert fit.message == "from a face's maximum (higher than the cold starts')"


def test_a_run_on_a_face_keeps_its_constraints_and_stops_below_its_floor() -> None:
    """From alpha = 0, beta = 1 and omega on its lower bound (the variance held at
    the backcast): held on that face, the run moves only the mean and nu; free, it
    leaves the face (here omega's bound) for a higher maximum; given a floor above
    its start, it stops after one evaluation."""
    y = synthetic_returns("flat", 0, WINDOW)
    free = fast_fit._free_positions("garch", "t", "constant")
    sample = _kernels.sample_startup(y, free)
    x = np.array([0.0, 1.0, 0.05, 0.9, 6.0])
    start = _refit_kernels.face_start(_refit_kernels.BACKCAST_HELD, free, x, 1.0)
    settings = fast_fit._settings(free)

    def run(on_face: bool, floor: float) -> tuple:
        return _kernels.fit_from(
            y, free, True, sample, start, np.eye(free.size), *settings, on_face, floor
        )

    held, llf, _, converged, evals, _, start_llf = run(True, -np.inf)
    assert converged
    assert evals > 1
    assert llf > start_llf
    assert abs(held[2]) <= 1e-12
    assert held[3] == pytest.approx(1.0, abs=1e-12)
    assert held[1] == pytest.approx(1e-8 * sample[3], rel=1e-9)
    assert (held[0], held[4]) != (start[0], start[4])
    free_x, free_llf, _, free_converged, _, _, _ = run(False, -np.inf)
    assert free_converged
    assert free_llf > llf
    on_face = (free_x[1] <= held[1] * (1 + 1e-9), free_x[2] <= 1e-12, free_x[3] >= 1.0)
    assert not all(on_face)
    stopped, stopped_llf, _, stopped_converged, one, _, _ = run(True, start_llf + 1.0)
    assert (one, stopped_converged, stopped_llf) == (1, False, start_llf)
    np.testing.assert_array_equal(stopped[[0, 2, 3, 4]], start[[0, 2, 3, 4]])
