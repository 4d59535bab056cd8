"""The walk's correlation forecast, computed once a day and kept across walks.

A walk's books all read the correlation model at their decisions' closes:
`DailyCorrelation` computes each day's matrix for a set of assets once, and
`KeptCorrelations` keeps them for later walks on the same inputs (a sweep's runs).
"""

from __future__ import annotations

import time

import numpy as np

from riskengine._typing import BoolArray, FloatArray
from riskengine.covariance import Correlation

KEPT_CORRELATION_BYTES = 64 * 2**20
"""Most bytes of correlation matrices one walk's inputs keep for later walks."""


class KeptCorrelations:
    """Correlation matrices of one walk's inputs and spec, by row and set of assets.

    A row's matrix depends only on the inputs and the correlation spec, so a later
    walk on the same inputs reads it instead of recomputing it. Matrices are kept
    until they take `KEPT_CORRELATION_BYTES`.
    """

    def __init__(self) -> None:
        self.matrices: dict[tuple[int, bytes | None], FloatArray] = {}
        self.nbytes = 0

    def keep(self, key: tuple[int, bytes | None], matrix: FloatArray) -> None:
        """Keep `matrix` under `key` (row, assets) while there is room."""
        if self.nbytes + matrix.nbytes <= KEPT_CORRELATION_BYTES:
            self.matrices[key] = matrix
            self.nbytes += matrix.nbytes


class DailyCorrelation:
    """A correlation model whose matrix for a set of assets is computed once a day.

    Every book deciding on a day reads the same forecast; the second one reuses
    the first's matrix instead of recomputing it, as does a later walk on the same
    inputs when `kept` holds it. The model takes the days' observations only when
    a matrix must be computed, so a walk whose matrices are all kept never runs
    it; the observations are read then, and must not change in between.

    Parameters
    ----------
    model : Correlation
        The started correlation model.
    kept : KeptCorrelations, optional
        Matrices of earlier walks on the same inputs and spec, and where to keep
        this walk's.

    Attributes
    ----------
    seconds : float
        Time the model has spent taking observations and computing matrices.
    """

    def __init__(
        self, model: Correlation, kept: KeptCorrelations | None = None
    ) -> None:
        self.model = model
        self.kept = kept
        self.seconds = 0.0
        self._row = -1
        self._unseen: list[FloatArray] = []
        self._matrices: dict[bytes | None, FloatArray] = {}

    def update(self, row: FloatArray) -> None:
        """Take the day's observation; the previous day's matrices are dropped."""
        self._unseen.append(row)
        self._row += 1
        self._matrices.clear()

    def matrix(self, assets: BoolArray | None = None) -> FloatArray:
        """The correlation forecast of `assets` (all when None), computed once."""
        key = None if assets is None else np.asarray(assets).tobytes()
        if key not in self._matrices:
            if self.kept is not None and (self._row, key) in self.kept.matrices:
                self._matrices[key] = self.kept.matrices[self._row, key]
            else:
                clock = time.perf_counter()
                for observation in self._unseen:
                    self.model.update(observation)
                self._unseen.clear()
                self._matrices[key] = self.model.matrix(assets)
                self.seconds += time.perf_counter() - clock
                if self.kept is not None:
                    self.kept.keep((self._row, key), self._matrices[key])
        return self._matrices[key]
