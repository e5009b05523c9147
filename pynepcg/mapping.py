"""Atoms -> beads: :class:`Mapper`, the coarse-graining map of NEP-CG and NEP-AACG.

A map assigns every atom to one bead (an integer label per atom, GPUMD's ``group`` column) and
names every bead (free-form names, e.g. ``"W"`` for a water bead, ``"A"``/``"B"`` for two C60
sites). Bead positions are mass-weighted centres of mass, unwrapped across periodic boundaries;
bead forces are sums of atom forces; bead masses are sums of atom masses (amu).

Constructors: :meth:`Mapper.by_molecule` (connectivity from covalent radii, given bonds, a
``mol_id`` array or a fixed number of atoms per molecule), :meth:`Mapper.by_cell` (tiles of a
crystal), :meth:`Mapper.from_groups` (index lists), :meth:`Mapper.from_labels` (a label per atom:
GPUMD group column, ASE tags), :meth:`Mapper.from_mdanalysis` (selections). Bead names: one name
for all, by molecule kind (formula), by crystallographic site (:meth:`Mapper.site_types`), or
given. :meth:`Mapper.partial` keeps a fraction of beads or a region atomistic (NEP-AACG): their
atoms become single-atom beads named by their species, as GPUMD's AACG data preparation does.
"""

from __future__ import annotations

import warnings

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import _core
from .errors import InputError
from .system import System, from_ase

__all__ = ["Mapper"]


def _as_system(structure) -> System:
    if isinstance(structure, System):
        return structure
    if hasattr(structure, "get_positions"):
        return from_ase(structure)
    raise TypeError("expected a pynepcg.System or an ase.Atoms")


def _compact(labels) -> np.ndarray:
    """Labels -> 0 ... B-1 in ascending label order (the order of GPUMD's groups)."""
    _, inverse = np.unique(np.asarray(labels), return_inverse=True)
    return inverse.astype(np.int64)


