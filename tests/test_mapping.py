"""Mapper: maps by molecule, cell, groups and labels; bead names by formula and by site; AACG
partial maps; centres of mass across periodic boundaries; force mapping; GPUMD files."""
from __future__ import annotations

import numpy as np
import pytest

import pynepcg
from pynepcg import Mapper, mapping
from pynepcg.errors import InputError


def water_molecules(n=3, box=9.0, seed=0):
    """n H2O molecules on a line, the last one straddling the periodic boundary."""
    rng = np.random.default_rng(seed)
    pos, sp = [], []
    for k in range(n):
        o = np.array([k * box / n + 0.3, 1.0 + 1.5 * k, 1.0])
        if k == n - 1:
            o[0] = box - 0.2
        d1 = np.array([0.96, 0.0, 0.0])
        d2 = 0.96 * np.array([np.cos(1.82), np.sin(1.82), 0.0])
        pos += [o, o + d1, o + d2]
        sp += ["O", "H", "H"]
    pos = np.array(pos) % box
    return pynepcg.System(sp, pos, np.eye(3) * box)


def test_by_molecule_all_routes_agree():
    s = water_molecules()
    a = Mapper.by_molecule(s)  # covalent radii, across the boundary
    b = Mapper.by_molecule(s, atoms_per_molecule=3)
    c = Mapper.by_molecule(s, bonds=[(0, 1), (0, 2), (3, 4), (3, 5), (6, 7), (6, 8)])
    s.arrays["mol_id"] = np.repeat([7, 3, 5], 3)
    d = Mapper.by_molecule(s)
    assert a.num_beads == 3 and a.names == ["H2O"] * 3
    for m in (b, c):
        assert np.array_equal(m.labels, a.labels)
    assert np.array_equal(d.labels, np.repeat([2, 0, 1], 3))  # labels ascending -> beads
    assert Mapper.by_molecule(s, atoms_per_molecule=3, names={"H2O": "W"}).names == ["W"] * 3
    with pytest.raises(InputError, match="whole number"):
        Mapper.by_molecule(s, atoms_per_molecule=4)


def test_centres_masses_and_forces_across_the_boundary():
    s = water_molecules()
    m = Mapper.by_molecule(s, atoms_per_molecule=3)
    c = m.centres(s)
    masses = np.asarray(s.masses)
    # reference: unwrap the straddling molecule by hand (O at 8.8, an H atom wrapped to ~0.76)
    p = np.asarray(s.positions)[6:9].copy()
    p[p[:, 0] < 3, 0] += 9.0
    want = (masses[6:9, None] * p).sum(0) / masses[6:9].sum()
    assert np.allclose(c[2], want, atol=1e-12)
    assert np.allclose(m.bead_masses(s), [masses[:3].sum()] * 3)
    f = np.random.default_rng(1).normal(size=(9, 3))
    assert np.allclose(m.map_forces(f), f.reshape(3, 3, 3).sum(1))
    s.arrays["forces"] = f
    s.info["energy"] = -1.5
    cg = m.map(s)
    assert len(cg) == 3 and list(cg.species) == ["H2O"] * 3 and cg.info["energy"] == -1.5
    assert np.allclose(cg.arrays["forces"], m.map_forces(f)) and np.allclose(cg.masses, m.bead_masses(s))


def test_by_cell_and_site_types():
    g = pynepcg.structures.fcc("Au", 4.08, (3, 3, 3))
    m = Mapper.by_cell(g, (3, 3, 3))
    assert m.num_beads == 27 and np.all(np.bincount(m.labels) == 4)
    assert set(m.site_types(g).names) == {"A"}  # one type for a simple FCC crystal
    c60 = pynepcg.structures.qhp_c60((2, 2))
    typed = Mapper.from_labels(c60.groups[0]).site_types(c60)
    assert sorted(set(typed.names)) == ["A", "B"]  # two inequivalent (mirror-related) cage orientations
    # the same partition as the reference labels of the data file (up to the letter)
    ref = np.asarray(c60.arrays["bead_type"])[[typed.members(b)[0] for b in range(typed.num_beads)]]
    assert len({(x, y) for x, y in zip(typed.names, ref)}) == 2
    # a rattled copy is still one type with a tolerance above the rattle
    r = g.copy()
    r.positions = np.asarray(r.positions) + np.random.default_rng(0).normal(scale=0.01, size=(len(r), 3))
    assert set(m.site_types(r, tolerance=0.1).names) == {"A"}
    assert len(set(m.site_types(r, tolerance=1e-4).names)) > 1


