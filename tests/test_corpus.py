"""A corpus of malformed and hostile inputs, each run through the CLI in-process.

The inputs are small files in ``tests/corpus/`` (prices, sleeves, policies and
their models, sweeps), command-line arguments, and output paths a user already
owns. Each case states its exit code (see `riskengine.errors`) and a fragment of
its message naming the file, field, column or date; the test checks exactly one
line on stderr, no traceback, and that nothing was written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskengine.cli import main

CORPUS = Path(__file__).parent / "corpus"
OK_PRICES = "{corpus}/prices/ok.csv"


@dataclass(frozen=True)
class Case:
    """One hostile input: CLI arguments, the exit code and the message expected.

    ``{corpus}`` and ``{tmp}`` in the arguments stand for the corpus folder and a
    fresh temporary folder (the working directory of the run); `setup` puts a
    user's files there first. `claims` names an output folder riskengine may have
    claimed (created and marked, nothing in it) before it failed.
    """

    args: tuple[str, ...]
    code: int
    message: str
    setup: Callable[[Path], None] = field(default=lambda tmp: None)
    claims: str | None = None


def _backtest_prices(name: str, code: int, message: str) -> Case:
    args = ("backtest", "--prices", f"{{corpus}}/prices/{name}")
    return Case((*args, "--policy", "equity-risk-control-10"), code, message)


def _backtest_sleeves(name: str, code: int, message: str) -> Case:
    args = (
        "backtest",
        "--prices",
        OK_PRICES,
        "--sleeves",
        f"{{corpus}}/sleeves/{name}",
    )
    return Case(args, code, message)


def _backtest_policy(name: str, code: int, message: str) -> Case:
    args = ("backtest", "--prices", OK_PRICES, "--policy")
    return Case((*args, f"{{corpus}}/policies/{name}"), code, message)


def _sweep(name: str, code: int, message: str) -> Case:
    args = ("sweep", f"{{corpus}}/sweeps/{name}", "--prices", OK_PRICES)
    return Case(args, code, message)


PRICES = {
    "empty.csv": (3, r"empty\.csv: empty price file"),
    "blank-lines.csv": (3, r"blank-lines\.csv: need a date column"),
    "header-only.csv": (3, r"header-only\.csv: no prices: .* no rows"),
    "date-only.csv": (3, r"date-only\.csv: need a date column and at least one price"),
    "binary.csv": (3, r"binary\.csv: line 1: a NUL byte: a binary file"),
    "utf16.csv": (3, r"utf16\.csv: UTF-16 text: save the price file as UTF-8"),
    "latin1.csv": (3, r"latin1\.csv: line 4: byte 0xe9 is not UTF-8"),
    "duplicate-header.csv": (3, r"column name 'SPY' given twice \(columns 2 and 3\)"),
    "duplicate-header-spaced.csv": (3, r"column name 'SPY' given twice"),
    "unnamed-column.csv": (3, r"unnamed-column\.csv: line 1: column 2 has no name"),
    "ragged-long.csv": (3, r"ragged-long\.csv: line 3: 3 cells, but the header has 2"),
    "ragged-short.csv": (3, r"line 3: 2 cells, but the header has 3"),
    "unterminated-quote.csv": (3, r"unterminated-quote\.csv: line 3: not valid CSV"),
    "us-dates.csv": (3, r"row 1: date '01/02/2024' is not an ISO date"),
    "word-date.csv": (3, r"row 2: date 'yesterday' is not an ISO date"),
    "year-only.csv": (3, r"row 1: date '2023' is not an ISO date"),
    "feb-30.csv": (3, r"row 2: date '2024-02-30' is not a calendar date"),
    "hour-25.csv": (3, r"row 2: date '2024-01-03 25:00' is not a calendar date"),
    "mixed-offsets.csv": (
        3,
        r"row 2: .* has UTC offset '\+0100' but row 1 has '-0500'",
    ),
    "offset-and-naive.csv": (3, r"row 2: .* UTC offset '\+0000' but row 1 has 'none'"),
    "duplicate-date.csv": (3, r"duplicate-date\.csv: duplicate date 2024-01-02"),
    "unsorted.csv": (3, r"dates not sorted: 2024-01-02 comes after 2024-01-03"),
    "not-a-number.csv": (3, r"column SPY @ 2024-01-03: 'x' is not a number"),
    "comma-decimal.csv": (3, r"column SPY @ 2024-01-02: '470,1' is not a number"),
    "long-cell.csv": (3, r"column SPY @ 2024-01-03: '9{40}\.\.\.' is not a number"),
    "negative.csv": (3, r"column SPY @ 2024-01-03: price -2 must be positive"),
    "zero.csv": (3, r"column SPY @ 2024-01-03: price 0 must be positive"),
    "infinite.csv": (
        3,
        r"column SPY @ 2024-01-03: price inf must be positive and finite",
    ),
    "overflow.csv": (3, r"column SPY @ 2024-01-03: price inf must be positive"),
    "empty-column.csv": (3, r"empty-column\.csv: column TLT has no prices at all"),
    "unknown-ticker.csv": (3, r"no sleeve for column\(s\) ZZZQ: pass a sleeve file"),
    "formula-ticker.csv": (3, r"no sleeve for column\(s\) =HYPERLINK\(1\)"),
    "one-row.csv": (3, r"one-row\.csv: no trading days in the requested period"),
    "prices.xlsx": (3, r"prices\.xlsx: unsupported price file type '\.xlsx'"),
    "garbage.parquet": (3, r"garbage\.parquet: cannot read as Parquet"),
    "empty.parquet": (3, r"empty\.parquet: cannot read as Parquet"),
    "csv-named.parquet": (3, r"csv-named\.parquet: cannot read as Parquet"),
    "date-in-index-and-column.parquet": (
        3,
        r"\.parquet: column name 'date' given twice",
    ),
    "missing.csv": (3, r"missing\.csv: price file not found"),
}

SLEEVES = {
    "empty.csv": (3, r"sleeves/empty\.csv: empty sleeve file"),
    "binary.csv": (3, r"sleeves/binary\.csv: line 1: a NUL byte"),
    "malformed.csv": (3, r"sleeves/malformed\.csv: line 3: not valid CSV"),
    "latin1.csv": (3, r"sleeves/latin1\.csv: line 2: byte 0xe9 is not UTF-8"),
    "ragged.csv": (3, r"sleeves/ragged\.csv: line 2: 3 cells, but the header has 2"),
    "no-sleeve-column.csv": (3, r"expected columns 'asset,sleeve', found \['asset'\]"),
    "unknown-column.csv": (3, r"unknown-column\.csv: unknown column 'sector'"),
    "duplicate-column.csv": (3, r"line 1: column name 'sleeve' given twice"),
    "empty-cell.csv": (3, r"empty-cell\.csv: line 2: empty sleeve"),
    "asset-twice.csv": (3, r"line 3: asset SPY listed twice \(first on line 2\)"),
    "misspelt-sleeve.csv": (
        3,
        r"line 2 \(asset SPY\): sleeve: unknown sleeve 'dm_equty'",
    ),
    "bad-flag.csv": (3, r"line 2 \(asset SPY\): investable: expected true or false"),
    "missing.csv": (3, r"sleeves/missing\.csv: sleeve file not found"),
}

RANGE = r"expected a finite number of magnitude at most 1e\+12"
POLICIES = {
    "latin1.toml": (4, r"latin1\.toml: line 2: byte 0xe9 is not UTF-8"),
    "nul-bytes.toml": (4, r"nul-bytes\.toml: not valid TOML"),
    "deep-arrays.toml": (4, r"deep-arrays\.toml: not valid TOML \(nested too deeply\)"),
    "deep-tables.toml": (4, r"deep-tables\.toml: not valid TOML \(nested too deeply\)"),
    "not-toml.toml": (4, r"not-toml\.toml: not valid TOML \(Expected '='"),
    "empty.toml": (4, r"empty\.toml: missing field 'name'"),
    "huge-int.toml": (
        4,
        r"rebalance\.min_history_days: expected an integer of magnitude at most "
        r"1000000 .* got an integer of 400 digits",
    ),
    "huge-int-float-field.toml": (
        4,
        rf"target\.target_vol_annual: {RANGE}, got an integer of 400 digits",
    ),
    "tiny-budget.toml": (
        4,
        r"target\.risk_budgets\.dm_equity: must be in \[1e-06, 1e\+06\] .* 1e-300",
    ),
    "huge-budget.toml": (4, rf"target\.risk_budgets\.dm_equity: {RANGE}, got 1e\+300"),
    "tiny-risk-cap.toml": (
        4,
        r"limits\.sleeve_max_risk\.crypto: must be in \[1e-06, 1\], got 1e-300",
    ),
    "nan.toml": (4, rf"target\.target_vol_annual: {RANGE}, got nan"),
    "inf.toml": (4, rf"costs\.default_bps: {RANGE}, got inf"),
    "huge-float.toml": (4, rf"triggers\[0\]\.enter_above: {RANGE}, got 1e\+300"),
    "bool-number.toml": (4, r"target\.target_vol_annual: expected a number, got true"),
    "string-number.toml": (
        4,
        r"target_vol_annual: expected a number, got 'ten percent'",
    ),
    "unknown-field.toml": (4, r"unknown field 'target\.leverage'"),
    "table-as-list.toml": (4, r"table-as-list\.toml: target: expected a table"),
    "trigger-not-table.toml": (4, r"triggers\[0\]: expected a table"),
    "long-string.toml": (4, r"target\.base: expected one of .* got 'x{40}\.\.\.'$"),
    "missing-model.toml": (4, r"missing-model\.toml: missing field 'model'"),
    "model-absolute.toml": (4, r"model: no built-in model '/etc/passwd'"),
    "model-absolute-toml.toml": (
        4,
        r"model: '/etc/passwd\.toml' is outside the policy's folder",
    ),
    "model-escape.toml": (
        4,
        r"model: '\.\./\.\./\.\./etc/x\.toml' is outside the policy's folder",
    ),
    "model-not-string.toml": (4, r"model-not-string\.toml: model: expected a built-in"),
    "model-unknown.toml": (
        4,
        r"no built-in model 'ewma-0\.49' \(did you mean 'ewma-0\.94'",
    ),
    "model-bad-utf8.toml": (4, r"model: .*models/latin1\.toml: line 2: byte 0xe9"),
    "model-deep.toml": (4, r"model: .*models/deep\.toml: not valid TOML \(nested too"),
    "model-half-life.toml": (
        4,
        r"half-life\.toml: half_life_days: expected a number in \[0\.01, 1e\+06\], "
        r"got an integer of 400 digits",
    ),
    "model-nan-decay.toml": (4, rf"nan-decay\.toml: decay: {RANGE}, got nan"),
    "model-huge-window.toml": (
        4,
        r"huge-window\.toml: window_days: expected an integer of magnitude at most",
    ),
    "missing.toml": (4, r"missing\.toml: no such file, nor a built-in policy"),
    "models": (4, r"policies/models: is a folder, not a policy file"),
}

SWEEPS = {
    "start-word.toml": (4, r"start-word\.toml: start: expected a date YYYY-MM-DD"),
    "start-timezone.toml": (4, r"start: expected a date YYYY-MM-DD, got '2025-01-01T"),
    "start-feb-30.toml": (4, r"start: '2025-02-30' is not a calendar date"),
    "policy-not-string.toml": (
        4,
        r"policies: expected a non-empty list of policy names",
    ),
    "universe-not-strings.toml": (4, r"universes\.all: expected a list of asset names"),
    "grid-bad-field.toml": (4, r"grid \{target\.leverage = 1\}: .*unknown field"),
    "grid-huge-int.toml": (
        4,
        r"grid \{rebalance\.min_history_days = an integer of 400 digits\}",
    ),
    "not-utf8.toml": (4, r"not-utf8\.toml: line 3: byte 0xe9 is not UTF-8"),
}

USAGE = r"\(see riskengine"
MARKS = {".riskengine-sweep", ".riskengine-lock"}
"""What a claimed datasets folder holds: riskengine's marker and lock files."""
ARGUMENTS = {
    "from-word": (("backtest", "--from", "yesterday"), 2, r"--from: expected a date"),
    "from-feb-30": (
        ("backtest", "--from", "2020-02-30"),
        2,
        r"--from: '2020-02-30' is not a calendar date",
    ),
    "to-timezone": (
        ("backtest", "--to", "2020-02-03T00:00+05:00"),
        2,
        r"--to: expected a date YYYY-MM-DD, got '2020-02-03T00:00\+05:00'",
    ),
    "to-compact": (("backtest", "--to", "20200203"), 2, r"--to: expected a date"),
    "from-after-to": (
        ("backtest", "--from", "2021-01-01", "--to", "2020-01-01"),
        2,
        r"backtest: --from 2021-01-01 is after --to 2020-01-01",
    ),
    "compare-month-13": (
        ("compare", "static-60-40", "--from", "2021-13-01"),
        2,
        r"compare: argument --from: '2021-13-01' is not a calendar date",
    ),
    "asof-word": (("allocate", "--asof", "today"), 2, r"--asof: expected a date"),
    "workers-zero": (
        ("sweep", "x.toml", "--workers", "0"),
        2,
        r"--workers: expected a whole number from 1 to 256, got '0'",
    ),
    "workers-word": (("sweep", "x.toml", "--workers", "many"), 2, r"--workers: .*many"),
    "unknown-command": (("frobnicate",), 2, r"invalid choice: 'frobnicate'"),
    "no-command": ((), 2, r"the following arguments are required: command"),
    "unknown-option": (("backtest", "--nope"), 2, r"unrecognized arguments: --nope"),
    "missing-value": (("backtest", "--policy"), 2, r"--policy: expected one argument"),
    "calibrate-no-out": (
        ("calibrate-simulator", "--prices", OK_PRICES),
        2,
        r"required: --out",
    ),
    "prices-folder": (
        ("backtest", "--prices", "{corpus}/prices"),
        3,
        r"prices: is a folder, not a price file",
    ),
    "compare-same-name": (
        ("compare", "static-60-40", "static-60-40"),
        4,
        r"compare: policy names must differ",
    ),
    "cut-sleeve-misspelt": (
        ("compare", "static-60-40", "--cut-sleeves", "cryptoo", "--prices", OK_PRICES),
        4,
        r"--cut-sleeves: unknown sleeve 'cryptoo' \(did you mean 'crypto'\?\)",
    ),
    "calibrate-garbage-parquet": (
        (
            "calibrate-simulator",
            "--prices",
            "{corpus}/prices/garbage.parquet",
            "--out",
            "{tmp}/c.json",
        ),
        3,
        r"garbage\.parquet: cannot read as Parquet",
    ),
    "calibrate-missing-columns": (
        ("calibrate-simulator", "--prices", OK_PRICES, "--out", "{tmp}/c.json"),
        3,
        r"ok\.csv: no column BTC_USD, EEM, GLD, HYG, SLV, TLT",
    ),
    "scheduler-nonsense": (  # leaves only its claimed, empty datasets folder
        ("sweep", "{corpus}/sweeps/ok.toml", "--prices", OK_PRICES, "--out", "{tmp}/s"),
        9,
        r"--scheduler nonsense://x: cannot start or connect",
    ),
}