def _components(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Connected components of the graph with edges (i, j): label = smallest atom index."""
    label = np.arange(n)
    while True:
        new = label.copy()
        np.minimum.at(new, i, label[j])
        np.minimum.at(new, j, label[i])
        new = new[new]  # pointer jumping
        if np.array_equal(new, label):
            return label
        label = new


class Mapper:
    """A coarse-graining map: ``labels`` (bead index per atom, 0 ... B-1) and ``names`` (one per bead)."""

    def __init__(self, labels, names: Sequence[str] | str = "CG"):
        self.labels = _compact(labels)
        b = self.num_beads
        if isinstance(names, str):
            names = [names] * b
        names = [str(x) for x in names]
        if len(names) != b:
            raise InputError(f"Mapper: {len(names)} names for {b} beads")
        if any(not x or any(c.isspace() for c in x) for x in names):
            raise InputError("Mapper: bead names must be non-empty and without blanks")
        self.names = names

    # -- constructors ----------------------------------------------------------------------------
    @classmethod
    def from_labels(cls, labels, names="CG") -> "Mapper":
        """From a label per atom (e.g. GPUMD's group column ``system.groups[m]`` or ASE tags)."""
        return cls(labels, names)

    @classmethod
    def from_groups(cls, groups: Sequence[Sequence[int]], n_atoms: int | None = None, names="CG",
                    atom_names: Sequence[str] | None = None) -> "Mapper":
        """From index lists, one per bead; every atom must be in exactly one list. With
        ``n_atoms``, atoms left out become single-atom beads named ``atom_names[i]`` (default
        ``"X"``), after the listed beads."""
        n = n_atoms if n_atoms is not None else sum(len(g) for g in groups)
        labels = np.full(n, -1, dtype=np.int64)
        for b, g in enumerate(groups):
            g = np.asarray(g, dtype=np.int64)
            if len(g) == 0 or g.min() < 0 or g.max() >= n:
                raise InputError(f"Mapper.from_groups: group {b} is empty or has indices outside 0 ... {n - 1}")
            if np.any(labels[g] >= 0):
                raise InputError(f"Mapper.from_groups: group {b} repeats atoms of an earlier group")
            labels[g] = b
        left = np.flatnonzero(labels < 0)
        if len(left) and n_atoms is None:
            raise InputError(f"Mapper.from_groups: atoms {left[:5].tolist()} ... are in no group")
        labels[left] = len(groups) + np.arange(len(left))
        names = [names] * len(groups) if isinstance(names, str) else list(names)
        if len(names) != len(groups):
            raise InputError(f"Mapper.from_groups: {len(names)} names for {len(groups)} groups")
        names += [str(atom_names[i]) if atom_names is not None else "X" for i in left]
        return cls(labels, names)

    @classmethod
    def from_ase_tags(cls, atoms, names="CG") -> "Mapper":
        return cls(atoms.get_tags(), names)

    @classmethod
    def by_molecule(cls, structure, bonds=None, atoms_per_molecule: int | None = None, scale: float = 1.2,
                    names: str | dict | Sequence[str] = "formula") -> "Mapper":
        """One bead per molecule. Molecules come from (first that applies) ``atoms_per_molecule``
        (consecutive atoms in file order), ``bonds`` (pairs of atom indices), the system's
        ``mol_id`` array, or covalent radii (atoms closer than ``scale`` x (r_i + r_j) are bonded,
        across periodic boundaries). ``names``: ``"formula"`` (e.g. ``H2O``), a dict formula ->
        name, one name for all, or a list per bead."""
        s = _as_system(structure)
        n = len(s)
        if atoms_per_molecule is not None:
            k = int(atoms_per_molecule)
            if k < 1 or n % k:
                raise InputError(f"Mapper.by_molecule: {n} atoms are not a whole number of {k}-atom molecules")
            labels = np.arange(n) // k
        elif bonds is not None:
            b = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
            if len(b) and (b.min() < 0 or b.max() >= n):
                raise InputError("Mapper.by_molecule: bond indices outside the structure")
            labels = _components(n, b[:, 0], b[:, 1])
        elif "mol_id" in s.arrays:
            labels = np.asarray(s.arrays["mol_id"]).ravel()
        else:
            from ase.data import atomic_numbers, covalent_radii

            species = np.asarray(s.species)
            unknown = sorted({x for x in species if x not in atomic_numbers})
            if unknown:
                raise InputError(f"Mapper.by_molecule: no covalent radius for {unknown}; give bonds= or atoms_per_molecule=")
            radius = covalent_radii[[atomic_numbers[x] for x in species]]
            cutoff = 2 * scale * radius.max()
            i, j, d = _pairs(s, cutoff)
            keep = d < scale * (radius[i] + radius[j])
            labels = _components(n, i[keep], j[keep])
        labels = _compact(labels)
        return cls(labels, cls._molecule_names(s, labels, names))

    @staticmethod
    def _molecule_names(s: System, labels: np.ndarray, names):
        nb = labels.max() + 1 if len(labels) else 0
        if isinstance(names, str) and names != "formula":
            return [names] * nb
        if not isinstance(names, (str, dict)):
            return list(names)
        species = np.asarray(s.species)
        formulas = []
        order = np.argsort(labels, kind="stable")
        starts = np.searchsorted(labels[order], np.arange(nb))
        for b, members in enumerate(np.split(order, starts[1:])):
            sp, counts = np.unique(species[members], return_counts=True)
            formula = "".join(f"{x}{c if c > 1 else ''}" for x, c in zip(sp, counts))
            formulas.append(formula)
        if isinstance(names, dict):
            missing = sorted(set(formulas) - set(names))
            if missing:
                raise InputError(f"Mapper.by_molecule: no bead name for molecules {missing}")
            return [names[f] for f in formulas]
        return formulas

    @classmethod
    def by_cell(cls, structure, cells, names="CG", shift: float = 1e-3) -> "Mapper":
        """Tiles the cell into ``cells = (na, nb, nc)`` sub-cells by fractional coordinates; each
        sub-cell's atoms are one bead (e.g. the 4-atom conventional cells of an FCC supercell).
        ``shift`` (fractional, of a sub-cell) moves the tile boundaries off atoms sitting exactly on
        them. Use the ideal (unrattled) structure to build the map."""
        s = _as_system(structure)
        cells = np.asarray(cells, dtype=np.int64)
        if cells.shape != (3,) or np.any(cells < 1):
            raise InputError("Mapper.by_cell: cells must be three positive integers")
        frac = np.linalg.solve(np.asarray(s.cell).T, np.asarray(s.positions).T).T
        idx = np.floor((frac * cells + shift) % cells).astype(np.int64) % cells
        labels = (idx[:, 0] * cells[1] + idx[:, 1]) * cells[2] + idx[:, 2]
        sizes = np.bincount(labels)
        sizes = sizes[sizes > 0]  # (empty tiles make no bead)
        if len(sizes) and sizes.min() != sizes.max():
            # (tiles that do not match the crystal's repeat: beads of different contents)
            warnings.warn(f"Mapper.by_cell: the {tuple(int(c) for c in cells)} tiles hold {sizes.min()} to "
                          f"{sizes.max()} atoms; tiles usually match the crystal's repeat (e.g. 4-atom FCC cells)",
                          stacklevel=2)
        return cls(labels, names)

    @classmethod
    def from_mdanalysis(cls, universe, selections: Sequence[str], names=None) -> "Mapper":
        """One bead per residue of each selection string (its atoms in that residue); atoms in no
        selection become single-atom beads named by their element (or atom name). MDAnalysis."""
        try:
            import MDAnalysis  # noqa: F401
        except ImportError as e:  # pragma: no cover - optional dependency
            raise ImportError("Mapper.from_mdanalysis needs MDAnalysis (pip install MDAnalysis)") from e
        groups, bead_names = [], []
        for k, sel in enumerate(selections):
            for res in universe.select_atoms(sel).residues:
                atoms = res.atoms.select_atoms(sel)
                groups.append(atoms.indices)
                bead_names.append(names[k] if names else f"B{k}")
        atoms = universe.atoms
        atom_names = atoms.elements if hasattr(atoms, "elements") else atoms.names
        return cls.from_groups(groups, n_atoms=len(atoms), names=bead_names, atom_names=list(atom_names))

    # -- properties ------------------------------------------------------------------------------
    @property
    def num_beads(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    @property
    def num_atoms(self) -> int:
        return len(self.labels)

    def members(self, bead: int) -> np.ndarray:
        return np.flatnonzero(self.labels == bead)

    def bead_masses(self, structure) -> np.ndarray:
        s = self._check(structure)
        return np.bincount(self.labels, weights=np.asarray(s.masses), minlength=self.num_beads)

    def _check(self, structure) -> System:
        s = _as_system(structure)
        if len(s) != self.num_atoms:
            raise InputError(f"Mapper: the map has {self.num_atoms} atoms, the structure {len(s)}")
        return s

    # -- bead names --------------------------------------------------------------------------------
    def renamed(self, names) -> "Mapper":
        """A copy with other bead names (one for all, a list per bead, or a dict old -> new)."""
        if isinstance(names, dict):
            names = [names.get(x, x) for x in self.names]
        return Mapper(self.labels, names)

    def site_types(self, structure, tolerance: float = 0.1, shell: float | None = None,
                   prefix: str = "") -> "Mapper":
        """Names beads by crystallographic site: two beads get the same type when (1) their atoms,
        relative to the bead centre, coincide up to a translation (same species, same orientation)
        within ``tolerance`` Å, and (2) the sorted distances to the other bead centres within
        ``shell`` Å (default: 1.5 x the nearest bead distance) coincide within ``tolerance``.
        Types are named A, B, C, ... in order of first appearance (with ``prefix``). Build it on the
        ideal structure; override names with :meth:`renamed`."""
        s = self._check(structure)
        centres = self.centres(s)
        nb = self.num_beads
        pos = np.asarray(s.positions)
        species = np.asarray(s.species)
        rel = pos - centres[self.labels]
        rel = _minimum_image(s, rel)
        # bead-bead distance shells (minimum image, all pairs within the shell)
        if nb > 1:
            bead_sys = System(["X"] * nb, centres, np.asarray(s.cell), masses=np.ones(nb), pbc=s.pbc)
            nearest = _nearest_distance(bead_sys)
            r_shell = shell if shell is not None else 1.5 * nearest
            i, _, d = _pairs(bead_sys, r_shell)
        else:
            i, d = np.zeros(0, dtype=np.int64), np.zeros(0)
        shells = [np.sort(d[i == b]) for b in range(nb)]
        members = [self.members(b) for b in range(nb)]
        reps: list[int] = []
        types = np.empty(nb, dtype=np.int64)
        for b in range(nb):
            for t, r in enumerate(reps):
                if _same_site(rel, species, members[b], members[r], shells[b], shells[r], tolerance):
                    types[b] = t
                    break
            else:
                types[b] = len(reps)
                reps.append(b)
        letters = [_type_name(t) for t in range(len(reps))]
        return Mapper(self.labels, [prefix + letters[t] for t in types])

    # -- NEP-AACG ----------------------------------------------------------------------------------
    def partial(self, structure, fraction: float | None = None, region: Callable | None = None,
                seed: int = 0) -> "Mapper":
        """Keeps beads atomistic: a random ``fraction`` of them (seeded), and/or those whose centre
        satisfies ``region(centres) -> bool array`` (helpers: :func:`slab`, :func:`sphere`,
        :func:`cylinder`). Their atoms become single-atom beads named by their species."""
        s = self._check(structure)
        nb = self.num_beads
        keep = np.zeros(nb, dtype=bool)
        if fraction is not None:
            if not 0 <= fraction <= 1:
                raise InputError("Mapper.partial: fraction must be in [0, 1]")
            rng = np.random.default_rng(seed)
            keep[rng.choice(nb, size=int(round(fraction * nb)), replace=False)] = True
        if region is not None:
            mask = np.asarray(region(self.centres(s)), dtype=bool)
            if mask.shape != (nb,):
                raise InputError(f"Mapper.partial: region() must return {nb} booleans")
            keep |= mask
        atomistic = keep[self.labels]
        # New labels in (bead, atom index) order: an atomised bead's atoms take its place, in order.
        n = self.num_atoms
        sub = np.where(atomistic, np.arange(n) + 1, 0)
        combined = self.labels.astype(np.int64) * (n + 1) + sub
        _, first, new_label = np.unique(combined, return_index=True, return_inverse=True)
        species = np.asarray(s.species)
        bead_names = np.asarray(self.names, dtype=object)[self.labels[first]]
        names = np.where(atomistic[first], species[first], bead_names)
        return Mapper(new_label, [str(x) for x in names])

    # -- mapping -----------------------------------------------------------------------------------
    def centres(self, structure) -> np.ndarray:
        """Bead centres of mass (B, 3), Å, members unwrapped relative to each bead's first atom."""
        s = self._check(structure)
        return _core.bead_centres(s, self.labels.astype(np.int32).tolist())

    def map_forces(self, forces) -> np.ndarray:
        """Sum of atom forces (N, 3) over each bead, (B, 3)."""
        f = np.asarray(forces, dtype=float).reshape(-1, 3)
        if len(f) != self.num_atoms:
            raise InputError(f"Mapper: {len(f)} forces for {self.num_atoms} atoms")
        return np.stack([np.bincount(self.labels, weights=f[:, c], minlength=self.num_beads) for c in range(3)], 1)

    def map(self, structure) -> System:
        """The coarse-grained System: bead centres, summed masses, bead names, same cell and pbc;
        ``arrays['forces']`` (summed) and ``info['energy']``/``virial``/``stress`` when present."""
        s = self._check(structure)
        cg = System(self.names, self.centres(s), np.asarray(s.cell), masses=self.bead_masses(s), pbc=s.pbc)
        if "forces" in s.arrays:
            cg.arrays["forces"] = self.map_forces(s.arrays["forces"])
        for key in ("energy", "virial", "stress"):
            if key in s.info:
                cg.info[key] = s.info[key]
        return cg

    def group_column(self) -> np.ndarray:
        """Bead label per atom (GPUMD's group column for model.xyz)."""
        return self.labels.copy()

    def with_groups(self, structure, method: int | None = None) -> System:
        """A copy of the structure whose grouping method ``method`` (default: a new last one) is
        this map, for bead-constrained runs and GPUMD's dump_cg."""
        s = self._check(structure).copy()
        groups = [list(g) for g in s.groups]
        col = self.labels.astype(int).tolist()
        if method is None or method == len(groups):
            groups.append(col)
        elif 0 <= method < len(groups):
            groups[method] = col
        else:
            raise InputError(f"Mapper.with_groups: method {method} does not exist")
        s.groups = groups
        return s

    def write_gpumd(self, structure, directory) -> None:
        """model.xyz with this map as grouping method 0 and bead_name.txt (one bead name per atom),
        the files GPUMD's USE_NEPCG build and ``dump_cg`` read."""
        from . import io

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        s = self._check(structure).copy()
        s.groups = [self.labels.astype(int).tolist()]
        io.write(d / "model.xyz", [s])
        (d / "bead_name.txt").write_text("".join(self.names[b] + "\n" for b in self.labels))

    def __repr__(self) -> str:
        kinds = sorted(set(self.names))
        return f"Mapper({self.num_atoms} atoms -> {self.num_beads} beads, names {kinds[:6]}{'...' if len(kinds) > 6 else ''})"

    def save(self, path) -> None:
        """Writes the map as text: one line per atom, ``label name``."""
        Path(path).write_text("".join(f"{b} {self.names[b]}\n" for b in self.labels))

    @classmethod
    def load(cls, path) -> "Mapper":
        rows = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
        labels = np.array([int(r[0]) for r in rows])
        names = {}
        for lab, name in ((int(r[0]), r[1]) for r in rows):
            names[lab] = name
        order = sorted(names)
        return cls(labels, [names[k] for k in order])


# -- region predicates for Mapper.partial ---------------------------------------------------------
def slab(axis: int, lo: float, hi: float) -> Callable:
    """Centres with lo <= x_axis < hi (Å)."""
    return lambda c: (c[:, axis] >= lo) & (c[:, axis] < hi)


def sphere(centre, radius: float) -> Callable:
    return lambda c: np.linalg.norm(c - np.asarray(centre, dtype=float), axis=1) < radius


def cylinder(axis: int, centre, radius: float) -> Callable:
    """Centres within ``radius`` of the line through ``centre`` (2 coordinates across ``axis``)."""
    other = [k for k in range(3) if k != axis]
    return lambda c: np.linalg.norm(c[:, other] - np.asarray(centre, dtype=float), axis=1) < radius


# -- helpers -----------------------------------------------------------------------------------------
def _pairs(s: System, cutoff: float):
    """Pairs (i, j) within the cutoff (all periodic images) and their distances."""
    from .neighbors import neighbor_list

    i, j, _, D = neighbor_list(s, cutoff)
    return np.asarray(i), np.asarray(j), np.linalg.norm(np.asarray(D), axis=1)


def _nearest_distance(s: System) -> float:
    cutoff = 2.0 * (abs(np.linalg.det(np.asarray(s.cell))) / len(s)) ** (1 / 3)
    while True:
        _, _, d = _pairs(s, cutoff)
        if len(d):
            return float(d.min())
        cutoff *= 2


def _minimum_image(s: System, d: np.ndarray) -> np.ndarray:
    cell = np.asarray(s.cell)
    pbc = np.asarray(s.pbc, dtype=bool)
    if not pbc.any():
        return d
    frac = np.linalg.solve(cell.T, d.T).T
    frac[:, pbc] -= np.round(frac[:, pbc])
    return frac @ cell


def _same_site(rel, species, ma, mb, sa, sb, tol) -> bool:
    if len(ma) != len(mb) or len(sa) != len(sb):
        return False
    if len(sa) and np.abs(sa - sb).max() > tol:
        return False
    if sorted(species[ma]) != sorted(species[mb]):
        return False
    # every atom of a has an atom of b of the same species at the same relative position
    d = np.linalg.norm(rel[ma][:, None, :] - rel[mb][None, :, :], axis=2)
    d[species[ma][:, None] != species[mb][None, :]] = np.inf
    return bool(np.all(d.min(axis=1) <= tol) and np.all(d.min(axis=0) <= tol))


def _type_name(t: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    name = ""
    t += 1
    while t:
        t, r = divmod(t - 1, 26)
        name = letters[r] + name
    return name
