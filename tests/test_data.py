from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskengine.api import market_from
from riskengine.data.prices import (
    aligned_returns,
    daily_columns,
    load_market,
    make_market,
    read_price_file,
    trading_calendar,
)
from riskengine.data.sleeves import (
    BUILTIN_ASSETS,
    SLEEVE_NAMES,
    AssetInfo,
    SleeveTable,
    read_sleeve_file,
    resolve_assets,
)
from riskengine.errors import DataError

GOOD = (
    "date,SPY,BTC_USD\n2024-01-05,100,40000\n2024-01-06,,41000\n2024-01-08,101,42000\n"
)


def write(tmp_path: Path, text: str, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "date,SPY\n2024-01-03,1\n2024-01-02,2\n",
            r"dates not sorted: 2024-01-02 comes after 2024-01-03",
        ),
        ("date,SPY\n2024-01-02,1\n2024-01-02,2\n", r"duplicate date 2024-01-02"),
        (
            "date,SPY,TLT\n2024-01-02,1,2\n2024-01-03,abc,2\n",
            r"column SPY @ 2024-01-03: 'abc' is not a number",
        ),
        (
            "date,SPY\n2024-01-02,1\n2024-01-03,0\n",
            r"column SPY @ 2024-01-03: price 0 must be positive",
        ),
        (
            "date,SPY\n2024-01-02,1\n2024-01-03,-5\n",
            r"column SPY @ 2024-01-03: price -5 must be positive",
        ),
        (
            "date,SPY,TLT\n2024-01-02,1,\n2024-01-03,2,\n",
            r"column TLT has no prices at all",
        ),
        (
            "date,SPY\n2024-01-02,1\nnot-a-date,2\n",
            r"row 2: date 'not-a-date' is not an ISO date",
        ),
        ("date\n2024-01-02\n", r"need a date column and at least one price column"),
        (
            "date;SPY\n2024-01-02;1\n",
            r"need a date column and at least one price column \(separated by "
            r"semicolons\? the file must be comma-separated\)",
        ),
        (
            "date\tSPY\tTLT\n2024-01-02\t1,5\t2\n",
            r"line 2: 2 cells, but the header has 1 \(separated by tabs\?",
        ),
        ("SPY,Date,DATE\n1,2024-01-02,2024-01-02\n", r"two date columns"),
        (
            ",date,SPY\n0,2024-01-02,1\n",
            r"column 1 has no name beside the date column 'date': an index written "
            r"by DataFrame.to_csv\(\)\? write the file with index=False",
        ),
    ],
    ids=[
        "unsorted",
        "duplicate",
        "non-numeric",
        "zero",
        "negative",
        "all-empty",
        "bad-date",
        "no-columns",
        "semicolons",
        "tabs",
        "two-date-columns",
        "index-column",
    ],
)
def test_bad_price_file_names_file_column_and_date(
    tmp_path: Path, text: str, match: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DataError, match=match) as info:
        read_price_file(path)
    assert str(path) in str(info.value)


def test_missing_file_and_unknown_type(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="price file not found"):
        read_price_file(tmp_path / "absent.csv")
    with pytest.raises(DataError, match=r"unsupported price file type '\.xlsx'"):
        read_price_file(write(tmp_path, "x", "prices.xlsx"))


def test_parquet_and_csv_read_the_same(tmp_path: Path) -> None:
    from_csv = read_price_file(write(tmp_path, GOOD))
    from_csv.reset_index().to_parquet(tmp_path / "prices.parquet")
    from_parquet = read_price_file(tmp_path / "prices.parquet")
    pd.testing.assert_frame_equal(from_csv, from_parquet, check_index_type=False)


