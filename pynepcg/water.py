"""Flexible water: the SPC/Fw potential with Ewald or DSF electrostatics, water-box builder and
molecule topology (see docs/water.md).

Topology is the per-atom integer array ``system.arrays["mol_id"]`` (one label per molecule). Bonds
(O-H1, O-H2) and the angle (H1-O-H2) of every molecule are derived from it
(:func:`water_topology`), so it survives copies, extended XYZ files, Simulator runs and restarts
like any other per-atom column.

Units: Å, eV, e, amu; force constants eV/Å^2 and eV/rad^2; angles in degrees.
"""
from __future__ import annotations

import numpy as np

from . import _core
from .errors import InputError
from .potentials import Potential
from .system import System

__all__ = ["KCAL_PER_MOL", "SPCFW", "SPCFw", "assign_molecules_from_residues", "water_box", "water_topology"]

#: 1 kcal/mol in eV
KCAL_PER_MOL = 4184.0 / 96485.33212

#: SPC/Fw (Wu, Tepper & Voth, J. Chem. Phys. 124, 024503 (2006)), in pynepcg units.
SPCFW = dict(
    charge_oxygen=-0.82, charge_hydrogen=0.41,               # e
    epsilon=0.1554253 * KCAL_PER_MOL, sigma=3.165492,         # eV, Å (O-O only)
    bond_k=1059.162 * KCAL_PER_MOL, bond_r0=1.012,            # eV/Å^2 in (k/2)(r-r0)^2, Å
    angle_k=75.90 * KCAL_PER_MOL, angle_theta0=113.24,        # eV/rad^2 in (k/2)(th-th0)^2, degrees
)
#: masses used by the builder, amu
MASSES = {"O": 15.9994, "H": 1.008}

_PARAMETER_NAMES = ("oxygen", "hydrogen", "charge_oxygen", "charge_hydrogen", "epsilon", "sigma", "lj_cutoff",
                    "lj_shift", "bond_k", "bond_r0", "angle_k", "angle_theta0", "coulomb_constant", "lammps_erfc")


class SPCFw(Potential):
    """Flexible SPC/Fw water (harmonic O-H bonds and H-O-H angle, O-O Lennard-Jones, Coulomb
    between atoms of different molecules) with long-range electrostatics.

    ``coulomb``: ``"ewald"`` (default; real space within ``coulomb_cutoff`` + reciprocal sum,
    ``accuracy`` = relative RMS force error as LAMMPS's kspace accuracy, ``ewald_alpha`` in 1/Å to
    override the automatic choice), ``"pme"`` (smooth particle-mesh Ewald, B-spline order
    ``pme_order``, grid chosen for the same ``accuracy``; the fast choice for large boxes), ``"dsf"`` (damped shifted force with ``dsf_alpha`` 1/Å and
    ``coulomb_cutoff``, LAMMPS coul/dsf conventions) or ``"none"``.
    ``coulomb_cutoff`` defaults to 10 Å (Ewald) or 12 Å (DSF); ``lj_cutoff`` 10 Å, LJ shifted
    to zero there when ``lj_shift``. Any SPC/Fw parameter can be overridden by keyword (names and
    units as in :data:`SPCFW`, plus ``oxygen``/``hydrogen`` species names and
    ``coulomb_constant`` in eV Å/e^2, and ``lammps_erfc=True`` to use LAMMPS's rational erfc
    approximation in real space, for round-off-level comparisons only). Needs ``arrays["mol_id"]`` on the structure.
    """

    def __init__(self, coulomb: str = "ewald", accuracy: float = 1e-5, coulomb_cutoff: float | None = None,
                 dsf_alpha: float = 0.2, ewald_alpha: float | None = None, lj_cutoff: float = 10.0,
                 lj_shift: bool = True, pme_order: int = 5, skin: float = 1.0, **parameters):
        unknown = sorted(set(parameters) - set(_PARAMETER_NAMES))
        if unknown:
            raise InputError(f"SPCFw: unknown parameter(s) {unknown}; known: {sorted(_PARAMETER_NAMES)}")
        p = _core.WaterParameters()
        values = dict(SPCFW, lj_cutoff=lj_cutoff, lj_shift=lj_shift)
        values.update(parameters)
        for k, v in values.items():
            setattr(p, k, v)
        p.coulomb = str(coulomb)
        p.coulomb_cutoff = float(coulomb_cutoff if coulomb_cutoff is not None else (12.0 if coulomb == "dsf" else 10.0))
        p.dsf_alpha = float(dsf_alpha)
        p.accuracy = float(accuracy)
        p.ewald_alpha = float(ewald_alpha or 0.0)
        p.pme_order = int(pme_order)
        super().__init__(_core.FlexibleWater(p), skin)

    @property
    def parameters(self) -> dict:
        """All parameters (see the class docstring for units)."""
        p = self._cpp.parameters
        names = _PARAMETER_NAMES + ("coulomb", "coulomb_cutoff", "dsf_alpha", "accuracy", "ewald_alpha", "pme_order")
        return {k: getattr(p, k) for k in names}

    def ewald_setup(self, structure) -> dict:
        """``alpha`` (1/Å), ``kcut`` (1/Å), ``nmax`` and ``num_kvectors`` that Ewald uses for it;
        for ``coulomb="pme"`` also ``grid`` and ``pme_error`` (estimated RMS force error, eV/Å)."""
        from .potentials import as_system

        return self._cpp.ewald_setup(as_system(structure))

    def __repr__(self) -> str:
        p = self._cpp.parameters
        return f"SPCFw(coulomb={p.coulomb!r}, coulomb_cutoff={p.coulomb_cutoff:g} A, lj_cutoff={p.lj_cutoff:g} A)"


