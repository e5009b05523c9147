"""pynepcg.Box: minimum image, volume/thickness, fractional coordinates, wrapping, errors.

References are plain numpy: brute force over lattice translations (with a provable search radius)
and textbook formulas.
"""
import itertools

import numpy as np
import pytest

import pynepcg

SKEWED_CELLS = [
    np.array([[10.0, 0, 0], [9.5, 1, 0], [9, 0.5, 1]]),
    np.array([[4.0, 0, 0], [7.9, 0.6, 0], [-11.7, 3.1, 0.8]]),
    np.array([[3.0, 0.1, 0.2], [0.0, 12.0, 0.0], [2.9, 11.5, 0.4]]),
]


def _best_image(d, lattice, window):
    """Shortest d + n . lattice over integer n in `window` (a list of ranges, one per row)."""
    shifts = np.array(list(itertools.product(*window)), dtype=float)
    t = shifts @ lattice
    v = d[:, None, :] + t[None, :, :]
    k = np.einsum("ijk,ijk->ij", v, v).argmin(axis=1)
    return v[np.arange(len(d)), k]


def brute_minimum_image(cell, pbc, d, base=6):
    """Exact shortest periodic images of the rows of d, by brute force.

    Stage 1 searches n in -base..base; stage 2 searches around the stage-1 result w with a radius
    that provably contains the optimum: any better image w + n.P has |n.P| <= 2|w|, and the
    coefficients of a lattice vector x are x . pinv(P), so |n_a| <= 2|w| |pinv(P)[:, a]|.
    """
    d = np.atleast_2d(np.asarray(d, dtype=float))
    p = np.asarray(cell, dtype=float)[list(pbc)]
    if len(p) == 0:
        return d.copy()
    w = _best_image(d, p, [range(-base, base + 1)] * len(p))
    q = np.linalg.pinv(p)  # (3, k): coefficients of in-span vectors
    out = np.empty_like(w)
    for k in range(len(w)):
        wlen = np.linalg.norm(w[k])
        radius = [int(np.ceil(2 * wlen * np.linalg.norm(q[:, a]))) + 1 for a in range(len(p))]
        out[k] = _best_image(w[k : k + 1], p, [range(-r, r + 1) for r in radius])[0]
    return out


def assert_same_image(box, cell, pbc, d):
    got = box.minimum_image(d)
    ref = brute_minimum_image(cell, pbc, d)
    assert got.shape == d.shape
    # same length (the shortest) and got - d is a lattice vector of the periodic directions
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), np.linalg.norm(ref, axis=1), rtol=0, atol=1e-9)
    p = np.asarray(cell, dtype=float)[list(pbc)]
    coef = (got - d) @ np.linalg.pinv(p)
    np.testing.assert_allclose(coef, np.round(coef), atol=1e-8)
    np.testing.assert_allclose((got - d), np.round(coef) @ p, atol=1e-8)  # no component off the lattice
    # for random d the shortest image is unique
    np.testing.assert_allclose(got, ref, atol=1e-9)


def random_cell(rng, skew=1.0):
    cell = np.diag(rng.uniform(3.0, 9.0, 3)) + skew * rng.normal(size=(3, 3)) * 2.0
    assert abs(np.linalg.det(cell)) > 1.0
    return cell


@pytest.mark.parametrize("seed", range(6))
def test_minimum_image_random_triclinic(seed):
    rng = np.random.default_rng(seed)
    cell = random_cell(rng)
    box = pynepcg.Box(cell)
    # displacements of all sizes, many cells away
    d = rng.uniform(-4, 4, (200, 3)) @ cell + rng.normal(size=(200, 3))
    assert_same_image(box, cell, (True, True, True), d)


@pytest.mark.parametrize("cell", SKEWED_CELLS, ids=["sheared-10", "sheared-4", "needle"])
def test_minimum_image_strongly_skewed(cell, rng):
    box = pynepcg.Box(cell)
    d = rng.uniform(-3, 3, (60, 3)) @ cell
    assert_same_image(box, cell, (True, True, True), d)


def test_minimum_image_disguised_cubic_lattice(rng):
    # a unimodular transform of a 5 A cubic cell spans the same lattice: the minimum image is the
    # cubic one, d - 5 round(d / 5)
    u = np.array([[1, 0, 0], [3, 1, 0], [-2, 4, 1]])
    assert round(np.linalg.det(u)) == 1
    cell = u @ (5.0 * np.eye(3))
    box = pynepcg.Box(cell)
    d = rng.uniform(-40, 40, (300, 3))
    expected = d - 5.0 * np.round(d / 5.0)
    np.testing.assert_allclose(box.minimum_image(d), expected, atol=1e-9)


