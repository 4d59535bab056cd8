import json
from pathlib import Path

import pandas as pd
import pytest

from riskengine import backtest, default_market, load_policy
from riskengine.allocate import SCHEMA, allocate
from riskengine.cli import main


@pytest.fixture(scope="module")
def market():
    return default_market()


@pytest.mark.parametrize("asof", ["2025-06-05", "2025-06-06", "2026-02-20"])
def test_allocation_equals_the_backtest_decision_at_that_close(
    market, asof: str
) -> None:
    """An allocation job on data up to `asof` holds what the full backtest held then."""
    policy = load_policy("safe-haven-risk-off")
    payload = allocate(policy, market, asof=asof)
    full = backtest(policy, market)
    expected = full.weights.loc[asof]
    assert payload["schema"] == SCHEMA
    assert payload["simulated"] is True
    for asset, weight in payload["weights"].items():
        assert weight == pytest.approx(expected[asset], abs=1e-12)
    assert payload["rebalance_day"] == bool(full.turnover.loc[asof] > 0)
    shares = full.risk_contributions.loc[payload["decided_at"]]
    for asset, share in payload["target_risk_contributions"].items():
        assert share == pytest.approx(shares[asset], abs=1e-12)
    assert sum(payload["target_risk_contributions"].values()) == pytest.approx(1.0)
    if payload["rebalance_day"]:
        traded = sum(abs(v) for v in payload["trades"].values())
        assert traded == pytest.approx(full.turnover.loc[asof], rel=1e-9)


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