def water_topology(system: System, oxygen: str = "O", hydrogen: str = "H") -> dict:
    """Bonds and angles from ``arrays["mol_id"]``: ``molecule`` (N,) index 0..M-1, ``waters``
    (M, 3) atom indices (O, H1, H2), ``bonds`` (2M, 2) (O, H), ``angles`` (M, 3) (H1, O, H2).
    Raises InputError if a molecule is not one O and two H."""
    return _core.water_topology(system, oxygen, hydrogen)


def assign_molecules_from_residues(system: System) -> System:
    """Sets ``arrays["mol_id"]`` from ``arrays["residue"]`` (as :func:`pynepcg.io.read` fills it
    for PDB/mmCIF files) and checks that every residue is one water molecule. Returns the system."""
    if "residue" not in system.arrays:
        raise InputError("assign_molecules_from_residues: the structure has no 'residue' array "
                         "(read it from a PDB or mmCIF file with pynepcg.io.read)")
    system.arrays["mol_id"] = np.asarray(system.arrays["residue"], dtype=np.int64).copy()
    water_topology(system)
    return system


def _random_rotations(rng, n):
    """n uniformly distributed rotation matrices (random unit quaternions)."""
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1)], -2)


def water_box(n_molecules: int, density: float | None = 1.0, box=None, seed: int = 0,
              bond_length: float = 1.012, angle: float = 113.24, min_distance: float = 1.7) -> System:
    """A periodic box of ``n_molecules`` water molecules in SPC/Fw geometry.

    ``density`` in g/cm^3 gives a cubic box; or ``box`` = three lengths (Å, orthorhombic).
    Oxygens sit on the sites of a grid filling the box (a random subset of sites when there are
    more), displaced at random by up to 0.1 of the site spacing, each molecule in a uniformly
    random orientation; orientations are redrawn until no two atoms of different molecules are
    closer than ``min_distance`` Å; molecules still in contact after 200 joint draws are then
    placed one at a time (new orientations, then empty grid sites when the grid has any;
    InputError when all that fails: the density is too high).
    Atoms are ordered O, H, H per molecule; ``arrays["mol_id"]`` = molecule index (0-based);
    masses O 15.9994, H 1.008 amu. Same ``seed`` => same box.
    """
    n = int(n_molecules)
    if n < 1:
        raise InputError(f"water_box: n_molecules must be >= 1; got {n_molecules}")
    mass = MASSES["O"] + 2 * MASSES["H"]
    if box is None:
        if density is None or not density > 0:
            raise InputError("water_box: give a positive density (g/cm^3) or box lengths (Å)")
        length = (n * mass * _core.AMU_PER_A3_TO_G_PER_CM3 / density) ** (1 / 3)
        lengths = np.full(3, length)
    else:
        lengths = np.broadcast_to(np.asarray(box, dtype=float), (3,)).copy()
        if not np.all(lengths > 0):
            raise InputError(f"water_box: box lengths must be positive; got {box}")
    rng = np.random.default_rng(seed)
    # Grid with about equal spacing in all directions and at least n sites.
    spacing = (np.prod(lengths) / n) ** (1 / 3)
    counts = np.maximum(1, np.round(lengths / spacing).astype(int))
    while np.prod(counts) < n:
        counts[np.argmax(lengths / counts)] += 1
    grid = np.stack(np.meshgrid(*[np.arange(c) for c in counts], indexing="ij"), -1).reshape(-1, 3)
    sites = grid[np.sort(rng.choice(len(grid), size=n, replace=False))]
    step = lengths / counts
    oxygen = (sites + 0.5 + rng.uniform(-0.1, 0.1, size=(n, 3))) * step
    half = np.radians(angle) / 2
    local = np.array([[0, 0, 0], [bond_length * np.sin(half), 0, bond_length * np.cos(half)],
                      [-bond_length * np.sin(half), 0, bond_length * np.cos(half)]])
    rot = _random_rotations(rng, n)
    cell = np.diag(lengths)
    species = ["O", "H", "H"] * n
    masses = np.tile([MASSES["O"], MASSES["H"], MASSES["H"]], n)
    site_of = np.ravel_multi_index(sites.T, counts)  # grid site of each molecule
    for _attempt in range(200):
        pos = oxygen[:, None, :] + np.einsum("mab,kb->mka", rot, local)
        bad = _overlapping_molecules(System(species, pos.reshape(-1, 3), cell=cell, pbc=True, masses=masses),
                                     min_distance)
        if not bad.size:
            break
        rot[bad] = _random_rotations(rng, len(bad))
    else:
        # Redrawing every molecule in contact at once stalls at liquid density for some seeds; then
        # the molecules still in contact are placed one at a time against all the others: new
        # orientations, and after 100 of them an empty grid site (when there is one).
        used = np.zeros(len(grid), dtype=bool)
        used[site_of] = True
        for m in bad:
            for tries in range(400):
                if not _touches_others(pos, m, lengths, min_distance):
                    break
                if tries >= 100 and tries % 20 == 0 and not used.all():
                    g = rng.choice(np.flatnonzero(~used))
                    used[site_of[m]], used[g] = False, True
                    site_of[m] = g
                    oxygen[m] = (grid[g] + 0.5 + rng.uniform(-0.1, 0.1, size=3)) * step
                rot[m] = _random_rotations(rng, 1)[0]
                pos[m] = oxygen[m] + local @ rot[m].T
            else:
                raise InputError(f"water_box: could not place {n} molecules without overlaps (min_distance "
                                 f"{min_distance} Å); lower the density")
    s = System(species, pos.reshape(-1, 3), cell=cell, pbc=True, masses=masses)
    s.arrays["mol_id"] = np.repeat(np.arange(n, dtype=np.int64), 3)
    return s


def _touches_others(pos, m, lengths, min_distance):
    """True when an atom of molecule m is closer than min_distance to an atom of another molecule
    (pos: molecules x 3 atoms x 3, orthorhombic box of edge lengths, minimum image)."""
    d = pos[m][:, None, None, :] - pos[None, :, :, :]
    d -= np.round(d / lengths) * lengths
    close = (d ** 2).sum(-1) < min_distance ** 2
    close[:, m, :] = False
    return bool(close.any())


def _overlapping_molecules(system, min_distance):
    """Indices of molecules with an atom closer than min_distance to an atom of another molecule."""
    from .neighbors import neighbor_list

    i, j, _, d = neighbor_list(system, float(min_distance))
    close = np.einsum("ij,ij->i", d, d) < min_distance ** 2
    mi, mj = i[close] // 3, j[close] // 3
    return np.unique(mi[mi != mj])
