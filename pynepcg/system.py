"""Python conveniences on :class:`pynepcg.System`: the ``info`` and ``arrays`` mappings and
conversion to and from ASE ``Atoms``.

``System.info`` is a live mapping of per-frame metadata (``energy`` in eV, ``virial`` as 9 values
in eV with GPUMD's sign, ``stress`` in eV/Å^3 with ASE's sign, ``weight``, ``config_type``, ...).
``System.arrays`` is a live mapping of extra per-atom arrays (``forces`` in eV/Å, ...); numeric
arrays come back as writable numpy views.
"""
from __future__ import annotations

from collections.abc import MutableMapping

import numpy as np

from ._core import System
from .errors import InputError

__all__ = ["System", "from_ase", "to_ase"]

#: name of the ASE per-atom array that carries free-form (bead) species names
ASE_SPECIES_ARRAY = "nepcg_species"
def _ase_time_unit_fs() -> float:
    """ASE's time unit in fs (Å sqrt(amu/eV)), with ASE's own physical constants."""
    from ase import units

    return 1.0 / units.fs


class InfoMapping(MutableMapping):
    """Live view of ``System.info`` (keys are matched case-insensitively, as in extended XYZ)."""

    def __init__(self, system: System):
        self._s = system

    def __getitem__(self, key):
        t = self._s._get_info(key)
        if t is None:
            raise KeyError(key)
        kind, text, reals, ints = t
        if kind == "str":
            return text
        if kind == "int":
            return int(ints[0])
        if kind == "float":
            return float(reals[0])
        if kind == "bool":
            return bool(ints[0])
        if kind == "int_array":
            return np.array(ints, dtype=np.int64)
        if kind == "float_array":
            return np.array(reals, dtype=np.float64)
        return np.array(ints, dtype=bool)

    def __setitem__(self, key, value):
        if not isinstance(key, str) or not key or any(c in key for c in ' \t="'):
            raise InputError(f"System.info: invalid key {key!r}")
        if key.lower() in ("lattice", "properties", "pbc"):
            raise InputError(f"System.info: {key!r} is set through the box/arrays, not info")
        if isinstance(value, (bool, np.bool_)):
            self._s._set_info(key, "bool", "", [], [int(bool(value))])
        elif isinstance(value, (int, np.integer)):
            self._s._set_info(key, "int", "", [], [int(value)])
        elif isinstance(value, (float, np.floating)):
            self._s._set_info(key, "float", "", [float(value)], [])
        elif isinstance(value, str):
            if "\n" in value or "\r" in value:
                raise InputError(f"System.info[{key!r}]: line breaks cannot be stored in extended XYZ")
            self._s._set_info(key, "str", value, [], [])
        else:
            a = np.asarray(value)
            if a.dtype == bool:
                self._s._set_info(key, "bool_array", "", [], [int(x) for x in a.ravel()])
            elif np.issubdtype(a.dtype, np.integer):
                self._s._set_info(key, "int_array", "", [], [int(x) for x in a.ravel()])
            elif np.issubdtype(a.dtype, np.number):
                self._s._set_info(key, "float_array", "", [float(x) for x in a.ravel()], [])
            else:
                raise InputError(f"System.info[{key!r}]: unsupported value {value!r}")

    def __delitem__(self, key):
        if not self._s._del_info(key):
            raise KeyError(key)

    def __iter__(self):
        return iter(self._s._info_keys())

    def __len__(self):
        return len(self._s._info_keys())

    def __repr__(self):
        return repr(dict(self))


class ArraysMapping(MutableMapping):
    """Live view of extra per-atom arrays (shape (N,) or (N, k))."""

    def __init__(self, system: System):
        self._s = system

    def __getitem__(self, name):
        a = self._s._get_array(name)
        if a is None:
            raise KeyError(name)
        if isinstance(a, np.ndarray):
            return a
        kind = a[0]
        if kind == "L":
            return a[1].astype(bool)  # a copy: logical columns are stored as integers
        if kind == "I":
            return a[1]
        return np.array(a[1], dtype=object)

    def __setitem__(self, name, value):
        a = np.asarray(value)
        if a.dtype == bool:
            self._s._set_array_int(name, np.ascontiguousarray(a, dtype=np.int64), True)
        elif np.issubdtype(a.dtype, np.integer):
            self._s._set_array_int(name, np.ascontiguousarray(a, dtype=np.int64), False)
        elif np.issubdtype(a.dtype, np.number):
            self._s._set_array_real(name, np.ascontiguousarray(a, dtype=np.float64))
        else:
            self._s._set_array_str(name, [str(x) for x in a.ravel()])

    def __delitem__(self, name):
        if not self._s._del_array(name):
            raise KeyError(name)

    def __iter__(self):
        return iter(self._s._array_names())

    def __len__(self):
        return len(self._s._array_names())

    def __repr__(self):
        return repr({k: self[k] for k in self})


def _system_repr(self: System) -> str:
    names = self.type_names
    counts = np.bincount(np.asarray(self.types), minlength=len(names)) if len(self) else []
    formula = "".join(f"{n}{c}" for n, c in zip(names, counts))
    return f"System({formula or 'empty'}, pbc={self.pbc}, volume={self.box.volume:.3f} A^3)"


