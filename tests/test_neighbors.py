"""pynepcg.NeighborList / pynepcg.neighbor_list against independent references.

References: a brute-force numpy search over all image shifts, ase.neighborlist.neighbor_list and
matscipy.neighbours.neighbour_list. Pairs are compared as sets of (i, j, Sx, Sy, Sz).
"""
import itertools
import zlib

import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list as ase_neighbor_list

import pynepcg

try:
    from matscipy.neighbours import neighbour_list as matscipy_neighbour_list
except ImportError:  # optional reference
    matscipy_neighbour_list = None


# ------------------------------------------------------------------ references


def shift_range(pos, cell, pbc, cutoff):
    """Integer shift bounds per direction that contain every pair closer than cutoff.

    With B the cell completed to a basis (zero rows replaced by arbitrary independent vectors;
    they are non-periodic), a pair vector r = x_j - x_i + S.B has fractional coordinate
    f_a(x_j) - f_a(x_i) + S_a along a periodic direction a, and |r| >= h_a |f_a(r)| with h_a the
    distance between the lattice planes. So |S_a| <= cutoff / h_a + (spread of f_a).
    """
    basis = np.array(cell, dtype=float)
    fill = np.random.default_rng(0)
    zero = [a for a in range(3) if not np.any(basis[a])]
    while abs(np.linalg.det(basis)) < 1e-6:
        basis[zero] = fill.normal(size=(len(zero), 3))
    inv = np.linalg.inv(basis)
    frac = pos @ inv
    ranges = []
    for a in range(3):
        if not pbc[a]:
            ranges.append(range(0, 1))
            continue
        h = 1.0 / np.linalg.norm(inv[:, a])
        r = int(np.ceil(cutoff / h + frac[:, a].max() - frac[:, a].min())) + 1
        ranges.append(range(-r, r + 1))
    return ranges


