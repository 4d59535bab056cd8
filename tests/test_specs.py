from pathlib import Path

import pytest

from riskengine.errors import SpecError
from riskengine.specs import builtin_names, load_model, load_policy

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
            r"model: nope: no such file, nor a built-in model",
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
    with pytest.raises(SpecError, match=r"unknown field 'target\.target_vol'"):
        load_policy("safe-haven-risk-off", {"target.target_vol": 0.08})
    with pytest.raises(
        SpecError, match=r"target\.target_vol_annual: expected a number"
    ):
        load_policy("safe-haven-risk-off", {"target.target_vol_annual": "high"})