def test_weekend_crypto_compounds_into_next_exchange_day() -> None:
    dates = pd.date_range("2024-01-04", "2024-01-09")  # Thu .. Tue
    prices = pd.DataFrame(
        {
            "SPY": [100.0, 101.0, np.nan, np.nan, 102.0, 103.0],
            "BTC_USD": [40.0, 41.0, 42.0, 43.0, 44.0, 45.0],
        },
        index=dates,
    )
    assert daily_columns(prices) == ["BTC_USD"]
    calendar = trading_calendar(prices)
    assert list(calendar.day_of_week) == [3, 4, 0, 1]  # no weekend rows
    returns = aligned_returns(prices)
    monday = pd.Timestamp("2024-01-08")
    assert returns.loc[monday, "BTC_USD"] == pytest.approx(44 / 41 - 1, rel=1e-15)
    assert returns.loc[monday, "SPY"] == pytest.approx(102 / 101 - 1, rel=1e-15)
    assert np.isnan(returns.iloc[0]).all()  # first price has no return


def test_asset_missing_a_day_gets_nan_then_the_whole_move() -> None:
    dates = pd.bdate_range("2024-01-01", periods=4)
    prices = pd.DataFrame(
        {"SPY": [100.0, 101.0, 102.0, 103.0], "TLT": [50.0, np.nan, 52.0, 53.0]},
        index=dates,
    )
    returns = aligned_returns(prices)
    assert np.isnan(returns["TLT"].iloc[1])  # no new price: no return, nothing filled
    assert returns["TLT"].iloc[2] == pytest.approx(52 / 50 - 1, rel=1e-15)


def test_unknown_ticker_needs_a_sleeve_table(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no sleeve for column.*XYZ.*--sleeves"):
        resolve_assets(["SPY", "XYZ"])
    table = write(tmp_path, "asset,sleeve\nXYZ,credit\n", "sleeves.csv")
    market = load_market(
        write(tmp_path, "date,SPY,XYZ\n2024-01-02,1,2\n2024-01-03,2,3\n"), sleeves=table
    )
    assert market.sleeves == {"SPY": "dm_equity", "XYZ": "credit"}


def test_real_file_alignment(
    real_prices_path: Path, real_prices_raw: pd.DataFrame
) -> None:
    market = load_market(real_prices_path)
    assert set(market.daily_columns) == {"BTC_USD", "ETH_USD"}
    assert (market.returns.index.day_of_week < 5).all()
    assert market.returns.index.is_monotonic_increasing
    assert market.returns.index.is_unique
    # Monday 2026-02-02: BTC's return compounds Saturday, Sunday and Monday
    btc = real_prices_raw["BTC_USD"]
    expected = btc["2026-02-02"] / btc["2026-01-30"] - 1
    assert market.returns.loc["2026-02-02", "BTC_USD"] == pytest.approx(
        expected, rel=1e-12
    )
    # an ETF's returns are its own consecutive closes
    spy = real_prices_raw["SPY"].dropna()
    pd.testing.assert_series_equal(
        market.returns["SPY"].dropna(),
        (spy / spy.shift(1) - 1).dropna(),
        check_names=False,
        check_freq=False,
        check_index_type=False,
        rtol=1e-12,
    )
    assert market.sleeves["GLD"] == "safe_haven"
    assert market.sleeves["ETH_USD"] == "crypto"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "asset,sleeve\nTLT,rates\nSPY,dm_equty\n",
            r"line 3 \(asset SPY\): sleeve: unknown sleeve 'dm_equty' \(did you mean "
            r"'dm_equity'\?\); a sleeve outside the built-in vocabulary needs "
            r"custom_sleeve = true",
        ),
        (
            "asset,sleeve,custom_sleeve\nA,infra,true\nB,infar,\n",
            r"line 3 \(asset B\): sleeve: unknown sleeve 'infar' \(did you mean "
            r"'infra'\?\)",
        ),
        (
            "asset,sleeve,custom_sleeve\nBTC_USD,crypto,true\n",
            r"line 2 \(asset BTC_USD\): custom_sleeve: 'crypto' is a built-in sleeve",
        ),
        (
            "asset,sleeve,investible\nVIX,volatility,false\n",
            r"unknown column 'investible' \(did you mean 'investable'\?\)",
        ),
        (
            "asset,sleeve,investable\nVIX,volatility,no\n",
            r"line 2 \(asset VIX\): investable: expected true or false \(or empty\), "
            r"got 'no'",
        ),
        ("asset,sleeve\nSPY,dm_equity\nSPY,rates\n", r"line 3: asset SPY listed twice"),
        ("asset,sleeve\nSPY,\n", r"line 2: empty sleeve"),
        ("asset,sector\nSPY,dm_equity\n", r"unknown column 'sector'"),
        ("asset\nSPY\n", r"expected columns 'asset,sleeve'"),
        ("asset,sleeve\n", r"no rows: expected one line per asset"),
        (
            "asset,sleeve\nSPY,rates\n\n\nSPY,rates\n",
            r"line 5: asset SPY listed twice \(first on line 2\)",
        ),
        (
            "asset,sleeve\n\nSPY,DM_Equity\n",
            r"line 3 \(asset SPY\): sleeve: unknown sleeve 'DM_Equity' \(did you "
            r"mean 'dm_equity'\?\)",
        ),
    ],
    ids=[
        "misspelt",
        "misspelt-custom",
        "builtin-declared-custom",
        "misspelt-column",
        "bad-flag",
        "duplicate",
        "empty-sleeve",
        "unknown-column",
        "no-sleeve-column",
        "header-only",
        "line-after-blank-lines",
        "case-of-sleeve",
    ],
)
def test_bad_sleeve_file_names_file_line_and_fix(
    tmp_path: Path, text: str, match: str
) -> None:
    path = write(tmp_path, text, "sleeves.csv")
    with pytest.raises(DataError, match=match) as info:
        read_sleeve_file(path)
    assert str(info.value).startswith(f"{path}: ")


