"""Ensembles for :meth:`pynepcg.Simulator.run`: small value objects.

Times in fs, temperatures in K, pressures and elastic moduli in GPa, strain rates in 1/fs.
A temperature (or pressure) given as a pair ``(start, end)`` ramps linearly over the run.

* :class:`NVE` -- velocity Verlet.
* :class:`Berendsen`, :class:`Bussi`, :class:`Langevin`, :class:`NoseHoover` -- NVT.
* :class:`NPT` -- a thermostat plus a Berendsen or stochastic-cell-rescaling barostat
  (isotropic, orthorhombic = per axis, or triclinic coupling).
* :class:`Deform` -- constant engineering strain rate along axes, the other axes at a target
  pressure (NPT) or fixed (NVT), for tensile tests.

NVE and the NVT ensembles take ``constrain_beads=m``: the centre of mass of every group of grouping
method ``m`` (a coarse-grained bead) stays fixed while its atoms move (NEP-CG mean-force runs);
the thermostat acts on the remaining 3 N - 3 N_beads degrees of freedom.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import _core

__all__ = ["NVE", "Berendsen", "Bussi", "Langevin", "NoseHoover", "NPT", "Deform"]


def _ramp(value):
    if isinstance(value, (tuple, list)):
        start, end = value
    else:
        start = end = value
    return float(start), float(end)


def _pressure_matrix(p):
    a = np.asarray(p, dtype=float)
    if a.ndim == 0:
        return np.eye(3) * float(a)
    if a.shape == (3,):
        return np.diag(a)
    if a.shape == (6,):  # Voigt xx yy zz yz xz xy
        xx, yy, zz, yz, xz, xy = a
        return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    if a.shape == (3, 3):
        return a
    raise ValueError("pressure: a number, 3 diagonal values, 6 Voigt values or a 3x3 matrix (GPa)")


class _Ensemble:
    def _base(self) -> "_core.Ensemble":
        e = _core.Ensemble()
        e.remove_drift_interval = int(getattr(self, "remove_drift_every", 0) or 0)
        fixed = getattr(self, "fixed_group", None)
        if fixed is not None:
            e.fixed_group_method, e.fixed_group = int(fixed[0]), int(fixed[1])
        beads = getattr(self, "constrain_beads", None)
        if beads is not None:
            e.bead_group_method = int(beads)
        return e

    def _to_cpp(self) -> "_core.Ensemble":
        raise NotImplementedError


@dataclass
class NVE(_Ensemble):
    """Microcanonical velocity Verlet. fixed_group = (grouping method, label) freezes atoms;
    constrain_beads = grouping method whose groups (beads) keep their centres of mass fixed."""

    fixed_group: tuple | None = None
    remove_drift_every: int = 0
    constrain_beads: int | None = None

    def _to_cpp(self):
        e = self._base()
        e.validate()
        return e


@dataclass
class _Thermostatted(_Ensemble):
    temperature: float | tuple = 300.0
    tau: float = 100.0
    fixed_group: tuple | None = None
    remove_drift_every: int = 0
    constrain_beads: int | None = None

    kind = None

    def _thermostat(self, e):
        e.thermostat = self.kind
        e.temperature_start, e.temperature_end = _ramp(self.temperature)
        e.tau_temperature = float(self.tau)

    def _to_cpp(self):
        e = self._base()
        self._thermostat(e)
        e.validate()
        return e


@dataclass
class Berendsen(_Thermostatted):
    """Berendsen weak-coupling thermostat (GPUMD nvt_ber; not canonical)."""

    kind = _core.ThermostatKind.berendsen


@dataclass
class Bussi(_Thermostatted):
    """Bussi-Donadio-Parrinello stochastic velocity rescaling (GPUMD nvt_bdp; canonical)."""

    kind = _core.ThermostatKind.bussi


@dataclass
class Langevin(_Thermostatted):
    """Langevin dynamics, friction 1/tau. splitting "BAOAB" (default; accurate configurational
    sampling) or "OBABO" (GPUMD nvt_lan)."""

    splitting: str = "BAOAB"
    kind = _core.ThermostatKind.langevin

    def _thermostat(self, e):
        super()._thermostat(e)
        e.splitting = getattr(_core.LangevinSplitting, self.splitting.upper())


@dataclass
class NoseHoover(_Thermostatted):
    """Nose-Hoover chain (GPUMD nvt_nhc), `chain` thermostats, MTK integration."""

    chain: int = 4
    kind = _core.ThermostatKind.nose_hoover_chain

    def _thermostat(self, e):
        super()._thermostat(e)
        e.chain_length = int(self.chain)


_THERMOSTATS = {"berendsen": Berendsen, "bussi": Bussi, "langevin": Langevin, "nose_hoover": NoseHoover}


@dataclass
class NPT(_Ensemble):
    """Constant pressure and temperature.

    pressure: GPa (a number, 3 diagonal, 6 Voigt values or 3x3; a (start, end) pair ramps).
    barostat: "scr" (stochastic cell rescaling, correct fluctuations) or "berendsen".
    coupling: "isotropic", "orthorhombic" (each axis on its own) or "triclinic".
    modulus: elastic modulus estimate(s) in GPa (1/compressibility; sets how fast the cell
    relaxes together with tau_p); a component above 2000 GPa is not coupled.
    thermostat: "bussi" (default), "langevin", "nose_hoover" or "berendsen".
    cell_every: the barostat acts every k steps with a time step of k dt (GROMACS' nstpcouple);
    k > 1 keeps a GPU run on the device between cell updates (1, the default: every step).
    """

    temperature: float | tuple = 300.0
    pressure: object = 0.0
    tau_t: float = 100.0
    tau_p: float = 1000.0
    modulus: object = 100.0
    barostat: str = "scr"
    coupling: str = "isotropic"
    thermostat: str = "bussi"
    fixed_group: tuple | None = None
    remove_drift_every: int = 0
    cell_every: int = 1

    def _to_cpp(self):
        e = self._base()
        if self.thermostat not in _THERMOSTATS:
            raise ValueError(f"NPT: thermostat must be one of {sorted(_THERMOSTATS)}")
        _THERMOSTATS[self.thermostat](temperature=self.temperature, tau=self.tau_t)._thermostat(e)
        e.barostat = {"scr": _core.BarostatKind.scr, "berendsen": _core.BarostatKind.berendsen}[self.barostat]
        e.coupling = getattr(_core.PressureCoupling, self.coupling)
        if isinstance(self.pressure, tuple) and len(self.pressure) == 2:
            p0, p1 = (_pressure_matrix(x) for x in self.pressure)
        else:
            p0 = p1 = _pressure_matrix(self.pressure)
        e.pressure_start, e.pressure_end = p0.tolist(), p1.tolist()
        m = np.asarray(self.modulus, dtype=float)
        e.modulus = (np.full((3, 3), float(m)) if m.ndim == 0 else _pressure_matrix(m)).tolist()
        e.tau_pressure = float(self.tau_p)
        e.cell_interval = int(self.cell_every)
        e.validate()
        return e


@dataclass
class Deform(_Ensemble):
    """Constant engineering strain rate (1/fs) per Cartesian axis, e.g. (1e-5, 0, 0) pulls x at
    1e10 1/s. With ``pressure`` given the other axes are barostatted (orthorhombic coupling),
    otherwise they stay fixed. The thermostat keeps the temperature (default Bussi). cell_every:
    the cell is strained (and barostatted) every k steps (LAMMPS' fix deform N); k > 1 keeps a GPU
    run on the device between cell updates."""

    strain_rate: tuple = (0.0, 0.0, 0.0)
    temperature: float | tuple = 300.0
    tau_t: float = 100.0
    pressure: float | None = None
    tau_p: float = 1000.0
    modulus: float = 100.0
    barostat: str = "scr"
    thermostat: str = "bussi"
    fixed_group: tuple | None = None
    remove_drift_every: int = 0
    cell_every: int = 1

    def _to_cpp(self):
        if self.pressure is not None:
            e = NPT(temperature=self.temperature, pressure=self.pressure, tau_t=self.tau_t, tau_p=self.tau_p,
                    modulus=self.modulus, barostat=self.barostat, coupling="orthorhombic",
                    thermostat=self.thermostat, cell_every=self.cell_every, fixed_group=self.fixed_group,
                    remove_drift_every=self.remove_drift_every)._to_cpp()
        else:
            e = self._base()
            _THERMOSTATS[self.thermostat](temperature=self.temperature, tau=self.tau_t)._thermostat(e)
            e.cell_interval = int(self.cell_every)
        e.strain_rate = [float(x) for x in self.strain_rate]
        e.validate()
        return e
