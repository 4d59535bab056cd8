"""Command line: ``riskengine backtest | compare | allocate | sweep | calibrate-...``.

Results go to files and a summary to stdout (``--json`` for machines); every error
is one line on stderr with the exit code of its class (see `riskengine.errors`):
2 for a bad argument, 1 for an error riskengine did not expect, whose traceback
``RISKENGINE_DEBUG=1`` shows.

Each command imports the modules it runs inside its own function, so that
``riskengine --help`` and ``--version`` load neither pandas nor a solver.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import riskengine
from riskengine.data.dates import iso_date
from riskengine.errors import DegenerateRunError, RiskEngineError, SpecError

if TYPE_CHECKING:
    import pandas as pd

    from riskengine.backtest import BacktestResult
    from riskengine.data.prices import Market
    from riskengine.specs import PolicySpec


def format_summary(result: BacktestResult) -> str:
    """A plain-text summary table of a run, with its provenance.

    The figures are compare's (`riskengine.compare.runs.window_figures`): the total
    return over the invested period first, then the annualised metrics.
    """
    from riskengine.compare.runs import FIGURES, window_figures
    from riskengine.data.prices import SIMULATED_NOTE

    lines = []
    if result.simulated:
        lines.append(f"*** {SIMULATED_NOTE} ***")
    first, last = result.returns.index[[0, -1]]
    period = result.invested_period
    lines += [
        f"policy  {result.policy.name}  (model {result.policy.model.name})",
        f"data    {result.source}",
        *([f"screen  {result.screen.describe()}"] if result.screen else []),
        f"period  {first.date()} .. {last.date()}  "
        f"({len(result.returns)} days; {period.describe()})",
        f"        {len(result.decisions)} decisions, "
        f"assets: {len(result.weights.columns)}"
        + ("; metrics exclude the warm-up" if period.warmup_days else ""),
        "",
    ]
    if period.measurable:
        width = max(len(label) for label, _ in FIGURES.values())
        for key, value in window_figures(result).items():
            label, fmt = FIGURES[key]
            lines.append(f"{label:<{width}}  {fmt.format(value):>9}")
    else:
        lines.append("no metrics: the policy held nothing long enough to measure")
    counts = result.events["kind"].value_counts()
    if len(counts):
        listed = ", ".join(f"{kind} {n}" for kind, n in counts.items())
        lines += ["", f"events  {listed}"]
    return "\n".join(lines)


def format_sweep(summary: pd.DataFrame) -> str:
    """One line per run: its definition, then the main metrics."""
    from riskengine.results.metrics import METRIC_LABELS

    if summary.empty:
        return "no completed runs"
    grid = [c for c in summary.columns if c.startswith("grid.")]
    shown = summary[["policy", "universe", *grid]].copy()
    for key in ("annual_return", "annual_vol", "sharpe", "max_drawdown"):
        label, fmt = METRIC_LABELS[key]
        shown[label] = summary[key].map(fmt.format)
    shown.columns = [c.removeprefix("grid.") for c in shown.columns]
    return shown.to_string(index=False)


def format_comparison(
    table: pd.DataFrame,
    cut_sleeves: Sequence[str],
    *,
    against: str | None = None,
    width: int = 100,
) -> str:
    """Policies side by side (columns), figures and first risk cut (rows).

    Policies that do not fit in `width` characters go to further blocks below.
    """
    from riskengine.compare import cell, row_formats, text_columns

    formats = row_formats(cut_sleeves, against)
    cells = [
        [cell(v, fmt) for v in table.loc[key]] for key, (_, fmt) in formats.items()
    ]
    labels = [label for label, _ in formats.values()]
    return text_columns(labels, [str(c) for c in table.columns], cells, width)


def format_episode_table(table: pd.DataFrame, width: int = 100) -> str:
    """The episode-by-policy table: a block per episode, a row per policy."""
    from riskengine.compare import cell, episode_columns, text_columns
    from riskengine.scenarios.episodes import load_episodes

    described = {e.name: e.description for e in load_episodes()}
    figures = episode_columns(table)
    header = [label for label, _ in figures.values()]
    blocks = []
    for (name, start, end), rows in table.groupby(
        ["episode", "start", "end"], sort=False
    ):
        lines = [f"{name}  {start} to {end}"]
        if name in described:
            lines.append(
                textwrap.fill(
                    described[name], width, initial_indent="  ", subsequent_indent="  "
                )
            )
        cells = [
            [cell(row[key], fmt) for key, (_, fmt) in figures.items()]
            for _, row in rows.iterrows()
        ]
        lines.append(text_columns(list(rows["policy"]), header, cells, width))
        notes: dict[str, list[str]] = {}
        for _, row in rows.iterrows():
            if row["note"]:
                notes.setdefault(row["note"], []).append(row["policy"])
        for note, policies in notes.items():
            who = "all" if len(policies) == len(rows) else ", ".join(policies)
            lines.append(f"  no figures ({who}): {note}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


STALE_ACTIONS = ("stop", "drop", "hold")
"""``allocate --stale`` (`riskengine.allocate.STALE_ACTIONS`, not imported: pandas)."""

EXIT_CODES = (
    "0 ok, 1 internal error (a bug), 2 bad argument, 3 data, 4 policy or model "
    "spec, 5 model, 6 infeasible, 7 output, 8 nothing held, 9 cluster, 10 stale "
    "prices (allocate), 130 interrupted, 141 output pipe closed by its reader"
)
"""The exit codes in one line (see `riskengine.errors`)."""
CLOSED_PIPE = 141
"""Exit code when the reader of stdout closes it early: 128 + SIGPIPE, as a shell
reports a tool that the signal ends."""
NO_BASELINE = "none"
"""``backtest --baseline none``: run no counterfactual (the API's ``baseline=None``)."""
QUIET_HELP = (
    "no progress bars (drawn on stderr only when stdout and stderr are terminals)"
)


def _builtin_names(kind: str) -> list[str]:
    """Built-in specs of one kind, read from their folder without loading them.

    The folders of `riskengine.specs.builtin_dir`, found here without importing
    the specs (which load pandas), so that ``--help`` stays fast.
    """
    package = Path(__file__).resolve().parent
    folder = package / "_specs" / kind
    if not folder.is_dir():
        folder = package.parent / kind
    return sorted(p.stem for p in folder.glob("*.toml"))


def _episode_names() -> list[str]:
    """The named episodes' names, read from the library's TOML without loading it.

    `riskengine.scenarios.episodes` validates the file; here only the names are
    wanted, without the imports that validation needs, so that ``--help`` stays fast.
    """
    import tomllib

    library = Path(__file__).resolve().parent / "scenarios" / "episodes.toml"
    with library.open("rb") as file:
        return [str(entry.get("name")) for entry in tomllib.load(file)["episode"]]


def _epilog() -> str:
    """What ``riskengine --help`` says below the commands."""
    width = 79
    parts = {
        "dates": "ISO YYYY-MM-DD only (2026-02-04); 04-02-2026 or 01/02/2020 are "
        "refused, as their day and month are ambiguous",
        "policies": ", ".join(_builtin_names("policies"))
        + " (or a TOML path; --set FIELD=VALUE overrides a field)",
        "models": ", ".join(_builtin_names("models")),
        "episodes": ", ".join(_episode_names()) + " (--episode NAME)",
        "exit codes": EXIT_CODES,
    }
    blocks = [
        textwrap.fill(
            text,
            width,
            initial_indent=f"{name}: ",
            subsequent_indent="  ",
            break_on_hyphens=False,
        )
        for name, text in parts.items()
    ]
    examples = [
        "examples:",
        "  riskengine backtest --policy risk-parity-fund",
        "  riskengine allocate --prices prices.csv --policy safe-haven-risk-off "
        "--asof 2026-02-04",
        "  riskengine compare vol-target-fund static-60-40 "
        "--set target.target_vol_annual=0.08",
        "  riskengine compare --episode all --prices prices.csv",
    ]
    return "\n".join([*blocks, *examples])


class _UsageError(Exception):
    """A bad command-line argument, reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, not a usage block and exit."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("riskengine").strip()
        where = f"{command}: " if command else ""
        raise _UsageError(f"{where}{message} (see {self.prog} --help)")


def _date(text: str) -> str:
    """An ISO date argument, checked (see `riskengine.data.dates`)."""
    try:
        return iso_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _asof(text: str) -> str:
    """``--asof``: an ISO date, or ``latest`` for the data's last date."""
    return text if text == "latest" else _date(text)


def _setting(text: str) -> tuple[str, object]:
    """A ``--set FIELD=VALUE``: a dotted policy field and its value.

    The value is read as a TOML value (``0.08``, ``true``, ``["crypto"]``,
    ``"weekly"``); text that is no TOML value is a string (``weekly``).
    """
    import tomllib

    field, equals, value = text.partition("=")
    if not equals or not field.strip():
        raise argparse.ArgumentTypeError(
            f"expected FIELD=VALUE (e.g. target.target_vol_annual=0.08), got "
            f"{text[:60]!r}"
        )
    try:
        parsed: object = tomllib.loads(f"value = {value}")["value"]
    except tomllib.TOMLDecodeError:
        parsed = value
    return field.strip(), parsed


SET_HELP = (
    "override a policy field, e.g. target.target_vol_annual=0.08 or "
    "triggers.0.enter_above=3 (repeatable; checked like the TOML file)"
)


def _workers(text: str) -> int:
    """A number of local workers, 1 to `MAX_WORKERS`."""
    if not (text.strip().isdigit() and 1 <= int(text) <= MAX_WORKERS):
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 1 to {MAX_WORKERS}, got {text[:40]!r}"
        )
    return int(text)


