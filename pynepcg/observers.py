"""Observers for :meth:`pynepcg.Simulator.run`; each samples every ``interval`` steps.

* :class:`Thermo` -- thermodynamic log as numpy columns (and optionally a text file):
  step, time (fs), temperature (K), kinetic/potential/total/conserved energy (eV), pressure and
  pressure tensor pxx pyy pzz pyz pxz pxy (GPa, kinetic part included, positive = compressive),
  volume (Å^3), density (g/cm^3), cell vectors ax ... cz (Å).
* :class:`Dump` -- extended XYZ trajectory (OVITO-readable).
* :class:`RDF` -- time-averaged radial distribution function.
* :class:`StressStrain` -- engineering strain and stress (GPa, positive = tensile).
* :class:`Restart` -- a restart file every ``interval`` steps; reading it and running the
  remaining steps continues the interrupted run exactly (ramps and deformation included).
"""
from __future__ import annotations

import numpy as np

from . import _core

__all__ = ["Thermo", "Dump", "RDF", "StressStrain", "Restart", "MeanForce"]


class Thermo:
    def __init__(self, interval: int = 100, path: str | None = None):
        self._cpp = _core.ThermoObserver(int(interval), "" if path is None else str(path))

    @property
    def columns(self) -> list[str]:
        return list(_core.ThermoObserver.columns())

    @property
    def data(self) -> dict[str, np.ndarray]:
        """Column name -> values (one per sample)."""
        rows = self._cpp.rows
        return {name: rows[:, k] for k, name in enumerate(self.columns)}

    def __getitem__(self, name: str) -> np.ndarray:
        return self.data[name]


class Dump:
    """Extended XYZ trajectory every `interval` steps (ASE-, OVITO- and calorine-readable; GPUMD's
    dump_xyz columns): species and positions (Å), plus

    * ``velocities`` (vel, Å/fs), ``forces`` (forces, eV/Å), ``energies`` (energy_atom: site
      energies, eV), ``virials`` (virial: per-atom virials W_i in eV, xx xy xz yx yy yz zx zy zz;
      costs one more force evaluation per sample), ``masses`` (mass, amu; otherwise written only
      when not the elements' standard masses), ``group_labels`` (group: every grouping method);
    * ``wrap``: positions wrapped into the cell (default: as the Simulator holds them, continuous
      through boundary crossings); ``unwrapped``: the continuous positions as an extra
      unwrapped_position column;
    * ``group=(method, id)``: only the atoms of that group;
    * ``append``: add to an existing file; ``overwrite``: every sample replaces the file (a
      restart file, GPUMD's restart.xyz); a path ending in ``*`` writes one file per sample, the
      ``*`` replaced by the step number.

    The header holds Time (fs), energy (eV), virial (eV) and pbc.
    """

    def __init__(self, interval: int, path, velocities: bool = False, forces: bool = False, append: bool = False,
                 *, energies: bool = False, virials: bool = False, masses: bool = False, wrap: bool = False,
                 unwrapped: bool = False, group_labels: bool = True, group: tuple | None = None,
                 overwrite: bool = False):
        self.path = str(path)
        method, gid = group if group is not None else (-1, -1)
        self._cpp = _core.DumpObserver(int(interval), self.path, velocities, forces, append, energies, virials,
                                       masses, wrap, unwrapped, group_labels, int(method), int(gid), overwrite)


class RDF:
    """g(r) up to r_max (Å) in `bins` bins, all atoms or species pair (a, b)."""

    def __init__(self, interval: int, r_max: float, bins: int = 200, species: tuple | None = None):
        a, b = species if species else ("", "")
        self._cpp = _core.RdfObserver(int(interval), float(r_max), int(bins), a, b)

    @property
    def r(self) -> np.ndarray:
        return self._cpp.radii

    @property
    def g(self) -> np.ndarray:
        return self._cpp.rdf


class StressStrain:
    COLUMNS = ["step", "strain_x", "strain_y", "strain_z", "sxx", "syy", "szz", "syz", "sxz", "sxy"]

    def __init__(self, interval: int = 100):
        self._cpp = _core.StressStrainObserver(int(interval))

    @property
    def data(self) -> dict[str, np.ndarray]:
        rows = self._cpp.rows
        return {name: rows[:, k] for k, name in enumerate(self.COLUMNS)}


class Restart:
    """Writes ``path`` (overwritten) every ``interval`` steps with Simulator.write_restart."""

    def __init__(self, interval: int, path):
        self.path = str(path)
        self._cpp = _core.RestartObserver(int(interval), self.path)


class MeanForce:
    """Time averages of bead forces (eV/Å), potential energy (eV) and virial (eV, 3x3) over the
    samples of a run, with block-averaged standard errors (blocks of ``block_samples`` samples).
    Beads are the groups of grouping method ``group_method``. Averages carry over successive runs
    (``reset()`` starts again), so a run can be continued until the error is small enough."""

    def __init__(self, interval: int, group_method: int = 0, block_samples: int = 10):
        self._cpp = _core.MeanForceObserver(int(interval), int(group_method), int(block_samples))

    def reset(self) -> None:
        self._cpp.reset()

    @property
    def forces(self) -> np.ndarray:
        """Mean force on each bead, (B, 3) eV/Å."""
        return self._cpp.mean_forces

    @property
    def force_errors(self) -> np.ndarray:
        """Standard error of each mean force component, (B, 3) eV/Å (NaN before two blocks)."""
        return self._cpp.force_standard_errors

    @property
    def last_forces(self) -> np.ndarray:
        """Bead forces of the last sample (instantaneous), (B, 3) eV/Å."""
        return self._cpp.last_forces

    @property
    def energy(self) -> float:
        return self._cpp.mean_energy

    @property
    def energy_error(self) -> float:
        return self._cpp.energy_standard_error

    @property
    def virial(self) -> np.ndarray:
        """Mean virial W (eV, 3x3, GPUMD sign), without any kinetic correction."""
        return self._cpp.mean_virial

    @property
    def num_samples(self) -> int:
        return self._cpp.num_samples

    @property
    def num_blocks(self) -> int:
        return self._cpp.num_blocks
