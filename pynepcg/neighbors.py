"""Neighbour pairs of a structure as numpy arrays (the C++ cell/Verlet list underneath)."""
from __future__ import annotations

import numpy as np

from ._core import NeighborList, System

__all__ = ["neighbor_list"]


def neighbor_list(system: System, cutoff: float):
    """All pairs (i, j, image) with |r_ij| < cutoff (Å), both orderings, every periodic image.

    Returns ``(i, j, S, D)`` like ``ase.neighborlist.neighbor_list('ijSD')``: atom indices
    (M,), integer image shifts (M, 3) and pair vectors D = x_j - x_i + S . cell (M, 3), Å.
    """
    nl = NeighborList(cutoff)
    nl.build(system)
    counts = np.diff(nl.offsets)
    i = np.repeat(np.arange(len(system), dtype=np.int64), counts)
    return i, nl.neighbors.astype(np.int64), nl.shifts, nl.pair_vectors(system)