def _user_folder(tmp: Path) -> None:
    (tmp / "mine").mkdir()
    (tmp / "mine" / "thesis.docx").write_text("a user's file")


def _user_file(tmp: Path) -> None:
    (tmp / "notes.txt").write_text("a user's file")


def _user_json(tmp: Path) -> None:
    (tmp / "alloc.json").write_text('{"weights": "mine"}')


OUTPUTS = {
    "out-user-folder": (
        ("backtest", "--policy", "static-60-40", "--out", "{tmp}/mine"),
        r"mine: is a folder riskengine did not make \(it holds thesis\.docx\)",
        _user_folder,
    ),
    "out-user-file": (
        ("backtest", "--policy", "static-60-40", "--out", "{tmp}/notes.txt"),
        r"notes\.txt: is a file, not a results folder",
        _user_file,
    ),
    "out-dot": (
        ("backtest", "--policy", "static-60-40", "--out", "."),
        r"--out must name a folder or file of its own",
        _user_file,
    ),
    "out-device": (
        ("backtest", "--policy", "static-60-40", "--out", "/dev/null"),
        r"/dev/null: is a device, not a results folder",
        _user_file,
    ),
    "allocate-out-user-json": (
        ("allocate", "--policy", "static-60-40", "--out", "{tmp}/alloc.json"),
        r"alloc\.json: is a file riskengine did not write",
        _user_json,
    ),
    "allocate-out-folder": (
        ("allocate", "--policy", "static-60-40", "--out", "{tmp}/mine"),
        r"mine: is a folder, not a riskengine allocation file",
        _user_folder,
    ),
    "calibrate-out-user-file": (
        ("calibrate-simulator", "--prices", OK_PRICES, "--out", "{tmp}/notes.txt"),
        r"notes\.txt: is a file riskengine did not write",
        _user_file,
    ),
    "sweep-out-user-folder": (
        (
            "sweep",
            "{corpus}/sweeps/ok.toml",
            "--prices",
            OK_PRICES,
            "--out",
            "{tmp}/mine",
        ),
        r"mine: is a folder riskengine did not make",
        _user_folder,
    ),
}