MAX_WORKERS = 256
"""Most local worker processes a sweep may start."""

SCHEDULER_HELP = (
    "join the Dask scheduler at this address (default: a local cluster on "
    "127.0.0.1). Its workers need riskengine and numpy, pandas, arch, cvxpy and "
    "scipy in this machine's versions (checked), not the price file or --out: "
    "the prices are shipped and the results written here. Dask ships tasks and "
    "data as pickles, which run code when loaded: join only a scheduler you "
    "trust, on a network you trust"
)


def _add_set_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--set FIELD=VALUE`` (repeatable), a policy-field override, on `parser`."""
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        type=_setting,
        default=[],
        metavar="FIELD=VALUE",
        help=help_text,
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="riskengine",
        description="Portfolio risk-budget engine.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"riskengine {riskengine.__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "backtest",
        help="walk a policy forward over a price file (default: simulated market)",
    )
    run.add_argument(
        "--prices", help="CSV or Parquet: date column + one close per asset"
    )
    run.add_argument("--sleeves", help="CSV asset,sleeve (default: built-in tickers)")
    run.add_argument("--policy", help="built-in policy name or TOML path")
    run.add_argument("--out", help="results folder (default: results/<policy>)")
    run.add_argument("--from", dest="start", type=_date, help="first date (YYYY-MM-DD)")
    run.add_argument("--to", dest="end", type=_date, help="last date (YYYY-MM-DD)")
    run.add_argument(
        "--episode", help="run over a named episode's window (see riskengine episodes)"
    )
    run.add_argument(
        "--baseline",
        help="policy (name or TOML path) to measure against, run on the same data "
        f"(default: this policy with its overlays switched off); '{NO_BASELINE}' "
        "runs none: no attribution, no baseline figures",
    )
    run.add_argument("--json", action="store_true", help="print metrics as JSON")
    run.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    run.add_argument(
        "--png",
        action="store_true",
        help="also save the report's figures as PNG files in OUT/figures/ (slides)",
    )
    _add_set_option(run, SET_HELP)
    side = commands.add_parser(
        "compare", help="run several policies on the same data, side by side"
    )
    side.add_argument(
        "policies",
        nargs="*",
        help="built-in policy names or TOML paths (default: every built-in policy)",
    )
    side.add_argument("--prices", help="CSV or Parquet (default: simulated market)")
    side.add_argument("--sleeves", help="CSV asset,sleeve (default: built-in tickers)")
    side.add_argument(
        "--from", dest="start", type=_date, help="first date (YYYY-MM-DD)"
    )
    side.add_argument("--to", dest="end", type=_date, help="last date (YYYY-MM-DD)")
    side.add_argument(
        "--episode",
        action="append",
        help="a named episode's window; repeat it, or give 'all', for the "
        "episode-by-policy table (see riskengine episodes)",
    )
    side.add_argument(
        "--against",
        help="baseline policy (name or TOML path): every policy's figures minus its",
    )
    side.add_argument(
        "--cut-sleeves",
        help="sleeves whose first cut is reported (comma-separated)",
    )
    side.add_argument(
        "--out", help="write comparison.csv and comparison.html to this folder"
    )
    side.add_argument("--json", action="store_true", help="print the table as JSON")
    _add_set_option(side, SET_HELP + "; applies to every policy compared")
    library = commands.add_parser(
        "episodes", help="list the named episodes that --episode replays"
    )
    library.add_argument("--json", action="store_true", help="print them as JSON")
    job = commands.add_parser(
        "allocate", help="today's target weights for an allocation job (JSON)"
    )
    job.add_argument("--prices", help="CSV or Parquet (default: simulated market)")
    job.add_argument("--sleeves", help="CSV asset,sleeve (default: built-in tickers)")
    job.add_argument("--policy", help="name or TOML path")
    job.add_argument(
        "--asof",
        type=_asof,
        help="calendar date YYYY-MM-DD, or 'latest' (the data's last date); a "
        "weekend or holiday is answered at the session before it (default: today; "
        "the last date of simulated data)",
    )
    job.add_argument(
        "--stale",
        choices=STALE_ACTIONS,
        default="stop",
        help="when a price the decision rests on is older than the policy's "
        "rebalance.max_price_age_days: stop with exit code 10 (default), drop "
        "those assets and allocate without them, or hold their current weights",
    )
    _add_set_option(job, SET_HELP)
    job.add_argument(
        "--format",
        choices=("json", "csv"),
        default="json",
        help="json: the whole contract (default); csv: one row per asset, to stdout",
    )
    job.add_argument("--out", help="write the JSON here (atomically) instead of stdout")
    sweep = commands.add_parser(
        "sweep", help="many policy x parameter x universe runs on Dask, resumable"
    )
    sweep.add_argument("file", help="sweep TOML (policies, grid, universes)")
    sweep.add_argument("--prices", help="CSV or Parquet (default: simulated market)")
    sweep.add_argument("--sleeves", help="CSV asset,sleeve (default: built-in tickers)")
    sweep.add_argument("--out", help="datasets folder (default: results/sweeps/NAME)")
    sweep.add_argument("--scheduler", help=SCHEDULER_HELP)
    sweep.add_argument(
        "--workers", type=_workers, help="local workers (default: one per core)"
    )
    sweep.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    _models_parser(commands)
    _stress_parser(commands)
    calibrate = commands.add_parser(
        "calibrate-simulator",
        help="re-derive the simulator's parameters from a real price file",
    )
    calibrate.add_argument(
        "--prices", required=True, help="real wide price file, CSV or Parquet"
    )
    calibrate.add_argument("--out", required=True, help="JSON file to write")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code (see `riskengine.errors`).

    Every failure is one line on stderr. An exception riskengine did not expect is
    reported as an internal error (exit code 1) with a request to report it; with
    the environment variable ``RISKENGINE_DEBUG=1`` it propagates, traceback and
    all.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        start, end = getattr(args, "start", None), getattr(args, "end", None)
        if start and end and start > end:
            raise _UsageError(
                f"{args.command}: --from {start} is after --to {end} "
                f"(see riskengine {args.command} --help)"
            )
        return _run(args)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except _UsageError as exc:
        _say(f"riskengine: error: {exc}")
        return 2
    except RiskEngineError as exc:
        _say(f"riskengine: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        _say("riskengine: interrupted")
        return 130
    except BrokenPipeError:
        # the reader of stdout went away (`riskengine compare ... | head -1`):
        # stop quietly, as a tool that SIGPIPE ends does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return CLOSED_PIPE
    except Exception as exc:
        if os.environ.get("RISKENGINE_DEBUG") == "1":
            raise
        _say(
            f"riskengine: internal error: {type(exc).__name__}: {exc} (a bug in "
            "riskengine: please report it with the command that caused it; "
            "RISKENGINE_DEBUG=1 shows the traceback)"
        )
        return 1


def _say(message: str) -> None:
    """One line on stderr, whatever line breaks the message holds."""
    print(" ".join(message.split()), file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command; riskengine errors propagate to `main`."""
    if args.command == "models":
        return _models(args)
    if args.command == "calibrate-simulator":
        return _calibrate(args)
    if args.command == "compare":
        return _compare(args)
    if args.command == "episodes":
        return _episodes(args)
    if args.command == "allocate":
        return _allocate(args)
    if args.command == "sweep":
        return _sweep(args)
    if args.command == "stress":
        return _stress(args)
    return _backtest(args)


