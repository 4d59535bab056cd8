"""How old each price is at a job's as-of date, counted on each asset's own calendar.

An allocation job names a calendar date (often today, sometimes a Saturday or a
holiday). It decides at the last session of the trading calendar on or before it,
and every price it rests on should be that close's: an asset that trades every
calendar day (crypto) ages one day per calendar day, every other asset one day per
session of the exchange calendar (see `riskengine.calendar`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskengine.calendar import ALWAYS_OPEN, calendar_sessions, resolve_calendar
from riskengine.data.prices import Market
from riskengine.errors import DataError

EVERY_DAY = "every day"
"""How an asset that trades every calendar day names its calendar."""


@dataclass(frozen=True)
class JobCalendar:
    """The sessions an allocation job resolves its as-of date on.

    Attributes
    ----------
    name : str
        The calendar's name (``"XNYS"``, ``"24/7"``, ...).
    sessions : pd.DatetimeIndex
        Its sessions from the start of the data's first year to after the as-of
        date.
    """

    name: str
    sessions: pd.DatetimeIndex

    @classmethod
    def of(cls, market: Market, calendar: str, until: pd.Timestamp) -> JobCalendar:
        """The calendar a policy's ``rebalance.calendar`` stands for on `market`.

        Parameters
        ----------
        market : Market
            The data (``"auto"`` is ``"24/7"`` when all of it trades every day).
        calendar : str
            The policy's ``rebalance.calendar``.
        until : Timestamp
            The latest date the job needs a session for.

        Raises
        ------
        DataError
            If the calendar does not cover the dates.
        """
        every_day = set(market.assets) <= set(market.daily_columns)
        name = resolve_calendar(calendar, every_day=every_day)
        first = market.prices.index[0]
        last = max(until, market.prices.index[-1])
        return cls(name, calendar_sessions(name, first, last, source=market.source))

    def last_session(self, date: pd.Timestamp) -> pd.Timestamp:
        """The last session on or before `date` (`date` itself when a session).

        Raises
        ------
        DataError
            If no session precedes `date`.
        """
        position = int(self.sessions.searchsorted(date, side="right"))
        if position == 0:
            raise DataError(
                f"--asof {date.date()}: no {self.name} session on or before it"
            )
        return pd.Timestamp(self.sessions[position - 1])

    def sessions_between(self, after: pd.Timestamp, until: pd.Timestamp) -> int:
        """Sessions after `after` up to and including `until`."""
        right = int(self.sessions.searchsorted(until, side="right"))
        return right - int(self.sessions.searchsorted(after, side="right"))


@dataclass(frozen=True)
class PriceAge:
    """One asset's last price on or before an as-of date, and how old it is.

    Attributes
    ----------
    asset : str
        The column.
    calendar : str
        What its age counts: the exchange calendar's sessions, or `EVERY_DAY`.
    last_price : Timestamp or None
        Date of its last price on or before the as-of date; None when it has none.
    age_days : int or None
        Calendar days from `last_price` to the as-of date.
    age_trading_days : int or None
        Trading days of `calendar` after `last_price`, up to the as-of date: 0 when
        the as-of close is priced.
    """

    asset: str
    calendar: str
    last_price: pd.Timestamp | None
    age_days: int | None
    age_trading_days: int | None

    def older_than(self, limit: int) -> bool:
        """True without a price, or when it is more than `limit` trading days old."""
        return self.age_trading_days is None or self.age_trading_days > limit

    def describe(self) -> str:
        """``BTC_USD last 2026-08-20 (1 trading day old)``."""
        if self.last_price is None:
            return f"{self.asset} no price yet"
        days = "day" if self.age_trading_days == 1 else "days"
        return (
            f"{self.asset} last {self.last_price.date()} "
            f"({self.age_trading_days} trading {days} old)"
        )


def price_ages(
    market: Market, asof: pd.Timestamp, calendar: JobCalendar
) -> dict[str, PriceAge]:
    """Every asset's last price on or before `asof` and its age, by column.

    Prices after `asof` are never read. An asset in `Market.daily_columns` ages by
    calendar days; any other by the sessions of `calendar`.
    """
    prices = market.prices.loc[:asof]
    daily = set(market.daily_columns) | (
        set(market.assets) if calendar.name == ALWAYS_OPEN else set()
    )
    observed = prices.notna().to_numpy()
    dates = prices.index
    ages = {}
    for j, asset in enumerate(prices.columns):
        rows = np.flatnonzero(observed[:, j])
        own = EVERY_DAY if asset in daily else calendar.name
        if not rows.size:
            ages[asset] = PriceAge(asset, own, None, None, None)
            continue
        last = pd.Timestamp(dates[rows[-1]])
        days = int((asof - last).days)
        trading = days if asset in daily else calendar.sessions_between(last, asof)
        ages[asset] = PriceAge(asset, own, last, days, trading)
    return ages