def test_from_groups_and_errors():
    m = Mapper.from_groups([[0, 2], [1, 3]], names=["X", "Y"])
    assert list(m.labels) == [0, 1, 0, 1] and m.names == ["X", "Y"]
    m = Mapper.from_groups([[0, 1]], n_atoms=4, names=["D"], atom_names=["C", "C", "O", "N"])
    assert m.num_beads == 3 and m.names == ["D", "O", "N"] and list(m.labels) == [0, 0, 1, 2]
    with pytest.raises(InputError, match="repeats"):
        Mapper.from_groups([[0, 1], [1, 2]])
    with pytest.raises(InputError, match="indices outside"):
        Mapper.from_groups([[0, 1], [3]])
    with pytest.raises(InputError, match="names"):
        Mapper([0, 1], names=["A"])
    g = pynepcg.structures.fcc("Au", 4.08, (1, 1, 1))
    with pytest.raises(InputError, match="8 atoms"):
        Mapper(np.zeros(8)).centres(g)


def test_partial_maps_keep_fraction_and_region_atomistic():
    g = pynepcg.structures.fcc("Au", 4.08, (4, 4, 4))
    m = Mapper.by_cell(g, (4, 4, 4), names="Au4")
    p = m.partial(g, fraction=0.25, seed=3)
    atomistic = [n for n in p.names if n == "Au"]
    assert len(atomistic) == 16 * 4 and p.num_beads == 48 + 64
    assert p.partial(g, fraction=0.0).num_beads == p.num_beads  # idempotent on single atoms
    assert np.array_equal(m.partial(g, fraction=0.25, seed=3).labels, p.labels)  # seeded
    assert not np.array_equal(m.partial(g, fraction=0.25, seed=4).labels, p.labels)
    slab = m.partial(g, region=mapping.slab(2, 0.0, 8.16))
    centres = m.centres(g)
    n_slab = int(np.sum(centres[:, 2] < 8.16))
    assert slab.num_beads == (64 - n_slab) + 4 * n_slab
    # atomistic atoms are single-atom beads with their species name; beads keep their masses
    for b in range(slab.num_beads):
        mem = slab.members(b)
        assert (len(mem) == 1) == (slab.names[b] == "Au")
    assert np.isclose(slab.bead_masses(g).sum(), np.sum(g.masses))


def test_gpumd_files_and_save_load(tmp_path):
    s = water_molecules()
    m = Mapper.by_molecule(s, atoms_per_molecule=3, names="W")
    m.write_gpumd(s, tmp_path)
    names = (tmp_path / "bead_name.txt").read_text().split()
    assert names == ["W"] * 9
    back = pynepcg.io.read(tmp_path / "model.xyz")
    assert list(back.groups[0]) == list(m.labels)
    m.save(tmp_path / "map.txt")
    m2 = Mapper.load(tmp_path / "map.txt")
    assert np.array_equal(m2.labels, m.labels) and m2.names == m.names
    with_groups = m.with_groups(s)
    assert len(with_groups.groups) == len(s.groups) + 1


def test_by_cell_warns_when_tiles_do_not_match_the_crystal():
    g = pynepcg.structures.fcc("Au", 4.08, (3, 3, 3))
    with pytest.warns(UserWarning, match=r"tiles hold 1 to 4 atoms"):
        Mapper.by_cell(g, (5, 5, 5))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Mapper.by_cell(g, (3, 3, 3)).num_beads == 27