def _backtest(args: argparse.Namespace) -> int:
    from riskengine.api import backtest
    from riskengine.backtest.baseline import OVERLAYS_OFF
    from riskengine.output import check_results_folder, dumps, slug
    from riskengine.progress import progress_bars
    from riskengine.results.attribution import attribution_records, format_attribution
    from riskengine.results.report import RESULT_FILES, manifest, write_results
    from riskengine.specs import load_policy

    policy = _load_policy(_policy(args), args)
    out = Path(args.out or Path("results") / slug(policy.name))
    check_results_folder(out, RESULT_FILES)  # before the run: fail fast
    _episode_alone(args)
    if args.baseline is None:
        baseline: PolicySpec | str | None = OVERLAYS_OFF
    elif args.baseline == NO_BASELINE:
        baseline = None
    else:
        baseline = load_policy(args.baseline)
    with progress_bars(args.quiet) as progress:
        result = backtest(
            policy,
            args.prices,
            sleeves=args.sleeves,
            start=args.start,
            end=args.end,
            episode=args.episode,
            baseline=baseline,
            progress=progress,
        )
    write_results(result, out, png_figures=args.png)
    metrics = _measured(result, out)
    attributed = None if result.baseline is None else result.attribution()
    if args.json:
        payload = {
            "policy": result.policy.name,
            "simulated": result.simulated,
            "results": str(out),
            "screen": result.screen.to_dict() if result.screen else None,
            "invested_period": result.invested_period.to_dict(),
            "metrics": metrics,
            "baseline": manifest(result)["baseline"],
            "attribution": None
            if attributed is None
            else attribution_records(attributed),
        }
        print(dumps(payload))
    else:
        print(format_summary(result))
        if result.baseline is not None and result.baseline.policy == result.policy:
            print(f"\nbaseline  {result.baseline_note}")  # nothing to attribute
        elif attributed is not None:
            print(f"\n{format_attribution(attributed)}")
        print(f"\nresults written to {out}/")
    return 0


