"""Allocation jobs: today's target weights and the state behind them, as JSON.

`allocate` walks a policy to a job's close and answers with the payload of the
published contract (`SCHEMA`, validated by the JSON Schema at `SCHEMA_FILE`);
`riskengine.allocate.state` reads the state of that close (trigger states, the
holdings' ex-ante risk, binding limits) off the finished walk.
"""

from riskengine.allocate.job import (
    LATEST,
    SCHEMA,
    SCHEMA_FILE,
    STALE_ACTIONS,
    StaleAction,
    allocate,
    check_contract,
    is_allocation,
    policy_fingerprint,
    write_json,
)
from riskengine.allocate.table import CSV_COLUMNS, allocation_csv

__all__ = [
    "CSV_COLUMNS",
    "LATEST",
    "SCHEMA",
    "SCHEMA_FILE",
    "STALE_ACTIONS",
    "StaleAction",
    "allocate",
    "allocation_csv",
    "check_contract",
    "is_allocation",
    "policy_fingerprint",
    "write_json",
]
