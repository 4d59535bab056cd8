"""The Python API in one call: data and policy in, a `BacktestResult` out."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from riskengine.backtest import BacktestResult, run_backtest
from riskengine.backtest.baseline import OVERLAYS_OFF, BaselineChoice
from riskengine.data.prices import Market, load_market, make_market, sleeve_table
from riskengine.errors import SpecError
from riskengine.progress import Progress
from riskengine.scenarios import simulate_market
from riskengine.scenarios.episodes import find_episode
from riskengine.specs import PolicySpec, load_policy

DEFAULT_POLICY = "vol-target-fund"


def default_market(seed: int | None = None) -> Market:
    """The embedded default: the seeded, calibrated market simulator's panel."""
    simulated = simulate_market() if seed is None else simulate_market(seed)
    return make_market(
        simulated.prices,
        source=simulated.description,
        sleeves=simulated.sleeves,
        simulated=True,
    )


def backtest(
    policy: str | Path | PolicySpec = DEFAULT_POLICY,
    prices: str | Path | pd.DataFrame | Market | None = None,
    *,
    sleeves: str | Path | Mapping[str, str] | None = None,
    start: str | None = None,
    end: str | None = None,
    episode: str | None = None,
    baseline: str | Path | PolicySpec | None = OVERLAYS_OFF,
    progress: Progress | None = None,
) -> BacktestResult:
    """Run a policy walk-forward on a price panel.

    Parameters
    ----------
    policy : str, Path or PolicySpec
        A built-in policy name (``"vol-target-fund"``), a TOML path, or a spec.
    prices : str, Path, DataFrame, Market or None
        A CSV/Parquet price file, a wide price frame (dates x assets), a `Market`,
        or None for the embedded simulated default.
    sleeves : str, Path or Mapping, optional
        Sleeve table (CSV path or asset -> sleeve); the built-in one otherwise.
    start, end : str, optional
        Backtest period (ISO dates).
    episode : str, optional
        A named episode (`riskengine.scenarios.episodes`) whose window is the
        period, instead of `start` and `end`; the data must cover it.
    baseline : str, Path, PolicySpec or None
        The counterfactual run beside the policy on the same data (see
        `riskengine.backtest.baseline`): ``"overlays_off"`` (the default) for the
        policy with its overlays switched off, a built-in policy name, a TOML path
        or a spec to run that policy instead, None for none.
    progress : Progress, optional
        Told of each GARCH refit and each scheduled decision (see
        `riskengine.progress`; the command line draws bars from it).

    Returns
    -------
    BacktestResult
        Weights, returns, turnover, costs, events; ``.metrics()`` for the summary.

    Raises
    ------
    SpecError
        If `episode` is unknown (naming the closest) or given with `start`/`end`.
    DataError
        If the data do not cover the `episode`'s window.

    Examples
    --------
    >>> import riskengine
    >>> result = riskengine.backtest("vol-target-fund")
    >>> round(result.metrics()["annual_vol"], 2)  # doctest: +SKIP
    0.1
    """
    spec = policy if isinstance(policy, PolicySpec) else load_policy(policy)
    market = market_from(prices, sleeves)
    if episode is not None:
        if start is not None or end is not None:
            raise SpecError(f"episode '{episode}' sets the period: give no start/end")
        window = find_episode(episode)
        window.check_covered(market)
        start, end = str(window.start), str(window.end)
    return run_backtest(
        spec,
        market,
        start=start,
        end=end,
        baseline=baseline_spec(baseline),
        progress=progress,
    )


def baseline_spec(choice: str | Path | PolicySpec | None) -> BaselineChoice:
    """A baseline argument as `run_backtest` takes it: policy names loaded."""
    if choice is None or isinstance(choice, PolicySpec):
        return choice
    if choice == OVERLAYS_OFF:
        return OVERLAYS_OFF
    return load_policy(choice)


def market_from(
    prices: str | Path | pd.DataFrame | Market | None,
    sleeves: str | Path | Mapping[str, str] | None = None,
) -> Market:
    """A `Market` from a file, a frame or None (the simulated default)."""
    if isinstance(prices, Market):
        return prices
    if prices is None:
        return default_market()
    if isinstance(prices, pd.DataFrame):
        return make_market(
            prices,
            source="DataFrame",
            sleeves=sleeve_table(sleeves, prices, "DataFrame"),
        )
    return load_market(prices, sleeves=sleeves)
