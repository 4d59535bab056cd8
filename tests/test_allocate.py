import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskengine import backtest, default_market, load_policy
from riskengine.allocate import SCHEMA, allocate
from riskengine.backtest.accounting import drift
from riskengine.cli import main
from riskengine.specs import CostSpec


@pytest.fixture(scope="module")
def market():
    return default_market()


@pytest.mark.parametrize("asof", ["2025-06-05", "2025-06-06", "2026-02-20"])
def test_allocation_equals_the_backtest_decision_at_that_close(
    market, asof: str
) -> None:
    """An allocation job on data up to `asof` holds what the full backtest held then.

    Bit for bit: allocate is the backtest's walk stopped at `asof`, and its trades
    start from the holdings the walk's own accounting drifted to that close.
    """
    policy = load_policy("safe-haven-risk-off")
    payload = allocate(policy, market, asof=asof)
    full = backtest(policy, market)
    expected = full.weights.loc[asof]
    assert payload["schema"] == SCHEMA
    assert payload["simulated"] is True
    assert payload["weights"] == {a: float(w) for a, w in expected.items()}
    assert payload["rebalance_day"] == bool(full.turnover.loc[asof] > 0)
    shares = full.risk_contributions.loc[payload["decided_at"]]
    assert payload["target_risk_contributions"] == {
        a: float(s) for a, s in shares.items()
    }
    assert sum(payload["target_risk_contributions"].values()) == pytest.approx(1.0)
    if payload["rebalance_day"]:
        traded = np.abs(list(payload["trades"].values())).sum()
        assert traded == full.turnover.loc[asof]


def test_cli_writes_json_atomically_and_rejects_stale_dates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "alloc" / "today.json"
    assert main(["allocate", "--asof", "2026-08-21", "--out", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert payload["asof"] == "2026-08-21"
    assert sum(payload["weights"].values()) == pytest.approx(
        1 - payload["cash"], rel=1e-12
    )
    assert [p.name for p in out.parent.iterdir()] == ["today.json"]
    stale = tmp_path / "stale.json"
    assert main(["allocate", "--asof", "2026-09-30", "--out", str(stale)]) == 3
    err = capsys.readouterr().err.strip()
    assert "--asof 2026-09-30 is not a trading date" in err
    assert "2026-08-21" in err
    assert not stale.exists()
    assert pd.Timestamp(payload["decided_at"]) <= pd.Timestamp("2026-08-21")


def test_drift_carries_holdings_and_charges_borrowed_cash_the_spread() -> None:
    costs = CostSpec(cash_rate_annual=0.0365, financing_spread_annual=0.0365)
    moves = np.array([0.10, -0.05])
    # 150% gross: 50% borrowed at 7.3% a year for 2 days, 2e-4 * -0.5 = -1e-4
    held = np.array([1.0, 0.5])
    day = drift(held, moves, 2 / 365, costs)
    assert day.financing == pytest.approx(-0.5 * 0.073 * 2 / 365, rel=1e-15)
    assert day.gross == pytest.approx(0.1 - 0.025 + day.financing, rel=1e-15)
    np.testing.assert_allclose(
        day.weights, [1.1 / (1 + day.gross), 0.475 / (1 + day.gross)], rtol=1e-15
    )
    # 20% cash earns the cash rate alone, and weights follow the new NAV
    calm = drift(np.array([0.5, 0.3]), moves, 1 / 365, costs)
    assert calm.financing == pytest.approx(0.2 * 0.0365 / 365, rel=1e-15)
    assert 1.0 - calm.weights.sum() == pytest.approx(
        (0.2 * (1 + 0.0365 / 365)) / (1 + calm.gross), rel=1e-12
    )
