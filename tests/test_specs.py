import dataclasses
import re
import types
import typing
from pathlib import Path

import pytest

from riskengine import backtest
from riskengine.errors import SpecError
from riskengine.specs import (
    PolicySpec,
    builtin_dir,
    builtin_names,
    load_model,
    load_policy,
)

VALID = """
name = "p"
description = "d"
source = "s"
model = "ewma-0.94"
[target]
base = "inverse_vol"
target_vol_annual = 0.1
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", builtin_names("policies"))
def test_every_builtin_policy_loads(name: str) -> None:
    policy = load_policy(name)
    assert policy.name == name
    assert policy.description
    assert policy.source


@pytest.mark.parametrize("name", builtin_names("models"))
def test_every_builtin_model_loads(name: str) -> None:
    assert load_model(name).name == name


def test_half_life_alias_sets_decay() -> None:
    assert load_model("ewma-hl21").decay == pytest.approx(0.5 ** (1 / 21), rel=1e-15)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            ("target_vol_annual = 0.1", "targte_vol_annual = 0.1"),
            r"unknown field 'target\.targte_vol_annual'",
        ),
        (
            ("target_vol_annual = 0.1", "target_vol_annual = 'ten'"),
            r"target\.target_vol_annual: expected a number, got 'ten'",
        ),
        (
            ("target_vol_annual = 0.1", "target_vol_annual = 5.0"),
            r"target\.target_vol_annual: must be in \(0, 2\]",
        ),
        (
            ('base = "inverse_vol"', 'base = "equal"'),
            r"target\.base: expected one of 'inverse_vol'",
        ),
        (('source = "s"', ""), r"missing field 'source'"),
        (
            ('model = "ewma-0.94"', 'model = "nope"'),
            r"model: no built-in model 'nope'",
        ),
        (
            ("[target]", "[target]\nsleeve_weights = { rates = 1.0 }"),
            r"target\.sleeve_weights: required when base = 'fixed', and only then",
        ),
        (
            ("[target]", "[rebalance]\nfrequency = 'hourly'\n[target]"),
            r"rebalance\.frequency: expected one of",
        ),
        (
            ("[target]", "[rebalance]\ninformation_lag_days = 0\n[target]"),
            r"rebalance\.information_lag_days: must be in 1\.\.21",
        ),
        (('name = "p"', 'name = "p'), r"not valid TOML"),
    ],
    ids=[
        "unknown",
        "type",
        "range",
        "literal",
        "missing",
        "model",
        "fixed",
        "frequency",
        "lag",
        "toml",
    ],
)
def test_bad_policy_names_file_and_field(
    tmp_path: Path, change: tuple[str, str], match: str
) -> None:
    path = write(tmp_path, VALID.replace(*change))
    with pytest.raises(SpecError, match=match) as info:
        load_policy(path)
    assert str(path) in str(info.value)


def test_valid_policy_round_trips(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, VALID))
    assert policy.target.target_vol_annual == 0.1
    assert policy.model.family == "ewma"
    assert policy.to_dict()["model"]["decay"] == 0.94


def test_unknown_policy_name_lists_builtins() -> None:
    with pytest.raises(SpecError, match=r"built-in: .*vol-target-fund"):
        load_policy("no-such-policy")


def test_overrides_replace_fields_before_validation() -> None:
    policy = load_policy(
        "safe-haven-risk-off",
        {"target.target_vol_annual": 0.08, "triggers.0.enter_above": 3},
    )
    assert policy.target.target_vol_annual == 0.08
    assert policy.triggers[0].enter_above == 3.0
    with pytest.raises(SpecError, match=r"safe-haven-risk-off\.toml: triggers\.2: no"):
        load_policy("safe-haven-risk-off", {"triggers.2.scale": 0.5})
    with pytest.raises(  # a policy without triggers has no trigger 0
        SpecError, match=r"risk-parity-fund\.toml: triggers\.0: no such item \(0 in"
    ):
        load_policy("risk-parity-fund", {"triggers.0.enter_above": 2.0})
    for index in ("\u00b2", "\u0660"):  # superscript two, Arabic-Indic zero
        with pytest.raises(SpecError, match=rf"triggers\.{index}: no such item"):
            load_policy("safe-haven-risk-off", {f"triggers.{index}.scale": 0.3})
    with pytest.raises(SpecError, match=r"unknown field 'target\.target_vol'"):
        load_policy("safe-haven-risk-off", {"target.target_vol": 0.08})
    with pytest.raises(
        SpecError, match=r"target\.target_vol_annual: expected a number"
    ):
        load_policy("safe-haven-risk-off", {"target.target_vol_annual": "high"})


# Every field that holds sleeve names: (policy, overrides, field as reported, the
# closest valid name). A misspelling is a spec error naming the field and a fix.
MISSPELT_SLEEVES = {
    "triggers.watch_sleeves": (
        "safe-haven-risk-off",
        {"triggers.0.watch_sleeves": ["safehaven"]},
        "triggers[0].watch_sleeves[0]",
        "safe_haven",
    ),
    "triggers.act_on_sleeves": (
        "safe-haven-risk-off",
        {"triggers.0.act_on_sleeves": ["crypto", "emequity"]},
        "triggers[0].act_on_sleeves[1]",
        "em_equity",
    ),
    "triggers.redistribute_to": (
        "safe-haven-risk-off",
        {"triggers.0.redistribute_to": ["rate"]},
        "triggers[0].redistribute_to[0]",
        "rates",
    ),
    "limits.sleeve_max_risk": (
        "safe-haven-risk-off",
        {"limits.sleeve_max_risk": {"cryptoo": 0.2}},
        "limits.sleeve_max_risk.cryptoo",
        "crypto",
    ),
    "limits.sleeve_max_weight": (
        "static-60-40",
        {"limits.sleeve_max_weight": {"dm_equities": 0.5}},
        "limits.sleeve_max_weight.dm_equities",
        "dm_equity",
    ),
    "limits.sleeve_min_weight": (
        "static-60-40",
        {"limits.sleeve_min_weight": {"rate": 0.1}},
        "limits.sleeve_min_weight.rate",
        "rates",
    ),
    "target.sleeve_weights": (
        "static-60-40",
        {"target.sleeve_weights": {"dm_equty": 0.6, "rates": 0.4}},
        "target.sleeve_weights.dm_equty",
        "dm_equity",
    ),
    "target.risk_budgets": (
        "risk-parity-fund",
        {"target.risk_budgets": {"dm_equity": 1, "comodity": 1}},
        "target.risk_budgets.comodity",
        "commodity",
    ),
    "costs.sleeve_bps": (
        "risk-parity-fund",
        {"costs.sleeve_bps": {"em_equty": 5.0}},
        "costs.sleeve_bps.em_equty",
        "em_equity",
    ),
    "universe.sleeves": (
        "equity-risk-control-10",
        {"universe.sleeves": ["dm_equity", "em_equities"]},
        "universe.sleeves[1]",
        "em_equity",
    ),
    "universe.exclude_sleeves": (
        "vol-target-fund",
        {"universe.exclude_sleeves": ["volatilty"]},
        "universe.exclude_sleeves[0]",
        "volatility",
    ),
}


@pytest.mark.parametrize("case", MISSPELT_SLEEVES.values(), ids=list(MISSPELT_SLEEVES))
def test_misspelt_sleeve_is_a_spec_error_naming_the_field_and_the_closest_sleeve(
    case: tuple[str, dict, str, str],
) -> None:
    name, overrides, field, closest = case
    with pytest.raises(SpecError) as info:
        load_policy(name, overrides)
    message = str(info.value)
    assert message.startswith(f"{builtin_dir('policies') / name}.toml: {field}: ")
    assert f"(did you mean '{closest}'?)" in message
    assert "universe.custom_sleeves" in message


def _string_container_fields(cls: type, prefix: str = "") -> set[str]:
    """Fields of a spec (nested specs included) that hold strings: tables or lists."""
    found = set()
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        inner = options[0] if typing.get_origin(hint) is types.UnionType else hint
        args = typing.get_args(inner)
        if dataclasses.is_dataclass(inner):
            found |= _string_container_fields(inner, f"{prefix}{field.name}.")
        elif typing.get_origin(inner) is tuple and dataclasses.is_dataclass(args[0]):
            found |= _string_container_fields(args[0], f"{prefix}{field.name}.")
        elif typing.get_origin(inner) is dict or (
            typing.get_origin(inner) is tuple and args[0] is str
        ):
            found.add(f"{prefix}{field.name}")
    return found


def test_every_field_holding_names_is_checked_as_sleeves() -> None:
    """A new table or list of names in a spec must join the misspelling battery."""
    fields = _string_container_fields(PolicySpec)
    assert "limits.sleeve_max_risk" in fields
    assert fields - {"universe.custom_sleeves"} == set(MISSPELT_SLEEVES)


def test_declared_custom_sleeve_is_known_and_a_builtin_one_cannot_be_declared() -> None:
    budgets = {"target.risk_budgets": {"dm_equity": 1, "infra": 2}}
    with pytest.raises(SpecError, match=r"target\.risk_budgets\.infra: unknown sleeve"):
        load_policy("risk-parity-fund", budgets)
    policy = load_policy(
        "risk-parity-fund", {**budgets, "universe.custom_sleeves": ["infra"]}
    )
    assert policy.target.risk_budgets["infra"] == 2
    assert policy.universe.custom_sleeves == ("infra",)
    with pytest.raises(
        SpecError, match=r"universe\.custom_sleeves\[0\]: 'crypto' is a built-in sleeve"
    ):
        load_policy("risk-parity-fund", {"universe.custom_sleeves": ["crypto"]})


def test_asset_risk_budgets_name_assets_not_sleeves() -> None:
    policy = load_policy(
        "risk-parity-fund",
        {"target.risk_budget_by": "asset", "target.risk_budgets": {"SPY": 1, "TLT": 2}},
    )
    assert policy.target.risk_budgets == {"SPY": 1.0, "TLT": 2.0}


@pytest.mark.parametrize(
    ("budgets", "match"),
    [
        (
            {},  # the policy's budgets by sleeve, read as assets: all cash before
            r"target\.risk_budgets\.safe_haven: no such asset in the policy's "
            r"universe on .*\(held: .*SPY.*\); with risk_budget_by = \"asset\" "
            r"the budgets name assets, not sleeves",
        ),
        (
            {"target.risk_budgets": {"SPY": 1, "TLT": 1, "GLDD": 1}},
            r"target\.risk_budgets\.GLDD: no such asset .*\(did you mean 'GLD'\?\)",
        ),
    ],
    ids=["sleeve-names", "typo"],
)
def test_asset_risk_budgets_must_name_assets_of_the_universe(
    budgets: dict[str, object], match: str
) -> None:
    """A budget naming no held asset was silently 0 (GLDD), and budgets that all
    missed gave an all-cash book with exit 0."""
    policy = load_policy(
        "risk-parity-fund", {"target.risk_budget_by": "asset", **budgets}
    )
    with pytest.raises(SpecError, match=match):
        backtest(policy, start="2024-01-02", baseline=None)
    held = load_policy(
        "risk-parity-fund",
        {"target.risk_budget_by": "asset", "target.risk_budgets": {"SPY": 1, "GLD": 2}},
    )
    result = backtest(held, start="2024-01-02", baseline=None)
    assert set(result.weights.columns[(result.weights != 0).any()]) == {"SPY", "GLD"}


def test_level_signals_are_trigger_signals() -> None:
    policy = load_policy("vix-risk-off")
    assert policy.triggers[0].signal == "level"
    assert policy.triggers[0].watch_sleeves == ("volatility",)
    zscore = load_policy("vix-risk-off", {"triggers.0.signal": "level_zscore"})
    assert zscore.triggers[0].signal == "level_zscore"
    with pytest.raises(SpecError, match=r"triggers\[0\]\.signal: expected one of"):
        load_policy("vix-risk-off", {"triggers.0.signal": "levels"})


def test_trigger_names_must_differ() -> None:
    """Two triggers of one name (their events, signals and columns are keyed by
    it) crashed the backtest's attribution with an IndexError."""
    policy = load_policy("safe-haven-risk-off-garch")
    assert len(policy.triggers) == 2
    with pytest.raises(
        SpecError,
        match=r"triggers\[1\]\.name: 'safe-haven-vol-spike' is the name of "
        r"triggers\[0\] too",
    ):
        load_policy(
            "safe-haven-risk-off-garch", {"triggers.1.name": "safe-haven-vol-spike"}
        )


def test_a_misspelt_model_field_is_named_before_the_model_is_looked_up(
    tmp_path: Path,
) -> None:
    """Without 'model', the file was refused for its model, not for 'modle'."""
    text = VALID.replace("model = ", "modle = ", 1)
    assert "modle = " in text
    with pytest.raises(SpecError, match=r"policy\.toml: unknown field 'modle'"):
        load_policy(write(tmp_path, text))


def test_a_policy_saved_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_bytes(b"\xef\xbb\xbf" + VALID.encode())
    assert load_policy(path).name == "p"


@pytest.mark.parametrize(
    ("field", "name"),
    [("name", "desk\x1b[2J"), ("name", " "), ("triggers.0.name", "spike\x07")],
    ids=["escape", "blank", "bell"],
)
def test_names_are_printable_labels(field: str, name: str) -> None:
    """A name with a control character reached the terminal and the charts as is."""
    where = re.escape(field.replace(".0.", "[0]."))
    with pytest.raises(SpecError, match=rf"{where}: must be printable text"):
        load_policy("safe-haven-risk-off", {field: name})