def _load_policy(name: str, args: argparse.Namespace) -> PolicySpec:
    """A policy with the command line's ``--set`` overrides, checked like the file.

    The file is checked alone first, so that an error after the overrides is
    theirs, and says so.
    """
    from riskengine.specs import load_policy, resolve_spec_path

    if not args.settings:
        return load_policy(name)
    path = resolve_spec_path(name, "policies")
    load_policy(path)
    try:
        return load_policy(path, dict(args.settings))
    except SpecError as exc:
        detail = str(exc).removeprefix(f"{path}: ")
        raise SpecError(f"--set on policy {name}: {detail}") from None


def _policy(args: argparse.Namespace) -> str:
    """The ``--policy`` given, or the API's default policy."""
    from riskengine.api import DEFAULT_POLICY

    return DEFAULT_POLICY if args.policy is None else str(args.policy)


def _measured(result: BacktestResult, out: Path) -> dict[str, float]:
    """A written run's metrics; a run with nothing to report is an error."""
    try:
        return result.metrics()
    except DegenerateRunError as exc:
        raise DegenerateRunError(
            f"{exc}; nothing to report (results written to {out}/)"
        ) from exc


def _calibrate(args: argparse.Namespace) -> int:
    from riskengine.scenarios import write_calibration

    write_calibration(args.prices, args.out)
    print(f"wrote {args.out}")
    return 0


