"""Potentials: the NEP evaluator (GPUMD-compatible nep.txt).

Units and signs: energies eV, forces eV/Å, virials eV with GPUMD's sign (W = sum_i r_i (x) F_i,
positive = compressed), stress eV/Å^3 with ASE's sign (stress = -W / V, positive = tensile).
Per-atom virials are 9 values per atom, row-major xx xy xz yx yy yz zx zy zz, partitioned as
GPUMD and calorine do (W_i^ab = sum_j r_ij^a f_ji^b).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from . import _core
from ._core import NepModel, parse_nep_model, read_nep_model
from .system import System, from_ase

__all__ = ["NEP", "NepModel", "NepResult", "read_nep_model", "parse_nep_model", "as_system"]


def as_system(structure) -> System:
    """A :class:`System` from a System or an ASE ``Atoms``."""
    if isinstance(structure, System):
        return structure
    if hasattr(structure, "get_positions") and hasattr(structure, "cell"):
        return from_ase(structure)
    raise TypeError(f"expected a pynepcg.System or ase.Atoms; got {type(structure).__name__}")


@dataclass
class NepResult:
    """Result of :meth:`NEP.compute`."""

    energy: float            #: total potential energy, eV
    energies: np.ndarray     #: (N,) site energies, eV
    forces: np.ndarray       #: (N, 3) eV/Å
    virial: np.ndarray       #: (3, 3) total virial, eV (GPUMD sign)
    virials: np.ndarray      #: (N, 9) per-atom virials, eV
    volume: float            #: cell volume, Å^3 (0 for a non-periodic structure)

    @property
    def stress(self) -> np.ndarray:
        """Stress in eV/Å^3, ASE's sign and Voigt order (xx yy zz yz xz xy): -virial / volume."""
        if not self.volume > 0:
            raise ValueError("stress needs a cell with non-zero volume")
        s = -self.virial / self.volume
        return np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])

    @property
    def stresses(self) -> np.ndarray:
        """Per-atom stresses (N, 6) in eV/Å^3 (ASE's sign, Voigt order): -sym(W_i) / volume."""
        if not self.volume > 0:
            raise ValueError("stresses need a cell with non-zero volume")
        w = self.virials.reshape(-1, 3, 3)
        w = 0.5 * (w + w.transpose(0, 2, 1))
        s = -w / self.volume
        return np.stack([s[:, 0, 0], s[:, 1, 1], s[:, 2, 2], s[:, 1, 2], s[:, 0, 2], s[:, 0, 1]], axis=1)


class NEP:
    """A NEP model evaluated on the CPU in double precision (OpenMP).

    ``model``: a path to a GPUMD ``nep.txt`` (NEP3/NEP4/NEP5, with or without ZBL) or a
    :class:`NepModel`. ``skin`` (Å): the neighbour list is kept between calls and rebuilt only
    when an atom moved more than skin/2, which speeds up MD and relaxations through ASE.
    """

    def __init__(self, model, skin: float = 0.5):
        if isinstance(model, (str, os.PathLike)):
            self._nep = _core.NEP(str(model))
        elif isinstance(model, NepModel):
            self._nep = _core.NEP(model)
        else:
            raise TypeError("NEP: expected a path to nep.txt or a NepModel")
        self.skin = float(skin)
        self._list = None

    @property
    def model(self) -> NepModel:
        """A copy of the model parameters."""
        return self._nep.model

    @property
    def cutoff(self) -> float:
        """Largest radial cutoff, Å."""
        return self._nep.cutoff

    @property
    def elements(self) -> list[str]:
        return list(self._nep.model.elements)

    def _neighbor_list(self):
        if self._list is None:
            self._list = _core.NeighborList(self._nep.cutoff, self.skin, self._nep.secondary_cutoff)
        return self._list

    def compute(self, structure) -> NepResult:
        """Energy, site energies, forces and virials of a System or ASE Atoms."""
        s = as_system(structure)
        r = self._nep.compute(s, self._neighbor_list())
        return NepResult(
            energy=r["energy"],
            energies=r["energies"],
            forces=r["forces"],
            virial=r["virial"],
            virials=r["virials"],
            volume=s.box.volume,
        )

    def descriptors(self, structure, scaled: bool = False) -> np.ndarray:
        """Descriptor of every atom, shape (N, D), in GPUMD's component order; multiplied by the
        model's q_scaler (the network input) when ``scaled``."""
        return self._nep.descriptors(as_system(structure), scaled)

    def __repr__(self) -> str:
        m = self._nep.model
        return f"NEP(nep{m.version}, elements={list(m.elements)}, cutoff={m.cutoff_radial[0]:g}/{m.cutoff_angular[0]:g} A)"
