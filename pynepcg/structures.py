"""Structures shipped with the package and builders for the teachers' systems.

* :func:`fcc`, :func:`diamond` -- cubic crystals (conventional cells repeated), e.g. gold, carbon.
* :func:`nanowire` -- an FCC nanowire along [100], [110] or [111] with a given diameter and
  length, periodic along its axis (z) and surrounded by vacuum in x and y (non-periodic).
* :func:`qhp_c60` -- the quasi-hexagonal C60 monolayer (2 C60 per rectangular cell, 120 atoms,
  x: a = 15.940 Å, y: b = 9.176 Å along the [2+2] chains, z non-periodic), repeated in plane.
  ``groups[0]`` = C60 index, ``arrays['bead_type']`` = A/B (the two mirror-related orientations).
  Derived from Ying et al., Extreme Mech. Lett. 58, 101929 (2023).
Lengths in Å. Atoms are numbered cell by cell, so each conventional FCC cell's 4 atoms are
consecutive (useful for cell-based coarse-grained maps); ``groups[0]`` holds the cell index.
"""
from __future__ import annotations

from importlib import resources

import numpy as np

from . import io
from .system import System

__all__ = ["data_file", "diamond", "fcc", "nanowire", "qhp_c60", "water_box"]

_FCC_BASIS = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
_DIAMOND_BASIS = np.vstack([_FCC_BASIS, _FCC_BASIS + 0.25])


def data_file(name: str) -> str:
    """Path of a file shipped in pynepcg/data."""
    return str(resources.files("pynepcg").joinpath("data", name))


def _cubic(symbol, a, repeat, basis, mass):
    n = np.broadcast_to(np.asarray(repeat, dtype=int), (3,))
    cells = np.array([[i, j, k] for i in range(n[0]) for j in range(n[1]) for k in range(n[2])])
    frac = (cells[:, None, :] + basis[None, :, :]).reshape(-1, 3)
    positions = frac * a
    s = System([symbol] * len(positions), positions, cell=np.diag(n * a), pbc=True,
               masses=None if mass is None else np.full(len(positions), float(mass)))
    s.groups = [list(np.repeat(np.arange(len(cells)), len(basis)).astype(int))]
    return s


def fcc(symbol: str = "Au", a: float = 4.08, repeat=(1, 1, 1), mass: float | None = None) -> System:
    """FCC crystal of `repeat` conventional cells (4 atoms each), lattice constant a (Å)."""
    return _cubic(symbol, a, repeat, _FCC_BASIS, mass)


def diamond(symbol: str = "C", a: float = 3.567, repeat=(1, 1, 1), mass: float | None = None) -> System:
    """Diamond crystal of `repeat` conventional cells (8 atoms each), lattice constant a (Å)."""
    return _cubic(symbol, a, repeat, _DIAMOND_BASIS, mass)


_WIRE_AXES = {
    "100": ([1, 0, 0], [0, 1, 0], [0, 0, 1]),
    "110": ([1, -1, 0], [0, 0, 1], [1, 1, 0]),
    "111": ([1, -1, 0], [1, 1, -2], [1, 1, 1]),
}


def nanowire(symbol: str = "Au", a: float = 4.08, axis: str = "100", diameter: float = 30.0,
             length: float = 60.0, vacuum: float = 15.0) -> System:
    """FCC nanowire along ``axis`` ("100", "110" or "111"), periodic along z.

    The wire is the set of lattice sites within diameter/2 of the axis; its length is the
    multiple of the lattice period along the axis closest to ``length``. The box is
    (diameter + 2 vacuum) wide in x and y, which are not periodic. Crystal directions along x, y, z:
    [100]: [100], [010], [001]; [110]: [1-10], [001], [110]; [111]: [1-10], [11-2], [111].
    """
    if axis not in _WIRE_AXES:
        raise ValueError("nanowire: axis must be '100', '110' or '111'")
    dirs = np.array(_WIRE_AXES[axis], dtype=float)
    rot = dirs / np.linalg.norm(dirs, axis=1)[:, None]  # rows: x, y, z in crystal coordinates
    # Period along the wire axis: the shortest lattice vector along z.
    period = {"100": a, "110": a / np.sqrt(2), "111": a * np.sqrt(3)}[axis]
    n_len = max(1, int(round(length / period)))
    wire_length = n_len * period
    # Lattice sites in a crystal block covering the cylinder, rotated into the wire frame.
    reach = int(np.ceil((diameter / 2 + wire_length) / a)) + 2
    rng = np.arange(-reach, reach + 1)
    cells = np.array(np.meshgrid(rng, rng, rng, indexing="ij")).reshape(3, -1).T
    sites = ((cells[:, None, :] + _FCC_BASIS[None, :, :]).reshape(-1, 3)) * a
    r = sites @ rot.T
    inside = (np.hypot(r[:, 0], r[:, 1]) <= diameter / 2) & (r[:, 2] >= -1e-6) & (r[:, 2] < wire_length - 1e-6)
    r = r[inside]
    order = np.lexsort((r[:, 0], r[:, 1], r[:, 2]))
    r = r[order]
    width = diameter + 2 * vacuum
    r[:, 0] += width / 2
    r[:, 1] += width / 2
    return System([symbol] * len(r), r, cell=np.diag([width, width, wire_length]), pbc=[False, False, True])


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


def water_box(n_molecules: int, density: float | None = 1.0, box=None, seed: int = 0, **kwargs) -> System:
    """A periodic box of SPC/Fw water molecules with ``arrays['mol_id']``; see
    :func:`pynepcg.water.water_box` (density g/cm^3 or box lengths Å, seeded)."""
    from .water import water_box as _water_box

    return _water_box(n_molecules, density=density, box=box, seed=seed, **kwargs)