def _allocate(args: argparse.Namespace) -> int:
    from riskengine.allocate import allocate, allocation_csv, is_allocation, write_json
    from riskengine.api import market_from
    from riskengine.output import check_json_file, dumps

    if args.out and args.format == "csv":
        raise _UsageError(
            "allocate: --format csv prints to stdout; --out writes the JSON "
            "(see riskengine allocate --help)"
        )
    if args.out:
        check_json_file(args.out, is_allocation, "allocation")  # before the run
    policy = _load_policy(_policy(args), args)
    market = market_from(args.prices, args.sleeves)
    payload = allocate(policy, market, asof=args.asof, stale=args.stale)
    if args.out:
        write_json(payload, args.out)
    elif args.format == "csv":
        print(allocation_csv(payload), end="")
    else:
        print(dumps(payload))
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from riskengine.api import market_from
    from riskengine.data.prices import SIMULATED_NOTE
    from riskengine.output import slug
    from riskengine.progress import progress_bars
    from riskengine.sweep import plan_sweep, run_sweep

    market = market_from(args.prices, args.sleeves)
    sweep = plan_sweep(args.file, market)
    out = Path(args.out or Path("results") / "sweeps" / slug(sweep.name))
    with progress_bars(args.quiet) as progress:
        report = run_sweep(
            sweep.runs,
            market,
            out,
            scheduler=args.scheduler,
            workers=args.workers,
            progress=progress,
        )
    if market.simulated:
        print(f"*** {SIMULATED_NOTE} ***")
    print(format_sweep(report.summary))
    print(
        f"\n{len(sweep.runs)} runs: {len(report.done)} run now, "
        f"{len(report.skipped)} already done; datasets in {out}/runs and {out}/returns"
    )
    if report.others:
        print(
            f"note: {out}/runs also holds {len(report.others)} runs not of this sweep "
            "(another sweep's, or this one's before a policy, the data or riskengine "
            "changed); select by run_id, or write to a new --out"
        )
    for run_id, failure in report.failed.items():
        _say(f"riskengine: run {run_id} failed: {failure.message}")
    if report.failed:
        failures = f"{len(report.failed)} run{'s' if len(report.failed) > 1 else ''}"
        _say(f"riskengine: {failures} failed; see {out}/failures")
    return report.exit_code


