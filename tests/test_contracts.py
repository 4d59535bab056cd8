"""The contract battery: every registered entry passes the same checks.

In the spirit of scikit-learn's ``parametrize_with_checks``: the cases come from the
code's registries (volatility models, trigger signals, base-weight rules,
correlation models, limits), never from the shipped TOML files, so a new entry is
enrolled by registering it. Each entry runs on small seeded panels (a clean one, and a
degenerate one with a constant stretch, a late-starting asset and missing prices)
through the engine's own door for its kind, and must be causal (by truncation and
by perturbation), deterministic, leave its inputs untouched, pickle (for Dask),
give finite outputs on degenerate input and record its fallback where it has one.
Every limit (`riskengine.policy.limits.LIMITS`) is judged and met on a small book:
its breach test agrees with how it is met (projection, scaling or cut), it is
deterministic, leaves its inputs untouched, pickles, stays finite on zero weights
and tiny variances, and its conflicts stop a run before any date, naming its field;
every field of the ``[limits]`` and ``[margin]`` tables is claimed by one limit.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import pickle
import re
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, get_args, get_type_hints

import numpy as np
import pandas as pd
import pytest

from riskengine import covariance
from riskengine.backtest import run_backtest
from riskengine.covariance import CORRELATIONS
from riskengine.data.prices import aligned_returns, make_market
from riskengine.errors import InfeasibleError, SpecError
from riskengine.events import Event, events_frame
from riskengine.policy import allocators
from riskengine.policy.allocators import BASE_RULES
from riskengine.policy.decision import PolicyAllocator
from riskengine.policy.limits import (
    BROKEN_TOL,
    LIMITS,
    SCALING_LIMITS,
    SLEEVE_RISK_CAPS,
    ScalingLimit,
    SleeveRiskCaps,
)
from riskengine.policy.optimizers import ConstrainedProblem
from riskengine.policy.signals import (
    SIGNALS,
    TERM_DAYS,
    term_volatility,
    trigger_signal,
)
from riskengine.policy.triggers import trigger_path
from riskengine.policy.weight_limits import WEIGHT_LIMITS, Book, Limit, WeightLimit
from riskengine.registry import Registry
from riskengine.specs import (
    CovarianceSpec,
    LimitsSpec,
    MarginSpec,
    ModelSpec,
    PolicySpec,
    RebalanceSpec,
    TargetSpec,
    TriggerSpec,
)
from riskengine.volatility import GARCH_FAMILIES, MODELS, forecast_variance
from riskengine.volatility.families import family_of
from riskengine.volatility.forecast import GarchModel

N_DAYS = 300
SLEEVES = {"SPY": "dm_equity", "TLT": "rates", "GLD": "safe_haven", "VIX": "volatility"}
INVESTABLE = ["SPY", "TLT", "GLD"]
EWMA = ModelSpec(name="contract-ewma", family="ewma")
TERM_MODEL = ModelSpec(
    name="contract-gjr",
    family="gjr",
    window_days=150,
    min_window_days=100,
    refit_every_days=100,
)
Outputs = dict[str, pd.DataFrame]
"""An entry's outputs, each indexed by date (events and fits by their date)."""


def _garch_returns(rng: np.random.Generator, daily_vol: float) -> np.ndarray:
    """GARCH(1,1) returns with Student-t shocks, long-run vol `daily_vol`."""
    alpha, beta = 0.08, 0.9
    omega = daily_vol**2 * (1.0 - alpha - beta)
    shocks = rng.standard_t(6, N_DAYS) / np.sqrt(6 / 4)
    out, variance = np.empty(N_DAYS), daily_vol**2
    for t in range(N_DAYS):
        out[t] = np.sqrt(variance) * shocks[t]
        variance = omega + alpha * out[t] ** 2 + beta * variance
    return out


def _clean_prices() -> pd.DataFrame:
    rng = np.random.default_rng(20261130)
    dates = pd.bdate_range("2021-01-04", periods=N_DAYS, name="date")
    columns = {
        asset: 100.0 * np.exp(np.cumsum(_garch_returns(rng, vol)))
        for asset, vol in zip(INVESTABLE, (0.012, 0.008, 0.01), strict=True)
    }
    vix = np.empty(N_DAYS)  # a mean-reverting index level around 20 points
    vix[0] = 20.0
    for t in range(1, N_DAYS):
        vix[t] = 20.0 + 0.95 * (vix[t - 1] - 20.0) + rng.normal(0.0, 1.2)
    return pd.DataFrame({**columns, "VIX": np.maximum(vix, 9.0)}, index=dates)


def _degenerate_prices() -> pd.DataFrame:
    """SPY flat for 50 days, GLD starting 70 days before the end, TLT with holes."""
    prices = _clean_prices()
    prices.iloc[100:150, 0] = prices.iloc[99, 0]
    prices.iloc[:230, 2] = np.nan
    holes = np.random.default_rng(7).choice(np.arange(1, N_DAYS), 15, replace=False)
    prices.iloc[holes, 1] = np.nan
    return prices