def test_sleeve_file_declares_custom_sleeves_and_signal_only_assets(
    tmp_path: Path,
) -> None:
    table = read_sleeve_file(
        write(
            tmp_path,
            "asset,sleeve,investable,custom_sleeve\n"
            "INFRA1,infra,,true\n"
            "INFRA2,infra,,\n"
            "MYIDX,dm_equity,false,\n"
            "VIX,volatility,,\n"
            "VXX,volatility,,\n"
            "SPY,dm_equity,TRUE,\n",
            "sleeves.csv",
        )
    )
    assert table.custom_sleeves == {"infra"}
    assert table.assets["INFRA2"] == AssetInfo("infra", investable=True)
    assert table.assets["MYIDX"] == AssetInfo("dm_equity", investable=False)
    # an empty cell keeps the built-in table's word: spot VIX is an index, VXX an ETN
    assert table.assets["VIX"] == AssetInfo("volatility", investable=False)
    assert table.assets["VXX"] == AssetInfo("volatility", investable=True)
    assert table.assets["SPY"].investable


def test_builtin_table_speaks_the_sleeve_vocabulary() -> None:
    assert {info.sleeve for info in BUILTIN_ASSETS.values()} == set(SLEEVE_NAMES)
    signal_only = sorted(a for a, info in BUILTIN_ASSETS.items() if not info.investable)
    assert signal_only == ["VIX", "^VIX"]


def test_a_mapping_with_a_misspelt_or_undeclared_sleeve_is_a_data_error() -> None:
    prices = pd.DataFrame(
        {"SPY": [1.0, 2.0], "XYZ": [1.0, 2.0]},
        index=pd.bdate_range("2024-01-02", periods=2),
    )
    with pytest.raises(
        DataError, match=r"^frame: asset XYZ: unknown sleeve 'credt' \(did you mean "
    ):
        make_market(prices, source="frame", sleeves={"XYZ": "credt"})
    with pytest.raises(DataError, match=r"asset XYZ: unknown sleeve 'infra'"):
        make_market(prices, source="frame", sleeves={"XYZ": "infra"})
    table = SleeveTable({"XYZ": AssetInfo("infra")}, frozenset({"infra"}))
    market = make_market(prices, source="frame", sleeves=table)
    assert market.sleeves == {"SPY": "dm_equity", "XYZ": "infra"}
    assert market.custom_sleeves == {"infra"}


