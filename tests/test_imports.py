"""The package's layout: each stage imports only earlier ones; entry points are lazy.

The stages, in pipeline order, are listed in `STAGES`. Every module's imports (at
the top, inside functions and under ``TYPE_CHECKING`` alike) are read with `ast`,
so a new import of a later stage fails here. The entry points are checked in fresh
interpreters: ``import riskengine`` and ``riskengine --help`` load no numerical
library.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import riskengine
import riskengine.api
from riskengine.results.provenance import package_version

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = REPO_ROOT / "riskengine"

STAGES: dict[str, frozenset[str]] = {
    # Shared vocabulary any stage may use: types, errors, events, messages, the
    # calendar convention, the generic registry of named variants, safe file
    # writing, the progress callback of long stages and the BLAS thread limit of the
    # walks. `output` knows no stage (it
    # imports only `errors`); the simulator's calibration writes through it as well
    # as the reports, `allocate` and `sweep`.
    "base": frozenset(
        {
            "_typing",
            "errors",
            "events",
            "messages",
            "calendar",
            "registry",
            "output",
            "progress",
            "blas",
        }
    ),
    # Inputs: the `data` package (price files and their screen, sleeves, CLI dates),
    # the policy and model specs (checked against the sleeve vocabulary) and the
    # simulated market.
    "data": frozenset({"data", "specs", "scenarios"}),
    # The compiled GARCH fitter lives inside the only stage that uses it.
    "volatility": frozenset({"volatility"}),
    "covariance": frozenset({"covariance"}),
    # Forecast evaluation scores the volatility stage's forecasts (losses, VaR
    # backtests, model confidence sets); no later stage needs it.
    "evaluation": frozenset({"evaluation"}),
    # The `policy` package: the decision context (what one decision may read, served
    # by the walk), base weights, triggers, limits and the solvers.
    "policy": frozenset({"policy"}),
    "backtest": frozenset({"backtest"}),
    # Metrics, reports and provenance, then the jobs built on a finished walk.
    "outputs": frozenset({"results", "compare", "allocate", "sweep"}),
    # The crowded-exit stress test: the backtest's books walked together, with
    # price impact between them, and its report.
    "stress": frozenset({"stress"}),
    # The package itself (its public names, loaded on first use) is an entry point.
    "entry": frozenset({"__main__", "api", "cli"}),
}
"""Stages in pipeline order, each with the modules below ``riskengine.`` it holds."""
ORDER = list(STAGES)

ALLOWED: dict[tuple[str, str], str] = {
    # `result.metrics()` is the README's documented convenience: the backtest
    # stage's result delegates to the pure functions of the outputs stage,
    # imported inside the method when it is called, never when the backtest loads.
    (
        "riskengine.backtest.result",
        "riskengine.results.metrics",
    ): "BacktestResult.metrics",
    # `result.attribution()` likewise: the de-risking attribution against the
    # run's baseline is a pure function of the outputs stage.
    (
        "riskengine.backtest.result",
        "riskengine.results.attribution",
    ): "BacktestResult.attribution",
}
"""Imports of a later stage that are allowed, each only inside the named function."""

HEAVY = (
    "matplotlib",
    "cvxpy",
    "numba",
    "arch",
    "dask",
    "distributed",
    "scipy",
    "tqdm",  # the progress bars, loaded when a bar is drawn
    # pandas and numpy alone take most of a second to import: --help needs neither
    "pandas",
    "numpy",
)


@dataclass(frozen=True)
class Import:
    """One import statement's target module inside riskengine."""

    target: str
    line: int
    function: str | None  # the enclosing function's qualified name; None at the top


