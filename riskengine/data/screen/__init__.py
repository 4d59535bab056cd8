"""The data screen: suspect prices found before any model runs.

The screen reads the validated prices of the assets a run uses (signal-only
series included) up to its last date, and looks for what would otherwise make a
plausible wrong number:

- ``stray_date``: a few first or last prices of an asset isolated from the rest
  of its history by years (a row dated 1600-01-03);
- ``non_daily``: an asset whose prices so far are weekly, monthly or sparser
  (median spacing of its dates above `dates.DAILY_MAX_SPACING_DAYS`), while every
  policy's models, windows and annualisation count days;
- ``bad_tick``: a jump the next price takes back (a bad print), both moves
  beyond `ScreenSpec.bad_tick_sigmas` robust sigmas and
  `ScreenSpec.bad_tick_min_ratio`;
- ``absurd_move``: a price ratio between consecutive prices beyond any plausible
  bound, or too large for a float;
- ``calendar_gap``: a stretch without a price in any screened asset;
- ``outlier``: a single move beyond `ScreenSpec.outlier_sigmas` robust sigmas;
- ``asset_gap``: a stretch without a price of one asset (or none after a date);
- ``near_constant``: an asset that hardly moves over its history so far;
- ``flat_run``: a run of unchanged prices (a stale feed).

Sampling frequency: every policy's volatility models (an EWMA decay per day,
GARCH), its windows (lookbacks, minimum history, refits) and the calendar's
periods per year count days. Annualising a weekly file by 52 would mend the
headline figures but not the models, so prices sparser than daily stop the run
by default; recording them instead runs the file as if each price were a day,
and the events say so.

Each finding either stops the run with a `DataError` (naming the source, the
column, the date and the policy field that would let it run) or becomes a
``screen_<kind>`` event; its action is the policy's (`ScreenSpec`). It never
repairs data.

Point in time: a finding is a function of the prices up to its date, and is
dated when it becomes known: a move is judged against the robust sigma of the
moves before it, a bad tick at the close of the price that takes it back, a gap
on the first date of the screened calendar on which it has lasted too long, a
stale feed at the price that makes its run too long. Data cut at any date thus
record, up to it, exactly the whole file's findings (the backtest's events are
point in time, screen's included). One exception, a stop by default: trailing
stray prices are told from a series that resumes after a long gap by the prices
that follow, so a cut among the first prices of such a resumption sees strays
the whole file does not.
"""

from riskengine.data.screen.findings import CALENDAR, KINDS, Finding, ScreenReport
from riskengine.data.screen.screening import screen_prices

__all__ = ["CALENDAR", "KINDS", "Finding", "ScreenReport", "screen_prices"]
