"""The walk-forward backtest of a policy, with its baseline.

Weights decided at the close of t use data up to t only; they are traded at the
close of t + lag - 1 and earn returns from the next day on. Between trades the
holdings drift with prices. Trading costs are charged on the notional traded, cash
earns the cash rate and borrowed cash pays the cash rate plus a spread.

Every run carries its baseline (see `riskengine.backtest.baseline`). When the
baseline has the same model, correlation, schedule, universe and screen, it is a
second book in the same walk: it reads the same forecast panel and the same
correlation forecasts, and only its decisions and accounting are its own.

The walk itself (its inputs, the daily loop, a book read back as a result) is
`riskengine.backtest.walk`; one policy's book (holdings, NAV, decisions) is
`riskengine.backtest.book`.
"""

from __future__ import annotations

import dataclasses
import time

import pandas as pd

from riskengine.backtest.baseline import (
    OVERLAYS_OFF,
    BaselineChoice,
    resolve_baseline,
    shares_panels,
)
from riskengine.backtest.result import BacktestResult
from riskengine.backtest.schedule import watched_assets
from riskengine.backtest.walk import (
    WalkInputs,
    book_result,
    open_book,
    prepare_walk,
    walk_forward,
    walk_key,
)
from riskengine.blas import one_blas_thread
from riskengine.data.prices import Market
from riskengine.progress import Progress
from riskengine.specs import PolicySpec


def run_backtest(
    policy: PolicySpec,
    market: Market,
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    baseline: BaselineChoice = OVERLAYS_OFF,
    progress: Progress | None = None,
    inputs: WalkInputs | None = None,
) -> BacktestResult:
    """Walk a policy forward over a market, with its baseline.

    Parameters
    ----------
    policy : PolicySpec
        The risk framework to run.
    market : Market
        Validated prices, returns and sleeves.
    start, end : str or Timestamp, optional
        First and last date of the backtest; data before `start` warm up the models,
        data after `end` are never read.
    baseline : PolicySpec, "overlays_off" or None
        The counterfactual run on the same data in the same call (see
        `riskengine.backtest.baseline`): by default the policy with its overlays
        switched off; a spec to run that policy instead; None for none. When it
        has the policy's model, correlation, schedule, universe and screen (always
        so by default), it walks beside the policy on the same forecast and
        correlation panels; otherwise it is run on its own. A policy without
        overlays is its own baseline and is not run twice.
    progress : Progress, optional
        Told of each GARCH refit and each scheduled decision of the walk (see
        `riskengine.progress`); None (the default) costs nothing.
    inputs : WalkInputs, optional
        The walk's data and forecasts, already prepared by
        `riskengine.backtest.walk.prepare_walk` on this market and period for this
        policy or any other with the same `walk_key` (e.g. one that differs only in
        its allocation, trigger thresholds or limits): the result is the same, bit
        for bit, without recomputing the forecasts. Prepared here when None.

    Returns
    -------
    BacktestResult
        With ``baseline`` set (itself without a baseline) unless `baseline` is None.

    Raises
    ------
    DataError
        If the policy's universe is empty on this market, the period has no days,
        or the data screen stops on the prices (see `riskengine.data.screen`).
    ValueError
        If `inputs` were prepared for another walk (another `walk_key`).
    """
    with one_blas_thread():  # the decisions' factorisations are small
        return _run(policy, market, start, end, baseline, progress, inputs)


def _run(
    policy: PolicySpec,
    market: Market,
    start: str | pd.Timestamp | None,
    end: str | pd.Timestamp | None,
    baseline: BaselineChoice,
    progress: Progress | None,
    inputs: WalkInputs | None,
) -> BacktestResult:
    """`run_backtest`, its BLAS limited."""
    choice = resolve_baseline(policy, baseline)
    if inputs is None:
        inputs = prepare_walk(policy, market, start, end, progress)
    elif inputs.key != walk_key(policy, market, start, end):
        raise ValueError(
            f"policy '{policy.name}': inputs were prepared for another walk (its "
            "universe, screen, model, schedule, triggers' signals, data or period "
            "differ; see riskengine.backtest.walk.WALK_FIELDS)"
        )
    main = open_book(policy, inputs, market)
    together = (
        choice is not None
        and choice.spec is not None
        and shares_panels(policy, choice.spec)
        and set(watched_assets(choice.spec, market, inputs.assets))
        <= set(inputs.signals)
    )
    books = [main]
    if together and choice is not None and choice.spec is not None:
        books.append(open_book(choice.spec, inputs, market))
    correlation_seconds = walk_forward(books, inputs, progress)
    result = book_result(
        main,
        inputs,
        market,
        {
            **inputs.timings,
            "triggers": main.trigger_seconds,
            "correlation": correlation_seconds,
            "allocation": main.records.allocation_seconds,
            "accounting": main.records.accounting_seconds,
        },
    )
    if choice is None:
        return result
    if choice.spec is None:
        own = dataclasses.replace(result, baseline_note=choice.note)
        return dataclasses.replace(own, baseline=own)
    if together:
        side = books[1]
        other = book_result(
            side,
            inputs,
            market,
            {
                "triggers": side.trigger_seconds,
                "allocation": side.records.allocation_seconds,
                "accounting": side.records.accounting_seconds,
            },
        )
        seconds = side.seconds
    else:
        clock = time.perf_counter()
        other = run_backtest(
            choice.spec, market, start=start, end=end, baseline=None, progress=progress
        )
        seconds = time.perf_counter() - clock
    timings = {**result.timings, "baseline": seconds}
    return dataclasses.replace(
        result, baseline=other, baseline_note=choice.note, timings=timings
    )
