"""The policy stage: what one decision reads, and how it turns forecasts into weights.

`context` is the frozen view of the past a decision may read; `allocators` the base
weight rules; `triggers` the overlays; `weight_limits` and `limits` the limits;
`optimizers` the solvers; `decision` composes them into one policy's decision.
"""