def module_name(path: Path) -> str:
    """``riskengine/backtest/result.py`` -> ``riskengine.backtest.result``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(module: str) -> bool:
    """True when `module` is a package of the source tree (not a module file)."""
    return (PACKAGE.parent / module.replace(".", "/") / "__init__.py").is_file()


def is_module(module: str) -> bool:
    """True when `module` names a module file or a package of the source tree."""
    relative = module.replace(".", "/")
    return is_package(module) or (PACKAGE.parent / f"{relative}.py").is_file()


def stage_of(module: str) -> str:
    """The stage of a riskengine module, by its first name below the package."""
    if module == "riskengine":
        return "entry"
    first = module.split(".")[1]
    for stage, names in STAGES.items():
        if first in names:
            return stage
    raise AssertionError(
        f"{module} belongs to no stage: add {first!r} to STAGES in "
        "tests/test_imports.py, at its place in the pipeline"
    )


class _ImportVisitor(ast.NodeVisitor):
    """Collects riskengine imports with their line and enclosing function."""

    def __init__(self, module: str) -> None:
        self.module = module
        self.scope: list[tuple[str, bool]] = []  # (name, is a function)
        self.found: list[Import] = []

    def _enter(
        self, node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
    ) -> None:
        self.scope.append((node.name, not isinstance(node, ast.ClassDef)))
        self.generic_visit(node)
        self.scope.pop()

    visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = _enter

    def _add(self, target: str, line: int) -> None:
        if target == "riskengine" or target.startswith("riskengine."):
            in_function = any(is_function for _, is_function in self.scope)
            names = ".".join(name for name, _ in self.scope)
            self.found.append(Import(target, line, names if in_function else None))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            package = self.module.split(".")
            if not is_package(self.module):
                package = package[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, *([base] if base else [])])
        for alias in node.names:
            self._add(_from_target(base, alias.name), node.lineno)


def _from_target(base: str, name: str) -> str:
    """The module ``from base import name`` reaches: a submodule, or `base` itself.

    ``from riskengine import backtest`` means the public function (an entry
    point), not the ``riskengine.backtest`` package.
    """
    if base == "riskengine" and name in riskengine.__all__:
        return "riskengine"
    candidate = f"{base}.{name}"
    return candidate if is_module(candidate) else base


def imports_of(module: str, source: str) -> list[Import]:
    """Every riskengine import of a module's source."""
    visitor = _ImportVisitor(module)
    visitor.visit(ast.parse(source))
    return visitor.found


def violations(module: str, source: str) -> list[str]:
    """Imports of `module` that reach a later stage and are not `ALLOWED`."""
    rank = ORDER.index(stage_of(module))
    found = []
    for item in imports_of(module, source):
        target_stage = stage_of(item.target)
        if ORDER.index(target_stage) <= rank:
            continue
        if item.function is not None and item.function == ALLOWED.get(
            (module, item.target)
        ):
            continue
        found.append(
            f"{module}:{item.line} ({stage_of(module)}) imports {item.target} "
            f"({target_stage}), a later stage"
            + (f" in {item.function}" if item.function else " at the top")
        )
    return found


def all_modules() -> dict[str, str]:
    """Module name -> source, for every module of the package."""
    return {
        module_name(path): path.read_text(encoding="utf-8")
        for path in sorted(PACKAGE.rglob("*.py"))
    }


# --- the layering ------------------------------------------------------------------


def test_every_module_belongs_to_a_stage() -> None:
    modules = all_modules()
    assert len(modules) > 50
    for module in modules:
        stage_of(module)  # raises, naming the module, when it belongs to none


def test_no_stage_imports_a_later_one() -> None:
    found = [v for m, source in all_modules().items() for v in violations(m, source)]
    assert found == []


def test_each_allowed_import_is_still_made_and_only_inside_its_function() -> None:
    modules = all_modules()
    for (module, target), function in ALLOWED.items():
        made = [i for i in imports_of(module, modules[module]) if i.target == target]
        assert made, f"{module} no longer imports {target}: drop it from ALLOWED"
        assert {i.function for i in made} == {function}


def test_a_later_stage_is_caught_at_the_top_inside_a_function_and_for_types() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from riskengine.covariance import covariance\n"
        "if TYPE_CHECKING:\n"
        "    from riskengine.backtest import BacktestResult\n"
        "def decide() -> None:\n"
        "    import riskengine.results.report\n"
        "class Model:\n"
        "    def fit(self) -> None:\n"
        "        from ..policy.decision import decide\n"
        "        from riskengine import backtest\n"
    )
    found = violations("riskengine.volatility.forecast", source)
    assert len(found) == 5
    assert found[0] == (
        "riskengine.volatility.forecast:2 (volatility) imports riskengine.covariance "
        "(covariance), a later stage at the top"
    )
    assert "riskengine.backtest (backtest), a later stage at the top" in found[1]
    assert found[2].endswith(
        "riskengine.results.report (outputs), a later stage in decide"
    )
    assert found[3].endswith(
        "riskengine.policy.decision (policy), a later stage in Model.fit"
    )
    assert found[4].endswith("riskengine (entry), a later stage in Model.fit")