PANELS: dict[str, Callable[[], pd.DataFrame]] = {
    "clean": _clean_prices,
    "degenerate": _degenerate_prices,
}
CUTS = {"clean": (150, 240), "degenerate": (240, 270)}
"""Rows after which the future is dropped, and after which it is perturbed (GLD
starts at 230 in the degenerate panel)."""


def _events(events: tuple[Event, ...] | pd.DataFrame) -> pd.DataFrame:
    frame = events if isinstance(events, pd.DataFrame) else events_frame(events)
    return frame.assign(details=frame["details"].map(repr)).set_index("date")


def _upto(frame: pd.DataFrame, date: pd.Timestamp) -> pd.DataFrame:
    return frame[frame.index <= date]


def _assert_same(left: Outputs, right: Outputs) -> None:
    assert left.keys() == right.keys()
    for name in left:
        if left[name].empty and right[name].empty:  # no rows: no index type either
            assert list(left[name].columns) == list(right[name].columns), name
            continue
        pd.testing.assert_frame_equal(
            left[name], right[name], check_exact=True, obj=name
        )


def _assert_unchanged(before: Any, after: Any) -> None:
    """Deep equality of inputs: frames, arrays, dataclasses and mappings."""
    if isinstance(before, pd.DataFrame | pd.Series):
        if isinstance(before, pd.DataFrame):
            pd.testing.assert_frame_equal(before, after, check_exact=True)
        else:
            pd.testing.assert_series_equal(before, after, check_exact=True)
    elif isinstance(before, np.ndarray):
        np.testing.assert_array_equal(before, after)
    elif dataclasses.is_dataclass(before) and not isinstance(before, type):
        for field in dataclasses.fields(before):
            _assert_unchanged(getattr(before, field.name), getattr(after, field.name))
    elif isinstance(before, Mapping):
        assert before.keys() == after.keys()
        for key in before:
            _assert_unchanged(before[key], after[key])
    elif isinstance(before, tuple | list):
        assert len(before) == len(after)
        for a, b in zip(before, after, strict=True):
            _assert_unchanged(a, b)
    else:
        assert before == after