def brute_force(pos, cell, pbc, cutoff):
    """{(i, j, Sx, Sy, Sz)} with |x_j - x_i + S.cell| < cutoff, excluding (i, i, 0)."""
    pos = np.asarray(pos, dtype=float)
    cell = np.asarray(cell, dtype=float)
    pairs = set()
    shifts = np.array(list(itertools.product(*shift_range(pos, cell, pbc, cutoff))))
    diff = pos[None, :, :] - pos[:, None, :]  # (i, j, 3) = x_j - x_i
    for chunk in np.array_split(shifts, max(1, len(shifts) // 256)):
        t = chunk @ cell  # (k, 3)
        d = diff[:, :, None, :] + t[None, None, :, :]
        r2 = np.einsum("ijkc,ijkc->ijk", d, d)
        for i, j, k in zip(*np.nonzero(r2 < cutoff * cutoff)):
            s = chunk[k]
            if i == j and not s.any():
                continue
            pairs.add((int(i), int(j), int(s[0]), int(s[1]), int(s[2])))
    return pairs


def as_set(i, j, shifts):
    return {(int(a), int(b), int(s[0]), int(s[1]), int(s[2])) for a, b, s in zip(i, j, shifts)}


def list_pairs(nl):
    counts = np.diff(nl.offsets)
    i = np.repeat(np.arange(len(counts)), counts)
    return as_set(i, nl.neighbors, nl.shifts)


def ase_pairs(pos, cell, pbc, cutoff):
    atoms = Atoms(positions=pos, cell=cell, pbc=pbc, numbers=[1] * len(pos))
    return as_set(*ase_neighbor_list("ijS", atoms, cutoff))


def matscipy_pairs(pos, cell, pbc, cutoff):
    cell = np.asarray(cell, dtype=float)
    if not np.any(cell):  # matscipy needs a cell even for a cluster: any box that holds it
        lo = pos.min(axis=0) - 1.0
        cell = np.diag(pos.max(axis=0) - lo + 1.0)
        pos = pos - lo
    atoms = Atoms(positions=pos, cell=cell, pbc=pbc, numbers=[1] * len(pos))
    return as_set(*matscipy_neighbour_list("ijS", atoms, cutoff))


def make_system(pos, cell, pbc, species=None, rng=None):
    n = len(pos)
    if species is None:
        species = ["C"] * n if rng is None else list(rng.choice(["C", "O", "Si"], size=n))
    has_cell = cell is not None and np.any(cell)
    return pynepcg.System(species, np.asarray(pos, dtype=float), cell=cell if has_cell else None, pbc=pbc)


# ------------------------------------------------------------------ structures


def triclinic(seed, n=60):
    rng = np.random.default_rng(seed)
    cell = np.diag(rng.uniform(6.0, 9.0, 3)) + rng.uniform(-2.0, 2.0, (3, 3)) * (1 - np.eye(3))
    pos = rng.uniform(0, 1, (n, 3)) @ cell
    return pos, cell, (True, True, True), 3.7, rng


def case(name):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    if name.startswith("triclinic"):
        pos, cell, pbc, cutoff, rng = triclinic(int(name[-1]))
        return pos, cell, pbc, cutoff, rng
    if name == "skewed":
        cell = np.array([[10.0, 0, 0], [9.5, 1, 0], [9, 0.5, 1]])
        return rng.uniform(0, 1, (20, 3)) @ cell, cell, (True, True, True), 3.0, rng
    if name == "skewed-2":
        cell = np.array([[6.0, 0, 0], [-11.5, 3.0, 0], [4.0, -5.0, 2.5]])
        return rng.uniform(0, 1, (20, 3)) @ cell, cell, (True, True, True), 4.0, rng
    if name == "tiny-box":  # 2 A box, 5 A cutoff
        cell = 2.0 * np.eye(3)
        return rng.uniform(0, 2, (3, 3)), cell, (True, True, True), 5.0, rng
    if name == "tiny-triclinic":
        cell = np.array([[2.2, 0, 0], [1.1, 1.9, 0], [0.4, -0.6, 2.5]])
        return rng.uniform(0, 1, (4, 3)) @ cell, cell, (True, True, True), 4.5, rng
    if name == "single-atom":
        cell = np.diag([2.0, 2.5, 3.1])
        return np.array([[0.3, 0.2, 0.1]]), cell, (True, True, True), 5.0, rng
    if name == "single-atom-slab":
        cell = np.diag([2.0, 2.5, 3.1])
        return np.array([[0.3, 0.2, 0.1]]), cell, (True, True, False), 5.0, rng
    if name == "1d-x":
        cell = np.array([[5.0, 0, 0], [1.0, 6.0, 0], [0.5, 1.0, 8.0]])
        return rng.uniform(0, 1, (30, 3)) @ cell, cell, (True, False, False), 3.5, rng
    if name == "1d-thin-wire":  # period shorter than the cutoff
        cell = np.array([[2.5, 0, 0], [0, 0, 0], [0, 0, 0]])
        return rng.uniform(-3, 3, (8, 3)), cell, (True, False, False), 4.0, rng
    if name == "2d-xy":
        cell = np.array([[5.0, 0, 0], [1.0, 6.0, 0], [0.5, 1.0, 8.0]])
        return rng.uniform(0, 1, (30, 3)) @ cell, cell, (True, True, False), 3.5, rng
    if name == "2d-yz-tilted":
        cell = np.array([[7.0, 2.0, 1.0], [0.0, 4.5, 0.0], [0.0, 1.5, 3.5]])
        return rng.uniform(0, 1, (25, 3)) @ cell, cell, (False, True, True), 4.0, rng
    if name == "2d-zero-c":
        cell = np.array([[4.0, 0, 0], [2.0, 3.5, 0], [0, 0, 0]])
        pos = np.c_[rng.uniform(0, 1, (20, 2)) @ cell[:2, :2], rng.uniform(-3, 3, 20)]
        return pos, cell, (True, True, False), 4.0, rng
    if name == "cluster":
        return rng.uniform(0, 7, (40, 3)), np.zeros((3, 3)), (False, False, False), 3.0, rng
    if name == "cluster-with-cell":
        cell = np.array([[5.0, 0, 0], [1.0, 6.0, 0], [0.5, 1.0, 8.0]])
        return rng.uniform(-0.5, 1.5, (30, 3)) @ cell, cell, (False, False, False), 3.0, rng
    raise KeyError(name)


CASES = [
    "triclinic-0", "triclinic-1", "triclinic-2", "skewed", "skewed-2", "tiny-box", "tiny-triclinic",
    "single-atom", "single-atom-slab", "1d-x", "1d-thin-wire", "2d-xy", "2d-yz-tilted", "2d-zero-c",
    "cluster", "cluster-with-cell",
]


@pytest.fixture(params=CASES)
def structure(request):
    pos, cell, pbc, cutoff, rng = case(request.param)
    return request.param, pos, cell, pbc, cutoff, make_system(pos, cell, pbc, rng=rng)


# ------------------------------------------------------------------ pair sets


def test_pairs_match_brute_force(structure):
    name, pos, cell, pbc, cutoff, system = structure
    i, j, S, D = pynepcg.neighbor_list(system, cutoff)
    got = as_set(i, j, S)
    assert len(got) == len(i), "duplicate entries"
    ref = brute_force(pos, cell, pbc, cutoff)
    assert got == ref, (len(got - ref), len(ref - got), sorted(got ^ ref)[:5])
    if name.startswith("single-atom"):
        assert len(ref) > 0 and all(p[0] == p[1] == 0 for p in ref)  # only its own images


def test_pairs_match_ase(structure):
    name, pos, cell, pbc, cutoff, system = structure
    i, j, S, D = pynepcg.neighbor_list(system, cutoff)
    assert as_set(i, j, S) == ase_pairs(pos, cell, pbc, cutoff)


@pytest.mark.skipif(matscipy_neighbour_list is None, reason="matscipy not installed")
def test_pairs_match_matscipy(structure):
    name, pos, cell, pbc, cutoff, system = structure
    if name in ("1d-thin-wire", "2d-zero-c"):
        pytest.skip("matscipy needs non-zero cell vectors")
    i, j, S, D = pynepcg.neighbor_list(system, cutoff)
    assert as_set(i, j, S) == matscipy_pairs(pos, cell, pbc, cutoff)


def test_pair_vectors_symmetry_and_layout(structure):
    name, pos, cell, pbc, cutoff, system = structure
    i, j, S, D = pynepcg.neighbor_list(system, cutoff)
    assert i.shape == j.shape == (len(i),) and S.shape == D.shape == (len(i), 3)
    assert np.all(np.diff(i) >= 0)  # grouped by the first atom
    expected = pos[j] - pos[i] + S @ np.asarray(cell, dtype=float)
    np.testing.assert_allclose(D, expected, rtol=0, atol=1e-12)
    assert np.all(np.linalg.norm(D, axis=1) < cutoff)
    assert np.all(S[:, ~np.array(pbc)] == 0)  # no shifts along non-periodic directions
    pairs = as_set(i, j, S)
    assert pairs == {(b, a, -x, -y, -z) for a, b, x, y, z in pairs}
    # the NeighborList object: CSR layout and pair_vectors
    nl = pynepcg.NeighborList(cutoff)
    nl.build(system)
    off = nl.offsets
    assert off.shape == (len(pos) + 1,) and off[0] == 0 and off[-1] == len(nl.neighbors) == nl.num_pairs
    assert nl.max_neighbors == np.diff(off).max(initial=0)
    np.testing.assert_array_equal(np.diff(off), np.bincount(i, minlength=len(pos)))
    v = nl.pair_vectors(system)
    ii = np.repeat(np.arange(len(pos)), np.diff(off))
    np.testing.assert_allclose(v, pos[nl.neighbors] - pos[ii] + nl.shifts @ np.asarray(cell, float), atol=1e-12)


def test_half_only_list_holds_every_pair_once(structure):
    """half_only=True: each unordered pair of the full list exactly once, seen from either atom
    (the half is chosen by the bin geometry), with the same pair vectors."""
    name, pos, cell, pbc, cutoff, system = structure
    full, half = pynepcg.NeighborList(cutoff, 0.3), pynepcg.NeighborList(cutoff, 0.3, half_only=True)
    full.build(system)
    half.build(system)
    assert half.half_only and not full.half_only
    ih = np.repeat(np.arange(len(pos)), np.diff(half.offsets))
    jh, sh = half.neighbors, half.shifts
    fwd = {(int(a), int(b), *map(int, t)) for a, b, t in zip(ih, jh, sh)}
    rev = {(int(b), int(a), *map(int, -t)) for a, b, t in zip(ih, jh, sh)}
    assert len(fwd) == len(ih)  # no duplicate entries
    assert not (fwd & rev)  # never both directions of a pair
    i_full = np.repeat(np.arange(len(pos)), np.diff(full.offsets))
    both = {(int(a), int(b), *map(int, t)) for a, b, t in zip(i_full, full.neighbors, full.shifts)}
    assert fwd | rev == both and len(fwd) + len(rev) == len(both)  # a partition of the full list
    assert 2 * half.num_pairs == full.num_pairs
    v = half.pair_vectors(system)
    np.testing.assert_allclose(v, pos[jh] - pos[ih] + sh @ np.asarray(cell, float), rtol=0, atol=1e-12)


def test_medium_system_matches_ase():
    rng = np.random.default_rng(11)
    cell = np.array([[16.0, 0.0, 0.0], [-3.0, 15.0, 0.0], [2.5, 4.0, 14.0]])
    pos = rng.uniform(0, 1, (500, 3)) @ cell
    system = make_system(pos, cell, (True, True, True), rng=rng)
    i, j, S, D = pynepcg.neighbor_list(system, 5.0)
    assert as_set(i, j, S) == ase_pairs(pos, cell, (True, True, True), 5.0)


# ------------------------------------------------------------------ atoms outside the box


@pytest.mark.parametrize("pbc", [(True, True, True), (True, False, True), (False, True, False)])
def test_atoms_outside_the_box(pbc):
    rng = np.random.default_rng(21)
    cell = np.array([[6.0, 0.0, 0.0], [2.0, 5.5, 0.0], [-1.0, 1.5, 7.0]])
    inside = rng.uniform(0, 1, (40, 3)) @ cell
    n = rng.integers(-4, 5, (40, 3)) * np.array(pbc)  # lattice vectors along periodic directions
    n[0] = [7 * pbc[0], -6 * pbc[1], 5 * pbc[2]]
    outside = inside + n @ cell
    cutoff = 3.6
    a = pynepcg.neighbor_list(make_system(inside, cell, pbc), cutoff)
    b = pynepcg.neighbor_list(make_system(outside, cell, pbc), cutoff)
    # shifts are relative to the positions as given: S_out = S_in + n_i - n_j
    expected = {(i, j, *(np.array(s) + n[i] - n[j])) for i, j, *s in as_set(*a[:3])}
    expected = {tuple(int(x) for x in p) for p in expected}
    assert as_set(*b[:3]) == expected
    assert as_set(*b[:3]) == brute_force(outside, cell, pbc, cutoff)
    # identical pair vectors
    key_a = sorted(zip(a[0], a[1], *np.round(a[3], 9).T))
    key_b = sorted(zip(b[0], b[1], *np.round(b[3], 9).T))
    assert len(key_a) == len(key_b)
    np.testing.assert_allclose(np.array(key_a, dtype=float), np.array(key_b, dtype=float), atol=1e-8)


def test_atoms_far_outside_non_periodic_box():
    # non-periodic directions: positions far from the cell are simply positions
    rng = np.random.default_rng(4)
    pos = rng.uniform(0, 6, (30, 3)) + np.array([1000.0, -500.0, 250.0])
    system = make_system(pos, np.diag([5.0, 5.0, 5.0]), (False, False, False))
    i, j, S, D = pynepcg.neighbor_list(system, 3.0)
    assert as_set(i, j, S) == brute_force(pos, np.eye(3), (False, False, False), 3.0)


# ------------------------------------------------------------------ secondary cutoff


@pytest.mark.parametrize("name", ["triclinic-1", "tiny-box", "2d-xy"])
def test_secondary_cutoff_prefix(name):
    pos, cell, pbc, cutoff, rng = case(name)
    system = make_system(pos, cell, pbc)
    skin, secondary = 0.4, 0.6 * cutoff
    nl = pynepcg.NeighborList(cutoff, skin=skin, secondary_cutoff=secondary)
    assert (nl.cutoff, nl.skin, nl.secondary_cutoff) == (cutoff, skin, secondary)
    nl.build(system)
    assert list_pairs(nl) == brute_force(pos, cell, pbc, cutoff + skin)
    r = np.linalg.norm(nl.pair_vectors(system), axis=1)
    off, ns = nl.offsets, nl.num_secondary
    assert ns.shape == (len(pos),)
    for i in range(len(pos)):
        ri = r[off[i] : off[i + 1]]
        assert np.all(ri[: ns[i]] < secondary + skin)
        assert np.all(ri[ns[i] :] >= secondary + skin)
    assert ns.sum() == len(brute_force(pos, cell, pbc, secondary + skin))


def test_no_secondary_cutoff_means_zero_prefix():
    pos, cell, pbc, cutoff, rng = case("triclinic-0")
    nl = pynepcg.NeighborList(cutoff)
    nl.build(make_system(pos, cell, pbc))
    assert np.all(nl.num_secondary == 0)


# ------------------------------------------------------------------ skin and update


def within_cutoff(nl, system, cutoff):
    counts = np.diff(nl.offsets)
    i = np.repeat(np.arange(len(counts)), counts)
    r = np.linalg.norm(nl.pair_vectors(system), axis=1)
    keep = r < cutoff
    return as_set(i[keep], nl.neighbors[keep], nl.shifts[keep])


def random_displacements(rng, n, length):
    d = rng.normal(size=(n, 3))
    return length * d / np.linalg.norm(d, axis=1)[:, None]


def test_skin_update():
    rng = np.random.default_rng(31)
    cell = np.array([[9.0, 0.0, 0.0], [1.5, 8.5, 0.0], [-1.0, 2.0, 9.5]])
    pos0 = rng.uniform(0, 1, (120, 3)) @ cell
    system = make_system(pos0, cell, (True, True, True))
    cutoff, skin = 3.5, 1.0
    nl = pynepcg.NeighborList(cutoff, skin=skin)
    assert nl.update(system) is True  # first call builds
    assert nl.num_builds == 1
    assert nl.update(system) is False
    # every atom moves by 0.3 A (< skin / 2): no rebuild, and the list still has every pair
    for step in range(3):
        system.positions = pos0 + random_displacements(rng, len(pos0), 0.3)
        assert nl.update(system) is False
        assert nl.num_builds == 1
        assert within_cutoff(nl, system, cutoff) == brute_force(system.positions, cell, (True,) * 3, cutoff)
    # one atom moves by 0.6 A (> skin / 2): rebuild
    moved = pos0.copy()
    moved[17] += random_displacements(rng, 1, 0.6)[0]
    system.positions = moved
    assert nl.update(system) is True
    assert nl.num_builds == 2
    assert list_pairs(nl) == brute_force(moved, cell, (True,) * 3, cutoff + skin)
    assert within_cutoff(nl, system, cutoff) == brute_force(moved, cell, (True,) * 3, cutoff)
    # moving atoms out of the box (unwrapped trajectories) by small steps: still no rebuild
    system.positions = moved + random_displacements(rng, len(moved), 0.25)
    assert nl.update(system) is False
    assert within_cutoff(nl, system, cutoff) == brute_force(system.positions, cell, (True,) * 3, cutoff)


@pytest.mark.parametrize("scale", [1.001, 0.999, 1.05])
def test_update_after_box_change(scale):
    rng = np.random.default_rng(41)
    cell = np.array([[7.0, 0.0, 0.0], [1.0, 7.5, 0.0], [0.5, -1.0, 8.0]])
    pos = rng.uniform(0, 1, (80, 3)) @ cell
    system = make_system(pos, cell, (True, True, True))
    cutoff, skin = 3.5, 0.8
    nl = pynepcg.NeighborList(cutoff, skin=skin)
    nl.build(system)
    new_cell = cell * scale
    new_pos = pos * scale
    system.box = pynepcg.Box(new_cell)
    system.positions = new_pos
    rebuilt = nl.update(system)
    assert within_cutoff(nl, system, cutoff) == brute_force(new_pos, new_cell, (True,) * 3, cutoff)
    if scale == 1.05:
        assert rebuilt  # atoms far from the origin moved by up to ~0.7 A


def test_update_on_periodicity_change():
    pos, cell, pbc, cutoff, rng = case("2d-xy")
    system = make_system(pos, cell, pbc)
    nl = pynepcg.NeighborList(cutoff, skin=0.5)
    nl.build(system)
    system.box = pynepcg.Box(cell, pbc=True)
    assert nl.update(system) is True
    assert within_cutoff(nl, system, cutoff) == brute_force(pos, cell, (True,) * 3, cutoff)


def test_update_on_atom_count_change():
    pos, cell, pbc, cutoff, rng = case("triclinic-2")
    nl = pynepcg.NeighborList(cutoff, skin=0.5)
    nl.build(make_system(pos, cell, pbc))
    smaller = make_system(pos[:-5], cell, pbc)
    assert nl.update(smaller) is True
    assert list_pairs(nl) == brute_force(pos[:-5], cell, pbc, cutoff + 0.5)


# ------------------------------------------------------------------ arguments


@pytest.mark.parametrize(
    "args", [(0.0,), (-1.0,), (float("nan"),), (3.0, -0.1), (3.0, 0.0, 3.5), (3.0, 0.0, -1.0)]
)
def test_bad_arguments(args):
    with pytest.raises(ValueError):
        pynepcg.NeighborList(*args)


def test_pair_vectors_needs_same_atom_count():
    pos, cell, pbc, cutoff, rng = case("triclinic-0")
    nl = pynepcg.NeighborList(cutoff)
    nl.build(make_system(pos, cell, pbc))
    with pytest.raises(ValueError):
        nl.pair_vectors(make_system(pos[:3], cell, pbc))


def test_non_finite_positions_rejected():
    pos, cell, pbc, cutoff, rng = case("triclinic-0")
    system = make_system(pos, cell, pbc)
    system.positions[3, 1] = np.nan  # through the writable view
    with pytest.raises(ValueError):
        pynepcg.NeighborList(cutoff).build(system)
    with pytest.raises(ValueError):
        pynepcg.neighbor_list(system, cutoff)


def test_empty_system():
    system = pynepcg.System([], np.zeros((0, 3)), cell=[5.0, 5.0, 5.0])
    i, j, S, D = pynepcg.neighbor_list(system, 3.0)
    assert len(i) == len(j) == len(S) == len(D) == 0
    nl = pynepcg.NeighborList(3.0)
    nl.build(system)
    assert nl.offsets.tolist() == [0] and nl.max_neighbors == 0


def test_cli_neighbors_matches_ase(shared_data, capsys):
    from pynepcg.cli import main

    path = shared_data("nep-models/Si64_displaced.xyz")
    assert main(["neighbors", str(path), "--cutoff", "3.0"]) == 0
    out = capsys.readouterr().out
    import ase.io

    a = ase.io.read(path)
    counts = np.bincount(ase_neighbor_list("i", a, 3.0), minlength=len(a))
    assert "64 atoms" in out
    assert f"mean {counts.mean():.3f}, max {counts.max()}" in out


def test_tiny_negative_coordinates_regression():
    """A coordinate of -1e-20 has a fractional part that rounds to 1.0; the atom must still be
    found at its true position (an image-count bug once put it one box away)."""
    from pynepcg import structures

    s = structures.fcc("Au", 4.08, (3, 3, 3))
    pos = np.array(s.positions)
    pos[pos == 0.0] = -6e-20
    t = pynepcg.System(s.species, pos, cell=np.array(s.cell))
    i, j, S, D = pynepcg.neighbor_list(t, 3.5)
    assert len(i) == 12 * len(t)
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 4.08 / np.sqrt(2), rtol=1e-12)