def test_an_allowed_import_is_refused_at_the_top() -> None:
    source = "from riskengine.results.metrics import summarize\n"
    assert violations("riskengine.backtest.result", source) == [
        "riskengine.backtest.result:1 (backtest) imports riskengine.results.metrics "
        "(outputs), a later stage at the top"
    ]


def test_a_module_outside_every_stage_is_named() -> None:
    with pytest.raises(AssertionError, match=r"riskengine\.portfolio belongs to no"):
        stage_of("riskengine.portfolio")


# --- lazy entry points -------------------------------------------------------------


def loaded_packages(*args: str) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """Top-level packages a fresh interpreter imports to run ``python *args``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    names = re.findall(r"^import time:.*\|\s*(\S+)$", done.stderr, flags=re.M)
    return {name.partition(".")[0] for name in names}, done


@pytest.mark.parametrize(
    "args",
    [
        ("-c", "import riskengine"),
        ("-c", "import riskengine.cli"),
        ("-m", "riskengine", "--help"),
        ("-m", "riskengine", "--version"),
        ("-m", "riskengine", "backtest", "--help"),
        ("-m", "riskengine", "models", "evaluate", "--help"),
    ],
    ids=["import", "import-cli", "help", "version", "backtest-help", "evaluate-help"],
)
def test_entry_points_load_no_numerical_library(args: tuple[str, ...]) -> None:
    loaded, done = loaded_packages(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "riskengine" in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_the_probe_sees_what_a_backtest_loads() -> None:
    loaded, done = loaded_packages("-c", "import riskengine; riskengine.run_backtest")
    assert done.returncode == 0, done.stderr[-2000:]
    assert {"pandas", "numpy"} <= loaded


def test_version_is_the_installed_one() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "riskengine", "--version"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout == f"riskengine {package_version() or '0+unknown'}\n"


# --- the public API, loaded on first use -------------------------------------------


def test_every_public_name_is_its_home_modules_object() -> None:
    homes = riskengine._HOMES
    assert set(riskengine.__all__) == {*homes, "__version__"}
    for name, home in homes.items():
        assert getattr(riskengine, name) is getattr(importlib.import_module(home), name)
    assert riskengine.backtest is riskengine.api.backtest
    assert riskengine.__version__ == (package_version() or "0+unknown")
    assert set(riskengine.__all__) <= set(dir(riskengine))


def test_the_type_checking_imports_match_the_lazy_table() -> None:
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    guarded = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    imported = {
        alias.name: node.module
        for node in guarded.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert imported == riskengine._HOMES


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"module 'riskengine' has no attribute"):
        riskengine.run_backtests  # noqa: B018


def test_readme_python_api_names_are_public() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.partition("## Python API")[2].partition("\n## ")[0]
    assert section, "README.md has no '## Python API' section"
    called = set(re.findall(r"riskengine\.(\w+)\(", section))
    listed = set(
        re.findall(r"`(\w+)`", section.partition("importable on their own")[2])
    )
    assert {"backtest", "allocate", "load_policy", "load_market"} <= called
    assert {"load_market", "load_policy", "run_backtest"} <= listed
    assert called | listed <= set(riskengine.__all__)


SHADOWED = """
import sys
import riskengine.backtest.run, riskengine.allocate, riskengine.api
import riskengine
assert riskengine.backtest is riskengine.api.backtest, riskengine.backtest
allocate = sys.modules["riskengine.allocate"].allocate
assert riskengine.allocate is allocate, riskengine.allocate
"""


def test_public_functions_keep_their_names_over_submodules_loaded_first() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SHADOWED],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