def _compare(args: argparse.Namespace) -> int:
    import time

    from riskengine.api import market_from
    from riskengine.compare import (
        COMPARISON_FILES,
        EPISODE_LEGEND,
        HIGH_BETA_SLEEVES,
        compare,
        compare_episodes,
        row_formats,
        write_comparison,
        write_episode_table,
    )
    from riskengine.data.sleeves import unknown_sleeve
    from riskengine.output import check_results_folder
    from riskengine.scenarios.episodes import ALL, select_episodes
    from riskengine.specs import load_policy
    from riskengine.specs.files import builtin_names

    _episode_alone(args)
    episodes = select_episodes(args.episode) if args.episode else ()
    many = args.episode is not None and (len(args.episode) > 1 or ALL in args.episode)
    if many and args.cut_sleeves is not None:
        raise _UsageError(
            "compare: --cut-sleeves reports a first cut in one window; the "
            "episode-by-policy table has none (see riskengine compare --help)"
        )
    policies = [
        _load_policy(p, args) for p in args.policies or builtin_names("policies")
    ]
    against = None if args.against is None else load_policy(args.against)
    if against is not None and against.name not in [p.name for p in policies]:
        policies.append(against)
    names = [p.name for p in policies]
    if len(set(names)) != len(names):
        raise SpecError(f"compare: policy names must differ, got {', '.join(names)}")
    if args.out:
        check_results_folder(args.out, COMPARISON_FILES)  # before the runs
    market = market_from(args.prices, args.sleeves)
    baseline = None if against is None else against.name
    width = max(60, shutil.get_terminal_size((100, 24)).columns)
    differences = (
        []
        if baseline is None
        else [f"differences: each policy's figure minus {baseline}'s"]
    )
    if many:
        clock = time.perf_counter()
        table = compare_episodes(policies, market, episodes, against=baseline)
        seconds = time.perf_counter() - clock
        if args.out:
            write_episode_table(
                table,
                args.out,
                episodes=episodes,
                title=f"{len(policies)} policies over {len(episodes)} episodes",
                market=market,
                policies=policies,
                notes=[EPISODE_LEGEND, *differences],
            )
        if args.json:
            print(table.to_json(orient="records", indent=2))
            return 0
        _print_wrapped(market, [EPISODE_LEGEND, *differences], width)
        print()
        print(format_episode_table(table, width))
        print(
            f"\n{len(policies)} policies x {len(episodes)} episodes in "
            f"{seconds:.1f} s" + (f"; written to {args.out}/" if args.out else "")
        )
        return 0
    start, end = args.start, args.end
    if episodes:
        episodes[0].check_covered(market)
        start, end = str(episodes[0].start), str(episodes[0].end)
    cut_sleeves = (
        HIGH_BETA_SLEEVES
        if args.cut_sleeves is None
        else tuple(s.strip() for s in args.cut_sleeves.split(",") if s.strip())
    )
    for sleeve in cut_sleeves:
        problem = unknown_sleeve(sleeve, market.custom_sleeves)
        if problem is not None:
            raise SpecError(f"compare: --cut-sleeves: {problem}")
    table = compare(
        policies,
        market,
        start=start,
        end=end,
        cut_sleeves=cut_sleeves,
        against=baseline,
    )
    first, last = table.loc["first_day"].min(), table.loc["last_day"].max()
    window = f"{episodes[0].name}, " if episodes else ""
    title = f"{len(policies)} policies, {window}{first} to {last}"
    notes = [*(e.description for e in episodes), *differences]
    if args.out:
        write_comparison(
            table,
            args.out,
            title=title,
            market=market,
            policies=policies,
            formats=row_formats(cut_sleeves, baseline),
            notes=notes,
        )
    if args.json:
        print(table.to_json(indent=2))
        return 0
    _print_wrapped(market, [title, *notes], width)
    print()
    print(format_comparison(table, cut_sleeves, against=baseline, width=width))
    if args.out:
        print(f"\nwritten to {args.out}/")
    return 0


