"""The walk-forward backtest: `run_backtest` (the only loop over dates) and its result.

``run`` walks the dates; ``schedule`` says which assets may be held and when the
policy decides; ``accounting`` carries holdings from one close to the next (drift
and financing, shared with `riskengine.allocate`); ``event_log`` records what the
walk does; ``result`` holds it all.
"""

from riskengine.backtest.result import BacktestResult, InvestedPeriod
from riskengine.backtest.run import run_backtest

__all__ = ["BacktestResult", "InvestedPeriod", "run_backtest"]