def test_market_carries_investability_and_keeps_it_on_a_subset(
    tmp_path: Path,
) -> None:
    prices = write(
        tmp_path,
        "date,SPY,VIX,MYIDX\n2024-01-02,1,15,7\n2024-01-03,2,16,8\n2024-01-04,3,17,9\n",
    )
    sleeves = write(
        tmp_path, "asset,sleeve,investable\nMYIDX,dm_equity,false\n", "sleeves.csv"
    )
    market = load_market(prices, sleeves=sleeves)
    assert market.investable == {"SPY": True, "VIX": False, "MYIDX": False}
    assert market.signal_only == ["VIX", "MYIDX"]
    subset = make_market(
        market.prices[["SPY", "MYIDX"]], source="subset", sleeves=market.asset_table
    )
    assert subset.signal_only == ["MYIDX"]


def test_the_date_column_is_found_in_any_case_and_place(tmp_path: Path) -> None:
    prices = read_price_file(
        write(tmp_path, "SPY,Date,TLT\n449.5,2024-01-02,90\n450,2024-01-03,91\n")
    )
    assert list(prices.columns) == ["SPY", "TLT"]
    assert prices.index[0] == pd.Timestamp("2024-01-02")
    assert prices.loc["2024-01-03", "SPY"] == 450.0


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        (
            "spy,rates\n",
            r"asset spy is not a column of .*prices.csv \(did you mean 'SPY'",
        ),
        ("SPY,dm_equity\nSPYY,rates\nZZZ,rates\n", r"asset SPYY \(and 1 more\)"),
        ("ZZZ,rates\n", r"asset ZZZ is not a column .*\(no column is close\)"),
    ],
    ids=["case", "typo", "absent"],
)
def test_a_sleeve_file_lists_only_its_price_files_columns(
    tmp_path: Path, rows: str, match: str
) -> None:
    """A row that names no column would leave the meant one on its built-in sleeve
    (``spy,rates`` left SPY in dm_equity, the run's figures unchanged)."""
    prices = write(tmp_path, GOOD)
    sleeves = write(tmp_path, f"asset,sleeve\n{rows}", "sleeves.csv")
    with pytest.raises(DataError, match=match) as info:
        load_market(prices, sleeves=sleeves)
    assert str(info.value).startswith(f"{sleeves}: ")
    frame = read_price_file(prices)
    with pytest.raises(DataError, match="is not a column of DataFrame"):
        market_from(frame, sleeves=sleeves)


def test_a_table_that_names_a_column_in_another_case_is_a_data_error() -> None:
    frame = pd.DataFrame(
        {"SPY": [100.0, 101.0], "BTC_USD": [40000.0, 42000.0]},
        index=pd.to_datetime(["2024-01-05", "2024-01-08"]),
    )
    with pytest.raises(DataError, match=r"asset spy is not a column of frame \(did "):
        make_market(frame, source="frame", sleeves={"spy": "rates"})
    table = {"SPY": "rates", "TLT": "rates"}
    wider = make_market(frame, source="frame", sleeves=table)
    assert wider.sleeves["SPY"] == "rates"  # a wider table is fine: its rows match


@pytest.mark.parametrize("dtype", ["bool", "boolean"])
def test_a_boolean_column_is_not_read_as_prices_of_one(
    tmp_path: Path, dtype: str
) -> None:
    frame = read_price_file(write(tmp_path, GOOD))
    frame["FLAG"] = pd.Series([True, False, True], index=frame.index, dtype=dtype)
    path = tmp_path / "prices.parquet"
    frame.to_parquet(path)
    with pytest.raises(DataError, match=f"column FLAG has non-numeric type {dtype}"):
        read_price_file(path)