@pytest.mark.parametrize(
    "pbc", [(True, False, False), (False, True, False), (True, True, False), (True, False, True), (False, True, True)]
)
def test_minimum_image_mixed_pbc_tilted_vectors(pbc, rng):
    # non-periodic directions have tilted (non-orthogonal) vectors: they must not be used
    cell = np.array([[6.0, 0.0, 0.0], [2.5, 5.0, 1.5], [-1.5, 2.0, 7.0]])
    box = pynepcg.Box(cell, pbc=pbc)
    assert box.pbc == list(pbc)
    d = rng.uniform(-20, 20, (200, 3))
    assert_same_image(box, cell, pbc, d)


@pytest.mark.parametrize("pbc", [(True, True, False), (True, False, False), (False, True, True)])
def test_minimum_image_zero_nonperiodic_vectors(pbc, rng):
    cell = np.array([[6.0, 0.5, 0.0], [2.5, 5.0, 0.3], [-1.5, 2.0, 7.0]])
    for a in range(3):
        if not pbc[a]:
            cell[a] = 0.0
    box = pynepcg.Box(cell, pbc=pbc)
    np.testing.assert_array_equal(box.cell, cell)
    assert box.volume == 0.0
    d = rng.uniform(-20, 20, (200, 3))
    assert_same_image(box, cell, pbc, d)


def test_minimum_image_non_periodic_is_identity(rng):
    d = rng.uniform(-50, 50, (20, 3))
    for box in (pynepcg.Box(), pynepcg.Box([5.0, 5.0, 5.0], pbc=False)):
        np.testing.assert_array_equal(box.minimum_image(d), d)


def test_minimum_image_of_lattice_vectors_is_zero():
    cell = SKEWED_CELLS[0]
    box = pynepcg.Box(cell)
    n = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [3, -7, 2], [-5, 11, 13]])
    np.testing.assert_allclose(box.minimum_image(n @ cell), 0.0, atol=1e-9)


# ------------------------------------------------------------------ volume, thickness, fractional


@pytest.mark.parametrize("seed", range(3))
def test_volume_and_thickness(seed):
    rng = np.random.default_rng(100 + seed)
    cell = random_cell(rng)
    box = pynepcg.Box(cell)
    a, b, c = cell
    v = abs(np.linalg.det(cell))
    assert box.volume == pytest.approx(v, rel=1e-12)
    expected = [v / np.linalg.norm(np.cross(b, c)), v / np.linalg.norm(np.cross(c, a)), v / np.linalg.norm(np.cross(a, b))]
    np.testing.assert_allclose(box.thickness, expected, rtol=1e-12)
    # thickness = distance between opposite faces = 1 / |row of the inverse transpose|
    np.testing.assert_allclose(box.thickness, 1.0 / np.linalg.norm(np.linalg.inv(cell), axis=0), rtol=1e-12)


def test_volume_orthorhombic_lengths_and_left_handed_cell():
    assert pynepcg.Box([2.0, 3.0, 4.0]).volume == pytest.approx(24.0)
    np.testing.assert_allclose(pynepcg.Box([2.0, 3.0, 4.0]).thickness, [2.0, 3.0, 4.0])
    left = np.array([[0.0, 3.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 4.0]])  # det < 0
    assert pynepcg.Box(left).volume == pytest.approx(24.0)


def test_thickness_slab_with_zero_vector():
    # a 2-D periodic slab without a c vector: in-plane heights are those of the 2-D lattice
    a, b = np.array([5.0, 0.0, 0.0]), np.array([2.0, 4.0, 0.0])
    box = pynepcg.Box([a, b, [0, 0, 0]], pbc=(True, True, False))
    area = np.linalg.norm(np.cross(a, b))
    np.testing.assert_allclose(box.thickness[:2], [area / np.linalg.norm(b), area / np.linalg.norm(a)], rtol=1e-12)


def test_fractional_cartesian(rng):
    cell = random_cell(rng)
    box = pynepcg.Box(cell)
    r = rng.uniform(-30, 30, (50, 3))
    s = box.to_fractional(r)
    np.testing.assert_allclose(s, np.linalg.solve(cell.T, r.T).T, atol=1e-12)
    np.testing.assert_allclose(box.to_cartesian(s), r, atol=1e-10)
    np.testing.assert_allclose(box.to_cartesian(np.eye(3)), cell, atol=1e-14)


# ------------------------------------------------------------------ wrap


