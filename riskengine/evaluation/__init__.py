"""Forecast evaluation: how well each variance model forecasts, asset by asset.

``evaluate`` walks the models' point-in-time forecasts and scores them
(`evaluate_models`, `Evaluation`); ``losses`` holds QLIKE and squared error
against realised variance; ``value_at_risk`` the one-day VaR of a model's
forecast and distribution; ``coverage`` the Kupiec and Christoffersen tests;
``report`` the text table, the JSON records and the Parquet file (the HTML page
written beside it is rendered by `riskengine.results.evaluation_page`).
"""

from riskengine.evaluation.coverage import (
    CoverageTests,
    christoffersen_independence,
    coverage_tests,
    kupiec_pof,
)
from riskengine.evaluation.evaluate import Evaluation, evaluate_models, level_tag
from riskengine.evaluation.report import (
    EVALUATION_FILES,
    evaluation_records,
    format_evaluation,
    refit_lines,
    write_evaluation,
)

__all__ = [
    "EVALUATION_FILES",
    "CoverageTests",
    "Evaluation",
    "christoffersen_independence",
    "coverage_tests",
    "evaluate_models",
    "evaluation_records",
    "format_evaluation",
    "kupiec_pof",
    "level_tag",
    "refit_lines",
    "write_evaluation",
]