def _cases() -> list[object]:
    cases: dict[str, Case] = {}
    for name, (code, message) in PRICES.items():
        cases[f"prices/{name}"] = _backtest_prices(name, code, message)
    for name, (code, message) in SLEEVES.items():
        cases[f"sleeves/{name}"] = _backtest_sleeves(name, code, message)
    for name, (code, message) in POLICIES.items():
        cases[f"policies/{name}"] = _backtest_policy(name, code, message)
    for name, (code, message) in SWEEPS.items():
        cases[f"sweeps/{name}"] = _sweep(name, code, message)
    for name, (args, code, message) in ARGUMENTS.items():
        claims = None
        if name == "scheduler-nonsense":
            args, claims = (*args, "--scheduler", "nonsense://x"), "s"
        cases[f"cli/{name}"] = Case(args, code, message, claims=claims)
    for name, (args, message, setup) in OUTPUTS.items():
        cases[f"out/{name}"] = Case(args, 7, message, setup)
    return [pytest.param(case, id=name) for name, case in cases.items()]


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<folder>"
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize("case", _cases())
def test_hostile_input_is_one_line_and_an_exit_code(
    case: Case,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case.setup(tmp_path)
    before = _files(tmp_path)
    monkeypatch.chdir(tmp_path)  # default outputs (results/...) would land here
    argv = [a.format(corpus=CORPUS, tmp=tmp_path) for a in case.args]
    code = main(argv)
    printed = capsys.readouterr()
    lines = printed.err.splitlines()
    assert "Traceback" not in printed.err + printed.out
    assert len(lines) == 1, printed.err
    assert lines[0].startswith("riskengine: ")
    assert re.search(case.message, lines[0]), lines[0]
    assert code == case.code, lines[0]
    if code == 2:
        assert re.search(USAGE, lines[0])
    after = _files(tmp_path)
    if case.claims is not None:
        claimed = {k: v for k, v in after.items() if k.startswith(case.claims)}
        assert {Path(k).name for k in claimed} <= {case.claims, *MARKS}
        after = {k: v for k, v in after.items() if k not in claimed}
    assert after == before  # nothing written, the user's files intact


def test_the_corpus_has_sixty_inputs_and_every_file_is_used() -> None:
    cases = [param.values[0] for param in _cases()]
    assert len(cases) >= 60
    named = {a for case in cases for a in case.args if a.startswith("{corpus}/")}
    used = {a.removeprefix("{corpus}/") for a in named}
    used |= {  # reached through a policy's model field, or by their own tests
        "policies/name-escape.toml",
        *(f"policies/models/{p.name}" for p in (CORPUS / "policies/models").iterdir()),
    }
    on_disk = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.is_file()}
    assert on_disk <= used


