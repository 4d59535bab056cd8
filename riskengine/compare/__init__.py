"""Compare policies on the same data: figures over a window side by side.

`compare` runs several policies over one window (``--from/--to`` or a named
episode) and tabulates total and annualised figures, differences against a
baseline policy and when each first cut risk; `compare_episodes` runs them over
several named episodes, one row per episode and policy. `write_comparison` and
`write_episode_table` write either as CSV, HTML and a manifest, atomically;
`text_columns` lays a table out for a terminal.
"""

from riskengine.compare.files import (
    COMPARISON_FILES,
    cell,
    text_columns,
    write_comparison,
    write_episode_table,
)
from riskengine.compare.runs import (
    CUT_THRESHOLD,
    CUT_WINDOW_DAYS,
    DIFFERENCES,
    EPISODE_FIGURES,
    EPISODE_LEGEND,
    FIGURES,
    HIGH_BETA_SLEEVES,
    RiskCut,
    compare,
    compare_episodes,
    episode_columns,
    first_cut,
    row_formats,
    window_figures,
)

__all__ = [
    "COMPARISON_FILES",
    "CUT_THRESHOLD",
    "CUT_WINDOW_DAYS",
    "DIFFERENCES",
    "EPISODE_FIGURES",
    "EPISODE_LEGEND",
    "FIGURES",
    "HIGH_BETA_SLEEVES",
    "RiskCut",
    "cell",
    "compare",
    "compare_episodes",
    "episode_columns",
    "first_cut",
    "row_formats",
    "text_columns",
    "window_figures",
    "write_comparison",
    "write_episode_table",
]