@pytest.mark.parametrize(
    "pbc", [(True, True, True), (True, True, False), (True, False, False), (False, True, False), (False, False, False)]
)
def test_wrap(pbc, rng):
    cell = np.array([[7.0, 0.0, 0.0], [-3.0, 6.0, 0.0], [2.0, -1.5, 5.0]])
    box = pynepcg.Box(cell, pbc=pbc)
    r = rng.uniform(-5, 5, (300, 3)) @ cell
    # points exactly on faces and lattice points
    r[:3] = cell
    r[3] = -cell[0] - 2 * cell[2]
    w = box.wrap(r)
    assert w.shape == r.shape
    s0 = np.linalg.solve(cell.T, r.T).T
    s1 = np.linalg.solve(cell.T, w.T).T
    for a in range(3):
        if pbc[a]:
            assert np.all(s1[:, a] >= -1e-12) and np.all(s1[:, a] < 1 + 1e-12)
        else:
            np.testing.assert_allclose(s1[:, a], s0[:, a], atol=1e-10)
    # the same point modulo periodic lattice vectors
    n = s0 - s1
    np.testing.assert_allclose(n, np.round(n), atol=1e-9)
    np.testing.assert_allclose(w, r - np.round(n) @ cell, atol=1e-9)
    assert np.all(np.round(n)[:, ~np.array(pbc)] == 0)
    if all(pbc):  # lattice points map to the origin
        np.testing.assert_allclose(w[:4], 0.0, atol=1e-9)


def test_wrap_leaves_input_unchanged(rng):
    box = pynepcg.Box([4.0, 4.0, 4.0])
    r = rng.uniform(-10, 10, (10, 3))
    r0 = r.copy()
    w = box.wrap(r)
    np.testing.assert_array_equal(r, r0)
    assert np.all((w >= 0) & (w < 4.0))


# ------------------------------------------------------------------ construction and errors


def test_defaults():
    b = pynepcg.Box()
    assert b.pbc == [False, False, False]
    np.testing.assert_array_equal(b.cell, np.zeros((3, 3)))
    assert b.volume == 0.0
    b = pynepcg.Box([3.0, 4.0, 5.0])
    assert b.pbc == [True, True, True]
    np.testing.assert_array_equal(b.cell, np.diag([3.0, 4.0, 5.0]))
    assert pynepcg.Box([3.0, 4.0, 5.0], pbc=False).pbc == [False, False, False]
    assert pynepcg.Box(np.eye(3).tolist(), pbc=[True, False, True]).pbc == [True, False, True]


@pytest.mark.parametrize(
    "cell, pbc",
    [
        ([[5, 0, 0], [0, 0, 0], [0, 0, 5]], True),  # periodic zero vector
        ([[5, 0, 0], [0, 5, 0], [0, 0, 0]], (False, False, True)),
        ([[5, 0, 0], [0, 5, 0], [5, 5, 0]], True),  # linearly dependent
        ([[5, 0, 0], [10, 0, 0], [0, 0, 5]], True),  # parallel
        ([[5, 0, 0], [0, 5, 0], [2, 3, 1e-13]], True),  # numerically flat
        ([[np.nan, 0, 0], [0, 5, 0], [0, 0, 5]], True),
        ([[5, 0, 0], [0, np.inf, 0], [0, 0, 5]], True),
        ([[5, 0, 0], [0, 5, 0], [0, 0, np.nan]], (True, True, False)),  # NaN even in a non-periodic vector
        ([5, 5], True),  # neither 3 lengths nor 3x3
        ([[5, 0, 0], [0, 5, 0]], True),
    ],
)
def test_box_errors(cell, pbc):
    with pytest.raises(ValueError):
        pynepcg.Box(cell, pbc=pbc)


@pytest.mark.parametrize("pbc", [(True, False), (True, True, True, True)])
def test_box_bad_pbc(pbc):
    with pytest.raises(ValueError):
        pynepcg.Box([5.0, 5.0, 5.0], pbc=pbc)


def test_box_errors_are_input_errors():
    with pytest.raises(pynepcg.InputError, match="zero"):
        pynepcg.Box([[5, 0, 0], [0, 0, 0], [0, 0, 5]])


def test_bad_vector_shapes():
    box = pynepcg.Box([5.0, 5.0, 5.0])
    with pytest.raises(ValueError):
        box.minimum_image(np.zeros((4, 2)))
    with pytest.raises(ValueError):
        box.wrap(np.zeros((2, 3, 3)))


@pytest.mark.parametrize("pbc", ["TTT", [1, 2, 0], [True, True], 5.0, [None, True, True]])
def test_bad_pbc_is_an_input_error_naming_it(pbc):
    """(A string or other non-bools gave RuntimeError: std::bad_cast.)"""
    with pytest.raises(pynepcg.InputError, match="pbc: expected a bool or 3 bools; got"):
        pynepcg.System(["Si"], [[0, 0, 0]], np.eye(3) * 5, pbc=pbc)


def test_pbc_accepts_numpy_bools_and_zero_one():
    for pbc in (np.array([True, False, True]), [1, 0, 1], (np.int64(1), False, np.True_)):
        assert list(pynepcg.System(["Si"], [[0, 0, 0]], np.eye(3) * 5, pbc=pbc).pbc) == [True, False, True]