def _print_wrapped(market: Market, notes: Sequence[str], width: int) -> None:
    """The data's provenance, then `notes`, each wrapped at `width` characters."""
    from riskengine.data.prices import SIMULATED_NOTE

    if market.simulated:
        print(textwrap.fill(f"*** {SIMULATED_NOTE} ***", width))
    for line in [f"data: {market.source}", *notes]:
        print(textwrap.fill(line, width, subsequent_indent="  "))


def _episode_alone(args: argparse.Namespace) -> None:
    """Refuse ``--episode`` together with ``--from`` or ``--to``."""
    if args.episode and (args.start or args.end):
        given = "--from" if args.start else "--to"
        raise _UsageError(
            f"{args.command}: --episode sets the window; give it or {given}, not "
            f"both (see riskengine {args.command} --help)"
        )


def _episodes(args: argparse.Namespace) -> int:
    from riskengine.output import dumps
    from riskengine.scenarios.episodes import load_episodes

    episodes = load_episodes()
    if args.json:
        print(dumps([e.to_dict() for e in episodes]))
        return 0
    width = max(60, shutil.get_terminal_size((100, 24)).columns)
    for e in episodes:
        print(f"{e.name}  {e.start} to {e.end}")
        print(
            textwrap.fill(
                e.description, width, initial_indent="    ", subsequent_indent="    "
            )
        )
    return 0


