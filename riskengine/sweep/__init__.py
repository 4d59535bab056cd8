"""Sweeps: many policy x parameter x universe backtests on Dask, resumable.

A sweep file (TOML) names the policies, a grid of policy fields and the universes::

    name = "overlay-thresholds"
    policies = ["risk-parity-fund", "safe-haven-risk-off"]
    start = "2025-06-01"                     # optional, as is end
    [grid]                                   # dotted policy field -> values
    "target.target_vol_annual" = [0.08, 0.10, 0.12]
    [universes]                              # name -> assets ([] = every asset)
    all = []
    no_crypto = ["GLD", "SLV", "SPY", "EEM", "HYG", "LQD", "TLT", "IEF"]

The runs are every policy x grid point x universe; every grid field must be valid
for every policy listed (an invalid one is an error naming the policy's field).
Each run is identified by a hash of what defines it (the resolved policy, the
universe's name and assets, the period and the data's SHA-256) and writes one
partition of two Parquet datasets under the output folder, atomically:
``runs/run_id=<id>/`` (one row: the run's definition and metrics) and
``returns/run_id=<id>/`` (its daily net returns).
A run whose partition exists is skipped, so an interrupted sweep resumes where it
stopped. A run that fails, for whatever reason, does not stop the others: it is
recorded in a third dataset, ``failures/run_id=<id>/`` (its definition, the
one-line error and its exit code), and retried next time; the record goes when
the run succeeds.
The output folder is riskengine's own (marked ``.riskengine-sweep``; see
`riskengine.output`): a second sweep on it while one runs is refused, and
partition files a killed sweep left half-written are removed by the next one.

Runs that differ only in what the walk's inputs do not read (allocation, trigger
thresholds, limits, costs) share one preparation of the data screen, forecasts and
schedule per model, universe and period (`riskengine.backtest.walk.walk_key`),
computed once on a worker and shipped by Dask to the runs that need it; the results
are those of separate runs, bit for bit.

Runs execute on Dask distributed: a `LocalCluster` (one single-threaded worker
process per core) by default, or the scheduler at ``scheduler`` to use a cluster.
The local cluster listens on 127.0.0.1 only (scheduler, workers and dashboard).
This process reads the prices and ships them, and writes every partition itself:
workers need neither the price file nor the output folder, only the same versions
of riskengine and of the packages that shape its numbers (checked on connecting).
A worker that dies mid-sweep has its runs (and the inputs it held) computed again
on another; a partition is written once its run is back, so each run has one.
Trust: Dask ships tasks and data as pickles, and unpickling runs code, so join
only a scheduler you trust, on a network you trust; anyone who can reach a
scheduler can run code on its workers, and it can run code on this machine.
"""

from riskengine.sweep.execute import RunFailure, SweepReport, run_sweep
from riskengine.sweep.plan import Sweep, SweepRun, plan_sweep

__all__ = ["RunFailure", "Sweep", "SweepReport", "SweepRun", "plan_sweep", "run_sweep"]
