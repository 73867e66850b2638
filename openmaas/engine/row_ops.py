"""Operations on one 262k-wide row of weights that avoid sorting the whole row."""

from __future__ import annotations

import numpy as np


def top_by_threshold(weights: np.ndarray, *, count: int | None = None, mass: float | None = None) -> np.ndarray:
    """Token ids with the largest weights (the best is 1), best first, until count or mass is reached.

    A threshold below the best weight drops by a factor e^4, e^8, e^16, ...
    until enough tokens are above it; only those are sorted (ties by token
    id, so the order is reproducible).
    """
    width = 4.0
    while True:
        ids = np.flatnonzero(weights >= np.exp(-width))
        enough = (count is None or ids.size >= count) and (
            mass is None or float(weights[ids].sum(dtype=np.float64)) >= mass
        )
        if enough or ids.size == weights.size or width > 200:
            if width > 200:  # every weight left is 0: take them all
                ids = np.arange(weights.size)
            return ids[np.argsort(-weights[ids], kind="stable")]
        width *= 2