class Kind(ABC):
    """How the battery runs the entries of one registry through the engine's door."""

    name: str
    registry: Registry[Any]

    @abstractmethod
    def spec(self, entry: str) -> Any:
        """A spec that selects `entry`, with small windows."""

    @abstractmethod
    def inputs(self, prices: pd.DataFrame) -> tuple[Any, ...]:
        """What the entry's door reads, built from a price panel."""

    @abstractmethod
    def run(self, spec: Any, *inputs: Any) -> Outputs:
        """The entry's outputs on `inputs`."""

    @abstractmethod
    def assert_finite(self, outputs: Outputs, prices: pd.DataFrame) -> None:
        """Outputs are finite where they must be."""

    def assert_fallback_recorded(
        self, entry: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Forcing the entry onto its fallback leaves a record of it."""
        raise NotImplementedError(
            f"{self.name}: no way to force a fallback; add one for this kind"
        )

    def outputs(self, spec: Any, prices: pd.DataFrame) -> Outputs:
        return self.run(spec, *self.inputs(prices))


class Volatility(Kind):
    name = "volatility"
    registry = MODELS
    horizon = 3

    def spec(self, entry: str) -> ModelSpec:
        return ModelSpec(
            name=f"contract-{entry}",
            family=entry,
            window_days=150,
            min_window_days=100,
            refit_every_days=100,
        )

    def inputs(self, prices: pd.DataFrame) -> tuple[Any, ...]:
        return (aligned_returns(prices[INVESTABLE]),)

    def run(self, spec: Any, *inputs: Any) -> Outputs:
        forecast = forecast_variance(inputs[0], spec, horizon_days=self.horizon)
        return {
            "variance": forecast.variance,
            "horizon_variance": forecast.horizon_variance,
            "events": _events(forecast.events),
            "fits": forecast.fits.set_index("date"),
        }

    def assert_finite(self, outputs: Outputs, prices: pd.DataFrame) -> None:
        started = prices[INVESTABLE].notna().cummax().shift(1, fill_value=False)
        for name in ("variance", "horizon_variance"):
            values = outputs[name].to_numpy()
            known = started.reindex(outputs[name].index).to_numpy()
            assert np.isfinite(values[known]).all(), name
            assert (values[known] >= 0).all(), name
            assert np.isnan(values[~known]).all(), name

    def assert_fallback_recorded(
        self, entry: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # GLD has 69 returns in the degenerate panel, fewer than min_window_days
        outputs = _reference(self.name, entry, "degenerate")
        events, fits = outputs["events"], outputs["fits"]
        fallback = events[events["kind"] == "model_fallback"]
        assert "GLD" in set(fallback["subject"])
        replaced = fits[fits["status"] == "fallback"]
        recorded = set(zip(fallback["subject"], fallback.index, strict=True))
        assert set(zip(replaced["asset"], replaced.index, strict=True)) <= recorded


class Signals(Kind):
    name = "signal"
    registry = SIGNALS

    def spec(self, entry: str) -> TriggerSpec:
        enter, exit_ = _signal_thresholds(entry)
        return self._spec(entry, enter, exit_)

    @staticmethod
    def _spec(entry: str, enter: float, exit_: float) -> TriggerSpec:
        return TriggerSpec(
            name=f"contract-{entry}",
            watch_sleeves=("safe_haven", "volatility"),
            act_on_sleeves=("dm_equity",),
            enter_above=enter,
            exit_below=exit_,
            signal=entry,
            lookback_days=63,
            min_days_in_state=2,
        )

    def inputs(self, prices: pd.DataFrame) -> tuple[Any, ...]:
        returns = aligned_returns(prices)
        # GJR: a model whose term structure is not flat
        forecast = forecast_variance(returns, TERM_MODEL, horizon_days=TERM_DAYS)
        levels = prices.reindex(returns.index)
        term = term_volatility(forecast)
        return forecast.volatility, returns, levels, term, forecast.persistence

    def run(self, spec: Any, *inputs: Any) -> Outputs:
        vol, returns, levels, term, persistence = inputs
        signal = trigger_signal(spec, vol, returns, levels, SLEEVES, term, persistence)
        path = trigger_path(spec, signal)
        return {
            "signal": signal.to_frame("signal"),
            "state": pd.DataFrame(
                {"risk_off": path.risk_off, "multiplier": path.multiplier}
            ),
            "events": _events(path.events),
        }

    def assert_finite(self, outputs: Outputs, prices: pd.DataFrame) -> None:
        signal = outputs["signal"]["signal"]
        assert not np.isinf(signal).any()
        assert not np.isnan(signal.iloc[-1])  # a value once history suffices
        multiplier = outputs["state"]["multiplier"]
        assert multiplier.between(0.0, 1.0).all()


@functools.cache
def _signal_thresholds(entry: str) -> tuple[float, float]:
    """Thresholds the signal crosses on the clean panel (its 80% and 40% quantiles)."""
    kind = Signals()
    # the thresholds do not move the signal; 0.5 is a valid exit for every signal
    probe = kind.run(kind._spec(entry, 1.0, 0.5), *kind.inputs(_clean_prices()))
    signal = probe["signal"]["signal"]
    return float(signal.quantile(0.8)), float(signal.quantile(0.4))


TARGET_FIELDS: dict[str, dict[str, Any]] = {
    "fixed": {"sleeve_weights": {"dm_equity": 0.5, "rates": 0.3, "safe_haven": 0.2}},
    "per_asset_vol": {"asset_vol_annual": 0.1},
    "inverse_variance": {"asset_vol_annual": 0.1},
}
"""Fields a base-weight rule requires in its target (TargetSpec says which)."""
DECISION_EVENTS = ("solver_fallback", "solver_hold", "limit_conflict")


class BaseWeights(Kind):
    name = "base"
    registry = BASE_RULES

    def spec(self, entry: str) -> PolicySpec:
        return PolicySpec(
            name=f"contract-{entry}",
            description="contract battery",
            source="tests/test_contracts.py",
            model=EWMA,
            target=TargetSpec(
                base=entry,
                target_vol_annual=0.1,
                max_gross_leverage=2.0,
                **TARGET_FIELDS.get(entry, {}),
            ),
            rebalance=RebalanceSpec(frequency="daily", min_history_days=21),
        )

    def inputs(self, prices: pd.DataFrame) -> tuple[Any, ...]:
        return (make_market(prices, source="contract panel", sleeves=SLEEVES),)

    def run(self, spec: Any, *inputs: Any) -> Outputs:
        result = run_backtest(spec, inputs[0])
        events = _events(result.events)
        # the events a decision makes; the others come from the screen and the
        # universe, not from the rule
        events = events[events["kind"].isin(DECISION_EVENTS)]
        return {
            "weights": result.weights,
            "targets": result.targets,
            "decisions": result.decisions,
            "events": events,
        }

    def assert_finite(self, outputs: Outputs, prices: pd.DataFrame) -> None:
        for name in ("weights", "targets"):
            assert np.isfinite(outputs[name].to_numpy()).all(), name
        assert outputs["targets"].abs().to_numpy().sum(axis=1).max() <= 2.0 + 1e-9
        numbers = outputs["decisions"].select_dtypes("number").to_numpy()
        assert np.isfinite(numbers).all()

    def assert_fallback_recorded(
        self, entry: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def newton_fails(*args: Any, **kwargs: Any) -> np.ndarray:
            raise InfeasibleError("risk budgeting: Newton's method did not converge")

        spec, prices = self.spec(entry), _clean_prices().iloc[:120]
        expected = self.outputs(spec, prices)
        monkeypatch.setattr(allocators, "risk_budget_weights", newton_fails)
        outputs = self.outputs(spec, prices)
        events = outputs["events"]
        fallbacks = events[events["kind"] == "solver_fallback"]
        held = outputs["targets"].abs().sum(axis=1) > 0
        assert set(fallbacks.index) == set(held.index[held])
        assert fallbacks["message"].str.contains("solved with cvxpy").all()
        np.testing.assert_allclose(
            outputs["targets"], expected["targets"], rtol=0, atol=1e-4
        )


class Correlations(Kind):
    name = "correlation"
    registry = CORRELATIONS

    def spec(self, entry: str) -> CovarianceSpec:
        return CovarianceSpec(
            correlation=entry,
            correlation_half_life_days=21.0,
            dcc_window_days=250,
            dcc_refit_every_days=50,
        )

    def inputs(self, prices: pd.DataFrame) -> tuple[Any, ...]:
        returns = aligned_returns(prices[INVESTABLE])
        return returns, forecast_variance(returns, EWMA).volatility

    def run(self, spec: Any, *inputs: Any) -> Outputs:
        returns, vol = inputs
        model = CORRELATIONS.lookup(spec.correlation, "contract battery")
        rows = model.rows(returns.to_numpy(float), vol.to_numpy(float))
        state = model.start(spec, returns.shape[1])
        matrices = []
        for row in rows:
            state.update(row)
            matrices.append(state.matrix().ravel())
        refits = getattr(state, "refits_", [])
        return {
            "correlation": pd.DataFrame(matrices, index=returns.index),
            "refits": pd.DataFrame(
                {"outcome": [outcome for _, outcome in refits]},
                index=returns.index[[row - 1 for row, _ in refits]],
            ),
        }

    def assert_finite(self, outputs: Outputs, prices: pd.DataFrame) -> None:
        n = len(INVESTABLE)
        matrices = outputs["correlation"].to_numpy().reshape(-1, n, n)
        assert np.isfinite(matrices).all()
        np.testing.assert_allclose(np.diagonal(matrices, axis1=1, axis2=2), 1.0)
        np.testing.assert_allclose(matrices, matrices.transpose(0, 2, 1))
        assert np.linalg.eigvalsh(matrices).min() >= -1e-10

    def assert_fallback_recorded(
        self, entry: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(covariance, "fit_dcc", lambda *args, **kwargs: None)
        refits = self.outputs(self.spec(entry), _clean_prices())["refits"]
        outcomes = set(refits["outcome"])
        assert outcomes == {"too few complete rows", "optimizer failed"}


KINDS: tuple[Kind, ...] = (Volatility(), Signals(), BaseWeights(), Correlations())
_KIND = {kind.name: kind for kind in KINDS}


@functools.cache
def _reference(kind_name: str, entry: str, panel: str) -> Outputs:
    """The entry's outputs on a whole panel, computed once per session."""
    kind = _KIND[kind_name]
    return kind.outputs(kind.spec(entry), PANELS[panel]())


def _process_state() -> tuple[Any, ...]:
    """Process-wide state a run must leave alone: warning filters, numpy errors."""
    return tuple(warnings.filters), np.geterr()


@functools.cache
def _rerun(kind_name: str, entry: str, panel: str) -> tuple[Any, Any, Outputs]:
    """A second run on fresh inputs: what it reads (spec, inputs and process
    state) before and after, and its outputs."""
    kind = _KIND[kind_name]
    spec = kind.spec(entry)
    inputs = kind.inputs(PANELS[panel]())
    before = copy.deepcopy((spec, inputs)), _process_state()
    outputs = kind.run(spec, *inputs)
    return before, ((spec, inputs), _process_state()), outputs


def _perturbed(prices: pd.DataFrame, row: int) -> pd.DataFrame:
    """Prices whose rows after `row` move differently (and one more gap)."""
    rng = np.random.default_rng(row)
    moves = rng.normal(0.0, 0.02, prices.shape)
    moves[: row + 1] = 0.0  # each price after `row` moves 2% a day more, from it
    out = prices * np.exp(np.cumsum(moves, axis=0))
    out.iloc[row + 5, 0] = np.nan
    return out


def _assert_same_upto(date: pd.Timestamp, left: Outputs, right: Outputs) -> None:
    _assert_same(
        {name: _upto(frame, date) for name, frame in left.items()},
        {name: _upto(frame, date) for name, frame in right.items()},
    )


def check_causal_by_truncation(kind: Kind, entry: str, panel: str) -> None:
    """Outputs at or before t are the same when the rows after t are dropped."""
    prices, row = PANELS[panel](), CUTS[panel][0]
    cut = kind.outputs(kind.spec(entry), prices.iloc[: row + 1])
    _assert_same_upto(prices.index[row], cut, _reference(kind.name, entry, panel))


def check_causal_by_perturbation(kind: Kind, entry: str, panel: str) -> None:
    """Outputs at or before t are the same when the rows after t change."""
    prices, row = PANELS[panel](), CUTS[panel][1]
    moved = kind.outputs(kind.spec(entry), _perturbed(prices, row))
    _assert_same_upto(prices.index[row], moved, _reference(kind.name, entry, panel))


def check_deterministic(kind: Kind, entry: str, panel: str) -> None:
    """A second run on the same data gives the same outputs, bit for bit."""
    _, _, outputs = _rerun(kind.name, entry, panel)
    _assert_same(outputs, _reference(kind.name, entry, panel))


def check_inputs_untouched(kind: Kind, entry: str, panel: str) -> None:
    """The spec and every input are deep-equal before and after a run."""
    before, after, _ = _rerun(kind.name, entry, panel)
    _assert_unchanged(before[0], after[0])


def check_process_state_untouched(kind: Kind, entry: str, panel: str) -> None:
    """A run leaves the warning filters and numpy's error handling as it found
    them (threads that change them can silence every warning for good)."""
    before, after, _ = _rerun(kind.name, entry, panel)
    assert before[1] == after[1]


def check_pickles(kind: Kind, entry: str, panel: str) -> None:
    """Spec and entry survive pickling (as Dask ships them), with the same outputs."""
    spec, registered = kind.spec(entry), kind.registry[entry]
    spec_copy, entry_copy = pickle.loads(pickle.dumps((spec, registered)))
    assert spec_copy == spec
    assert type(entry_copy) is type(registered)
    assert entry_copy == registered
    outputs = kind.outputs(spec_copy, PANELS[panel]())
    _assert_same(outputs, _reference(kind.name, entry, panel))


def check_finite_on_degenerate_input(kind: Kind, entry: str, panel: str) -> None:
    """Outputs are finite (NaN only where nothing is known yet)."""
    kind.assert_finite(_reference(kind.name, entry, panel), PANELS[panel]())


CHECKS: dict[str, tuple[Callable[[Kind, str, str], None], tuple[str, ...]]] = {
    "causal_by_truncation": (check_causal_by_truncation, ("clean", "degenerate")),
    "causal_by_perturbation": (check_causal_by_perturbation, ("clean", "degenerate")),
    "deterministic": (check_deterministic, ("clean", "degenerate")),
    "inputs_untouched": (check_inputs_untouched, ("clean", "degenerate")),
    "process_state_untouched": (check_process_state_untouched, ("clean",)),
    "pickles": (check_pickles, ("clean",)),
    "finite_on_degenerate_input": (check_finite_on_degenerate_input, ("degenerate",)),
}
"""Every check, and the panels it runs on."""


def _cases() -> list[Any]:
    return [
        pytest.param(
            kind,
            entry,
            check,
            panel,
            id=f"{kind.name}:{entry}-{check}"
            + (f"-{panel}" if len(panels) > 1 else ""),
        )
        for kind in KINDS
        for entry in kind.registry
        for check, (_, panels) in CHECKS.items()
        for panel in panels
    ]


@pytest.mark.parametrize(("kind", "entry", "check", "panel"), _cases())
def test_contract(kind: Kind, entry: str, check: str, panel: str) -> None:
    CHECKS[check][0](kind, entry, panel)


@pytest.mark.parametrize(
    ("kind", "entry"),
    [
        pytest.param(
            kind,
            entry,
            id=f"{kind.name}:{entry}",
        )
        for kind in KINDS
        for entry, registered in kind.registry.items()
        if registered.fallback
    ],
)
def test_fallback_is_recorded(
    kind: Kind, entry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind.assert_fallback_recorded(entry, monkeypatch)


@pytest.mark.parametrize(
    ("registry", "spec_type", "field"),
    [
        pytest.param(MODELS, ModelSpec, "family", id="volatility"),
        pytest.param(SIGNALS, TriggerSpec, "signal", id="signal"),
        pytest.param(BASE_RULES, TargetSpec, "base", id="base"),
        pytest.param(CORRELATIONS, CovarianceSpec, "correlation", id="correlation"),
    ],
)
def test_every_spec_value_has_an_entry_and_back(
    registry: Registry[Any], spec_type: type, field: str
) -> None:
    allowed = set(get_args(get_type_hints(spec_type)[field]))
    assert allowed - set(registry) == set(), "spec values without an entry"
    assert set(registry) - allowed == set(), "entries the spec cannot select"


def test_the_garch_families_are_the_garch_models() -> None:
    garch_models = {name for name, m in MODELS.items() if isinstance(m, GarchModel)}
    assert set(GARCH_FAMILIES) == garch_models == {"garch", "gjr", "egarch"}


def test_registries_are_the_kinds_the_battery_runs() -> None:
    registries = [MODELS, SIGNALS, BASE_RULES, CORRELATIONS]
    assert [kind.registry for kind in KINDS] == registries


def _policy(**fields: Any) -> PolicySpec:
    return PolicySpec(name="misspelt", description="", source="", model=EWMA, **fields)


@pytest.mark.parametrize(
    ("door", "message"),
    [
        pytest.param(
            lambda: forecast_variance(
                aligned_returns(_clean_prices()), ModelSpec(name="m", family="garhc")
            ),
            "model 'm': family: unknown volatility model 'garhc' (did you mean "
            "'garch'? registered: ewma, realised, garch, gjr, egarch, "
            "realised_month)",
            id="volatility",
        ),
        pytest.param(
            lambda: family_of(ModelSpec(name="m", family="ewma")),
            "model 'm': family: unknown GARCH family 'ewma' (registered: garch, gjr, "
            "egarch)",
            id="garch-family",
        ),
        pytest.param(
            lambda: Signals().run(
                Signals._spec("vol_zscor", 2.0, 1.0),
                *Signals().inputs(_clean_prices()),
            ),
            "trigger 'contract-vol_zscor': signal: unknown trigger signal 'vol_zscor' "
            "(did you mean 'vol_zscore'? registered: vol_zscore, vol_ratio, "
            "vol_of_vol, realised_vs_forecast, level, level_zscore, "
            "residual_shock, vol_term_structure, persistence)",
            id="signal",
        ),
        pytest.param(
            lambda: PolicyAllocator(_policy(target=TargetSpec(base="inverse_voll"))),
            "policy 'misspelt': target.base: unknown base-weight rule 'inverse_voll' "
            "(did you mean 'inverse_vol'? registered: inverse_vol, "
            "sleeve_equal_risk, fixed, risk_budget, per_asset_vol, inverse_variance)",
            id="base",
        ),
        pytest.param(
            lambda: run_backtest(
                _policy(covariance=CovarianceSpec(correlation="dc")),
                BaseWeights().inputs(_clean_prices())[0],
            ),
            "policy 'misspelt': covariance.correlation: unknown correlation model "
            "'dc' (did you mean 'dcc'? registered: ewma, dcc)",
            id="correlation",
        ),
    ],
)
def test_an_unknown_name_fails_loudly(door: Callable[[], Any], message: str) -> None:
    """A spec built around the Literal check (in code, not from a file) still fails."""
    with pytest.raises(SpecError, match=re.escape(message)):
        door()


# --- limits: judged and met on a small book --------------------------------------

LIMIT_SLEEVES = ("dm_equity", "dm_equity", "rates", "safe_haven", "crypto")
LIMIT_VOL = np.array([0.012, 0.011, 0.006, 0.009, 0.04])
LIMIT_CORR = np.full((5, 5), 0.3) + 0.7 * np.eye(5)
PREVIOUS = np.array([0.2, 0.2, 0.3, 0.2, 0.02])


@dataclasses.dataclass(frozen=True)
class LimitCase:
    """A policy that sets the limit, and weights that break it.

    Attributes
    ----------
    fields : dict
        PolicySpec fields that set the limit (on top of a plain policy).
    breaching : ndarray
        Weights the limit breaks, shape (5,), on the book of `LIMIT_SLEEVES`.
    target : ndarray or None
        The book's target (the vol cap's reference); the breaching weights if None.
    conflicting : dict or None
        PolicySpec fields whose combination can never hold on the contract panel's
        universe (dm_equity, rates, safe_haven), for a limit that has conflicts.
    """

    fields: dict[str, Any]
    breaching: np.ndarray
    target: np.ndarray | None = None
    conflicting: dict[str, Any] | None = None


LIMIT_CASES: dict[str, LimitCase] = {
    "risk_limit": LimitCase(
        {"limits": LimitsSpec(var_99_max=0.01, es_975_max=0.012)},
        np.array([0.4, 0.3, 0.2, 0.1, 0.1]),
    ),
    "margin": LimitCase(
        {"margin": MarginSpec(max_margin_usage=0.05)},
        np.array([0.5, 0.4, 0.3, 0.2, 0.1]),
    ),
    "asset_bounds": LimitCase(
        {"limits": LimitsSpec(min_asset_weight=-0.05, max_asset_weight=0.3)},
        np.array([0.5, -0.1, 0.3, 0.2, 0.0]),
    ),
    "sleeve_bounds": LimitCase(
        {
            "limits": LimitsSpec(
                sleeve_min_weight={"rates": 0.2}, sleeve_max_weight={"crypto": 0.05}
            )
        },
        np.array([0.3, 0.3, 0.1, 0.1, 0.2]),
        conflicting={
            "limits": LimitsSpec(
                sleeve_min_weight={"rates": 0.6}, sleeve_max_weight={"rates": 0.4}
            )
        },
    ),
    "gross_leverage": LimitCase(
        {"target": TargetSpec(max_gross_leverage=1.0)},
        np.array([0.5, 0.4, 0.4, 0.2, 0.0]),
    ),
    "vol_cap": LimitCase(
        {},
        np.array([0.5, 0.4, 0.4, 0.2, 0.1]),
        target=np.array([0.2, 0.2, 0.3, 0.2, 0.0]),
    ),
    "turnover": LimitCase(
        {"limits": LimitsSpec(max_turnover=0.2)},
        np.array([0.5, 0.1, 0.1, 0.2, 0.02]),
    ),
    "sleeve_risk": LimitCase(
        {"limits": LimitsSpec(sleeve_max_risk={"crypto": 0.05})},
        np.array([0.2, 0.2, 0.3, 0.1, 0.2]),
        conflicting={
            "limits": LimitsSpec(
                sleeve_max_risk={"dm_equity": 0.3, "rates": 0.3, "safe_haven": 0.3}
            )
        },
    ),
}
"""One case per registered limit: a new limit fails the battery until it has one."""
NOT_LIMITS = {"limits.on_solver_failure": "what a run does when both solvers fail"}
"""Fields of the limit tables that are no limit, and what they are instead."""


def _case(name: str) -> LimitCase:
    if name not in LIMIT_CASES:
        pytest.fail(f"limit '{name}' has no case: add one to LIMIT_CASES")
    return LIMIT_CASES[name]


def _limit_policy(fields: Mapping[str, Any]) -> PolicySpec:
    return PolicySpec(
        name="contract-limit",
        description="contract battery",
        source="tests/test_contracts.py",
        model=EWMA,
        **fields,
    )


def _book(target: np.ndarray, variance_scale: float = 1.0) -> Book:
    """A book on `LIMIT_SLEEVES` (fresh, writeable arrays)."""
    vol = LIMIT_VOL * np.sqrt(variance_scale)
    cov = LIMIT_CORR * np.outer(vol, vol)
    return Book(PREVIOUS.copy(), LIMIT_SLEEVES, False, vol, cov, target.copy())


def _meet(limit: Limit, weights: np.ndarray, book: Book, policy: PolicySpec) -> Any:
    """Weights that meet `limit` alone, the way a decision meets its kind."""
    if isinstance(limit, WeightLimit):
        problem = ConstrainedProblem(book.sleeves, [limit])
        return problem.solve(book.target, book.covariance, limit.values(policy, book))
    if isinstance(limit, ScalingLimit):
        return weights * limit.scale(weights, book, policy)
    if isinstance(limit, SleeveRiskCaps):
        return limit.cut(weights, book, policy)[0]
    raise NotImplementedError(f"limit '{limit.name}': no way to meet its kind")


def _judged(
    limit: Limit, weights: np.ndarray, target: np.ndarray | None, scale: float = 1.0
) -> tuple[Any, ...]:
    """Everything the limit says about `weights` on a fresh book, and the inputs."""
    case = _case(limit.name)
    policy = _limit_policy(case.fields)
    book = _book(weights if target is None else target, scale)
    broken = limit.broken(weights, book, policy, BROKEN_TOL)
    met = _meet(limit, weights, book, policy)
    fields = limit.fields(policy, book)
    conflicts = limit.conflicts(policy, {"dm_equity": 2, "rates": 1, "crypto": 1})
    return (broken, met, fields, conflicts), (weights, book, policy)


def check_limit_breach_agrees_with_its_rule(limit: Limit) -> None:
    """The breaching weights are reported broken, on claimed fields that apply; what
    the limit's rule makes of them (projection, scale or cut) is not."""
    case = _case(limit.name)
    policy = _limit_policy(case.fields)
    target = case.breaching if case.target is None else case.target
    book = _book(target)
    broken = limit.broken(case.breaching, book, policy, BROKEN_TOL)
    assert broken
    applying = limit.fields(policy, book)
    assert set(broken) <= ({*applying} if applying else {limit.name})
    for field in applying:
        assert any(field == c or field.startswith(f"{c}.") for c in limit.claims)
    met = _meet(limit, case.breaching, book, policy)
    assert limit.broken(met, book, policy, BROKEN_TOL) == []
    # every weight limit holds on a projection onto all of them
    if isinstance(limit, WeightLimit):
        everything = ConstrainedProblem(LIMIT_SLEEVES, list(WEIGHT_LIMITS.values()))
        values = {
            k: v
            for w in WEIGHT_LIMITS.values()
            for k, v in w.values(policy, book).items()
        }
        projected = everything.solve(book.target, book.covariance, values)
        assert limit.broken(projected, book, policy, BROKEN_TOL) == []


def check_limit_deterministic(limit: Limit) -> None:
    """Judging and meeting twice give the same answers, bit for bit."""
    case = _case(limit.name)
    first, _ = _judged(limit, case.breaching, case.target)
    again, _ = _judged(limit, case.breaching, case.target)
    _assert_unchanged(first, again)


def check_limit_inputs_untouched(limit: Limit) -> None:
    """Weights, book and policy are deep-equal before and after."""
    case = _case(limit.name)
    weights = case.breaching.copy()
    book = _book(weights if case.target is None else case.target)
    policy = _limit_policy(case.fields)
    before = copy.deepcopy((weights, book, policy))
    limit.broken(weights, book, policy, BROKEN_TOL)
    _meet(limit, weights, book, policy)
    limit.fields(policy, book)
    limit.conflicts(policy, {"dm_equity": 2, "rates": 1})
    _assert_unchanged(before, (weights, book, policy))


def check_limit_pickles(limit: Limit) -> None:
    """The limit survives pickling (as Dask ships it), with the same answers."""
    case = _case(limit.name)
    copied = pickle.loads(pickle.dumps(limit))
    assert type(copied) is type(limit)
    assert (copied.name, copied.claims) == (limit.name, limit.claims)
    original, _ = _judged(limit, case.breaching, case.target)
    shipped, _ = _judged(copied, case.breaching, case.target)
    _assert_unchanged(original, shipped)


def check_limit_finite_on_degenerate_input(limit: Limit) -> None:
    """Zero weights, and variances 1e-16 of the book's, give finite answers (and a
    scale within (0, 1]) without a warning."""
    case = _case(limit.name)
    policy = _limit_policy(case.fields)
    zero = np.zeros(len(LIMIT_SLEEVES))
    target = case.breaching if case.target is None else case.target
    for weights, aim, scale in [
        (zero, zero, 1.0),
        (case.breaching, target, 1e-16),
        (zero, zero, 1e-16),
    ]:
        book = _book(aim, scale)
        limit.broken(weights, book, policy, BROKEN_TOL)
        assert np.isfinite(_meet(limit, weights, book, policy)).all()
        if isinstance(limit, ScalingLimit):
            assert 0.0 < limit.scale(weights, book, policy) <= 1.0


def check_limit_conflicts_stop_the_run(limit: Limit) -> None:
    """A combination that can never hold stops a run before any date, naming the
    limit's field; the limit's own case has none."""
    case = _case(limit.name)
    market = BaseWeights().inputs(_clean_prices())[0]
    counts = {"dm_equity": 1, "rates": 1, "safe_haven": 1}
    assert limit.conflicts(_limit_policy(case.fields), counts) == []
    if type(limit).conflicts is Limit.conflicts:
        assert case.conflicting is None, "a case of conflicts for a limit without any"
        return
    assert case.conflicting is not None, (
        f"limit '{limit.name}' needs a conflicting case"
    )
    policy = _limit_policy(case.conflicting)
    with pytest.raises(InfeasibleError) as raised:
        run_backtest(policy, market)
    message = str(raised.value)
    assert message.startswith("policy 'contract-limit': ")
    assert any(claim in message for claim in limit.claims), message
    assert limit.conflicts(policy, counts)


LIMIT_CHECKS: dict[str, Callable[[Limit], None]] = {
    "breach_agrees_with_rule": check_limit_breach_agrees_with_its_rule,
    "deterministic": check_limit_deterministic,
    "inputs_untouched": check_limit_inputs_untouched,
    "pickles": check_limit_pickles,
    "finite_on_degenerate_input": check_limit_finite_on_degenerate_input,
    "conflicts_stop_the_run": check_limit_conflicts_stop_the_run,
}


@pytest.mark.parametrize(
    ("entry", "check"),
    [
        pytest.param(entry, check, id=f"limit:{entry}-{check}")
        for entry in LIMITS
        for check in LIMIT_CHECKS
    ],
)
def test_limit_contract(entry: str, check: str) -> None:
    LIMIT_CHECKS[check](LIMITS[entry])


def test_every_limit_has_a_case_and_every_case_a_limit() -> None:
    assert set(LIMIT_CASES) == set(LIMITS)


def test_the_limit_registry_holds_every_kind_of_limit() -> None:
    assert list(LIMITS) == [
        *SCALING_LIMITS,
        *WEIGHT_LIMITS,
        SLEEVE_RISK_CAPS.name,
    ]


def _spec_fields(spec_type: type, prefix: str) -> set[str]:
    return {f"{prefix}.{f.name}" for f in dataclasses.fields(spec_type)}


def _field_exists(dotted: str) -> bool:
    """Whether a dotted name is a field of `PolicySpec` (through nested specs)."""
    owner: Any = PolicySpec
    for part in dotted.split("."):
        hints = get_type_hints(owner) if owner is not None else {}
        if part not in hints:
            return False
        kinds = [hints[part], *get_args(hints[part])]
        owner = next((k for k in kinds if dataclasses.is_dataclass(k)), None)
    return True


def test_every_limit_field_is_claimed_by_exactly_one_limit() -> None:
    """A field of ``[limits]`` or ``[margin]`` that no registered limit claims is a
    limit nobody enforces (or a field that belongs elsewhere: `NOT_LIMITS`)."""
    claims = [c for limit in LIMITS.values() for c in limit.claims]
    assert len(claims) == len(set(claims)), "a field claimed twice"
    tables = _spec_fields(LimitsSpec, "limits") | _spec_fields(MarginSpec, "margin")
    unclaimed = tables - set(claims) - set(NOT_LIMITS)
    assert unclaimed == set(), "fields no registered limit claims"
    assert set(NOT_LIMITS) <= tables
    assert not set(NOT_LIMITS) & set(claims)
    for claim in claims:
        assert _field_exists(claim), f"{claim}: no such policy field"
