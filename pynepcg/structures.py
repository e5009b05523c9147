"""Structures shipped with the package and simple builders.

* :func:`qhp_c60` -- the quasi-hexagonal C60 monolayer (2 C60 per rectangular cell, 120 atoms,
  x: a = 15.940 Å, y: b = 9.176 Å along the [2+2] chains, z non-periodic), replicated on request.
  Per-atom ``groups[0]`` = C60 index and ``arrays['bead_type']`` = A/B (the two mirror-related
  orientations). Derived from Ying et al., Extreme Mech. Lett. 58, 101929 (2023).
"""
from __future__ import annotations

from importlib import resources

import numpy as np

from . import io
from .system import System

__all__ = ["data_file", "qhp_c60"]


def data_file(name: str) -> str:
    """Path of a file shipped in pynepcg/data."""
    return str(resources.files("pynepcg").joinpath("data", name))


def qhp_c60(repeat=(1, 1)) -> System:
    """The qHP C60 monolayer cell repeated (na, nb) times in plane; C60 (group) indices are
    renumbered so that every molecule keeps a unique label."""
    cell = io.read(data_file("qhp_c60_rect_120.xyz"))
    na, nb = repeat
    if (na, nb) == (1, 1):
        return cell
    a = cell.to_ase()
    groups = np.asarray(cell.groups[0])
    n_mol = groups.max() + 1
    big = a.repeat((na, nb, 1))
    big.arrays["group"] = np.concatenate([groups + k * n_mol for k in range(na * nb)])
    return System.from_ase(big)