def test_an_unexpected_error_is_one_line_or_a_traceback_on_request(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise ZeroDivisionError("float division by zero\nsecond line")

    monkeypatch.setattr("riskengine.specs.load_policy", broken)
    monkeypatch.delenv("RISKENGINE_DEBUG", raising=False)
    assert main(["backtest", "--policy", "static-60-40"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(
        "riskengine: internal error: ZeroDivisionError: float division by zero "
        "second line (a bug in riskengine: please report it"
    )
    assert "RISKENGINE_DEBUG=1 shows the traceback" in err
    monkeypatch.setenv("RISKENGINE_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["backtest", "--policy", "static-60-40"])


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "only a scheduler you trust" in text


def _synthetic_prices(days: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2023-01-02", periods=days, name="date")
    spy = 400 * np.exp(np.cumsum(rng.normal(3e-4, 0.01, days)))
    return pd.DataFrame({"SPY": spy.round(2)}, index=dates)


WRITERS: dict[str, Callable[[pd.DataFrame, Path], Path]] = {
    "csv": lambda f, d: _write(d / "p.csv", f.to_csv(date_format="%Y-%m-%d")),
    "csv-unnamed-index": lambda f, d: _write(
        d / "p.csv", f.rename_axis(None).to_csv(date_format="%Y-%m-%d")
    ),
    "csv-byte-order-mark": lambda f, d: _write(
        d / "p.csv", "\ufeff" + f.to_csv(date_format="%Y-%m-%d")
    ),
    "csv-one-utc-offset": lambda f, d: _write(
        d / "p.csv", f.to_csv(date_format="%Y-%m-%dT16:00:00-05:00")
    ),
    "csv-blank-lines-and-spaces": lambda f, d: _write(
        d / "p.csv",
        f.to_csv(date_format="%Y-%m-%d").replace("\n", " \r\n\r\n").replace(",", " , "),
    ),
    "parquet-datetime-index": lambda f, d: _to_parquet(f, d / "p.parquet"),
    "parquet-date-column": lambda f, d: _to_parquet(f.reset_index(), d / "p.parquet"),
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _to_parquet(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_parquet(path)
    return path


@pytest.mark.parametrize("writer", list(WRITERS))
def test_every_plain_form_of_the_same_prices_loads_the_same(
    writer: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a DataFrame.to_parquet() file (dates in the index) was refused before
    from riskengine.data.prices import fingerprint, read_price_file

    frame = _synthetic_prices()
    path = WRITERS[writer](frame, tmp_path)
    prices = read_price_file(path)
    pd.testing.assert_frame_equal(prices, frame, check_index_type=False)
    assert fingerprint(prices) == fingerprint(
        read_price_file(WRITERS["csv"](frame, tmp_path))
    )
    if writer == "parquet-datetime-index":  # the form refused before, end to end
        args = ["backtest", "--prices", str(path), "--policy", "equity-risk-control-10"]
        assert main([*args, "--out", str(tmp_path / "run")]) == 0
        assert "Annual volatility" in capsys.readouterr().out


def test_a_policy_named_to_escape_writes_only_under_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "keep.txt").write_text("mine")
    prices = _write(tmp_path / "p.csv", _synthetic_prices().to_csv())
    policy = CORPUS / "policies" / "name-escape.toml"
    monkeypatch.chdir(tmp_path / "work")
    code = main(["backtest", "--prices", str(prices), "--policy", str(policy)])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "victim" / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "victim", "work"]
    assert [p.name for p in (tmp_path / "work").iterdir()] == ["results"]