def from_ase(atoms) -> System:
    """A :class:`System` from an ASE ``Atoms``.

    Species come from ``atoms.arrays['nepcg_species']`` when present (free-form bead names),
    otherwise from the chemical symbols; masses from a ``mass`` column (GPUMD's name, which ASE
    keeps as ``atoms.arrays['mass']`` when it reads our or GPUMD's extended XYZ: bead masses)
    when present, else ``atoms.get_masses()`` (ASE's, by element); velocities are
    converted from ASE units to Å/fs. Groups come from ``atoms.arrays['group']``; energy, forces
    and stress of an attached (single-point) calculator go to ``info``/``arrays``; ``atoms.info``
    items are copied. Other per-atom arrays are copied too.
    """
    if ASE_SPECIES_ARRAY in atoms.arrays:
        species = [str(x) for x in atoms.arrays[ASE_SPECIES_ARRAY]]
    else:
        species = atoms.get_chemical_symbols()
    cell = np.asarray(atoms.cell[:], dtype=float)
    pbc = [bool(p) for p in atoms.pbc]
    has_cell = bool(np.any(cell != 0.0)) or any(pbc)
    s = System(
        species,
        np.ascontiguousarray(atoms.positions, dtype=float),
        cell=cell if has_cell else None,
        pbc=pbc,
        masses=np.ascontiguousarray(atoms.arrays["mass"] if "mass" in atoms.arrays else atoms.get_masses(),
                                    dtype=float),
    )
    if atoms.has("momenta"):
        s.velocities = np.ascontiguousarray(atoms.get_velocities() / _ase_time_unit_fs())
    skip = {"numbers", "positions", "momenta", "masses", "mass", ASE_SPECIES_ARRAY, "species"}
    for name, value in atoms.arrays.items():
        if name in skip:
            continue
        if name == "group":
            g = np.asarray(value, dtype=int)
            s.groups = [list(map(int, g))] if g.ndim == 1 else [list(map(int, col)) for col in g.T]
            continue
        if name == "force":  # GPUMD's column name (ASE keeps it as a plain array)
            name = "forces"
        s.arrays[name] = value
    for key, value in atoms.info.items():
        try:
            s.info[key] = value
        except (InputError, TypeError, ValueError):
            pass  # objects that have no extended-XYZ representation are skipped
    calc = atoms.calc
    if calc is not None and getattr(calc, "results", None):
        r = calc.results
        if "energy" in r:
            s.info["energy"] = float(r["energy"])
        if "forces" in r:
            s.arrays["forces"] = np.asarray(r["forces"], dtype=float)
        if "stress" in r:
            from ase.stress import voigt_6_to_full_3x3_stress

            st = np.asarray(r["stress"], dtype=float)
            full = voigt_6_to_full_3x3_stress(st) if st.shape == (6,) else st.reshape(3, 3)
            s.info["stress"] = full.ravel()
    return s


def to_ase(system: System):
    """An ASE ``Atoms`` from a :class:`System`.

    Names that are not chemical elements become symbol 'X' and are kept in
    ``atoms.arrays['nepcg_species']``. Masses, velocities (converted to ASE units), groups,
    ``info`` items and extra per-atom arrays are copied. When ``info`` has ``energy`` (and
    ``arrays`` has ``forces``), a SinglePointCalculator carries them, as ASE's own readers do;
    a ``virial`` is converted to ASE's stress (-virial / volume).
    """
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.data import chemical_symbols

    species = system.species
    elements = set(chemical_symbols[1:95])
    symbols = [x if x in elements else "X" for x in species]
    atoms = Atoms(
        symbols=symbols,
        positions=np.array(system.positions),
        cell=np.array(system.cell),
        pbc=system.pbc,
        masses=np.array(system.masses),
    )
    if any(x not in elements for x in species):
        atoms.arrays[ASE_SPECIES_ARRAY] = np.array(species, dtype=object).astype(str)
    if system.velocities is not None:
        atoms.set_velocities(np.array(system.velocities) * _ase_time_unit_fs())
    groups = system.groups
    if groups:
        g = np.array(groups, dtype=int).T
        atoms.arrays["group"] = g[:, 0] if g.shape[1] == 1 else g
    results = {}
    for name, value in system.arrays.items():
        if name == "forces":
            results["forces"] = np.array(value)
        else:
            atoms.arrays[name] = np.array(value)
    for key, value in system.info.items():
        lk = key.lower()
        if lk == "energy":
            results["energy"] = float(value)
        elif lk == "virial" and system.box.volume > 0:
            results["stress"] = -np.asarray(value, dtype=float).reshape(3, 3) / system.box.volume
        elif lk == "stress":
            results["stress"] = np.asarray(value, dtype=float)
        else:
            atoms.info[key] = value
    if results:
        if "stress" in results and results["stress"].size == 9:
            from ase.stress import full_3x3_to_voigt_6_stress

            results["stress"] = full_3x3_to_voigt_6_stress(results["stress"].reshape(3, 3))
        atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


System.info = property(InfoMapping, doc="Per-frame metadata (live mapping).")
System.arrays = property(ArraysMapping, doc="Extra per-atom arrays (live mapping).")
System.__repr__ = _system_repr
System.from_ase = staticmethod(from_ase)
System.to_ase = to_ase
