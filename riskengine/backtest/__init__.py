"""The walk-forward backtest: `run_backtest` (the only loop over dates) and its result.

``run`` runs a policy with its baseline; ``walk`` prepares the data and forecasts
and walks the dates; ``book`` is one policy's holdings, NAV and decisions;
``schedule`` says which assets may be held and when the policy decides;
``accounting`` carries holdings from one close to the next (drift and financing,
shared with `riskengine.allocate`); ``event_log`` records what the walk does;
``result`` holds it all.
"""

from riskengine.backtest.result import BacktestResult, InvestedPeriod
from riskengine.backtest.run import run_backtest

__all__ = ["BacktestResult", "InvestedPeriod", "run_backtest"]