def _models_parser(commands: argparse._SubParsersAction) -> None:
    """``riskengine models list | evaluate``: the volatility models and their scores."""
    models = commands.add_parser(
        "models", help="list the volatility models, or evaluate their forecasts"
    )
    actions = models.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the built-in models, one a line")
    listing.add_argument("--json", action="store_true", help="print them as JSON")
    scores = actions.add_parser(
        "evaluate",
        help="score models' out-of-sample variance forecasts and VaR per asset",
    )
    scores.add_argument("--prices", help="CSV or Parquet (default: simulated market)")
    scores.add_argument(
        "--model",
        action="append",
        help="built-in model name or TOML path; repeat it (default: every built-in)",
    )
    scores.add_argument(
        "--asset", action="append", help="asset to score; repeat it (default: all)"
    )
    scores.add_argument(
        "--from", dest="start", type=_date, help="first forecast date scored"
    )
    scores.add_argument("--to", dest="end", type=_date, help="last date of data read")
    scores.add_argument(
        "--out",
        help="write evaluation.parquet, manifest.json and report.html to this folder",
    )
    scores.add_argument("--json", action="store_true", help="print the table as JSON")


def _models(args: argparse.Namespace) -> int:
    from riskengine.api import market_from
    from riskengine.output import check_results_folder, dumps

    if args.action == "list":
        from riskengine.specs import load_model
        from riskengine.specs.files import builtin_names

        specs = [load_model(name) for name in builtin_names("models")]
        if args.json:
            fields = ("name", "family", "description")
            print(dumps([{f: getattr(spec, f) for f in fields} for spec in specs]))
        else:
            width = max(len(spec.name) for spec in specs)
            family_width = max(len(spec.family) for spec in specs)
            for spec in specs:
                print(
                    f"{spec.name:<{width}}  {spec.family:<{family_width}}  "
                    f"{spec.description}"
                )
        return 0
    from riskengine.evaluation import (
        EVALUATION_FILES,
        evaluate_models,
        evaluation_records,
        format_evaluation,
        write_evaluation,
    )

    if args.out:
        check_results_folder(args.out, EVALUATION_FILES)  # before the run
    evaluation = evaluate_models(
        market_from(args.prices),
        args.model,
        assets=args.asset,
        start=args.start,
        end=args.end,
    )
    if args.out:
        from riskengine.results.evaluation_page import evaluation_page

        write_evaluation(evaluation, args.out, page=evaluation_page(evaluation))
    if args.json:
        print(dumps(evaluation_records(evaluation)))
    else:
        print(format_evaluation(evaluation))
        if args.out:
            print(f"\nresults written to {args.out}/")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def _stress_parser(commands: argparse._SubParsersAction) -> None:
    """``riskengine stress``: the crowded-exit stress test of a scenario."""
    stress = commands.add_parser(
        "stress",
        help="crowded-exit stress test: funds de-risking together move prices",
    )
    stress.add_argument(
        "scenario",
        nargs="?",
        default="2026-metals-unwind",
        help="built-in scenario name or TOML path (default: 2026-metals-unwind)",
    )
    stress.add_argument(
        "--prices", required=True, help="the price file the scenario's dates refer to"
    )
    stress.add_argument(
        "--sleeves", help="CSV asset,sleeve (default: built-in tickers)"
    )
    stress.add_argument("--out", help="results folder (default: results/stress-<name>)")
    stress.add_argument(
        "--no-sensitivity",
        dest="sensitivity",
        action="store_false",
        help="skip the sensitivity grid over Y and fund sizes (one walk per cell)",
    )
    stress.add_argument(
        "--no-variants",
        dest="variants",
        action="store_false",
        help="skip the scenario's rule variants (one walk per variant)",
    )
    stress.add_argument("--json", action="store_true", help="print the summary as JSON")


def _stress(args: argparse.Namespace) -> int:
    from riskengine.output import check_results_folder, dumps, slug
    from riskengine.stress import load_scenario, stress
    from riskengine.stress.report import (
        STRESS_FILES,
        format_stress,
        summary,
        write_stress,
    )

    scenario = load_scenario(args.scenario)
    out = Path(args.out or Path("results") / f"stress-{slug(scenario.name)}")
    check_results_folder(out, STRESS_FILES)  # before the run: fail fast
    result = stress(
        scenario,
        args.prices,
        sleeves=args.sleeves,
        sensitivity=args.sensitivity,
        variants=args.variants,
    )
    write_stress(result, out)
    if args.json:
        print(dumps({**summary(result), "results": str(out)}))
    else:
        print(format_stress(result))
        print(f"\nresults written to {out}/")
    return 0
