"""Structure I/O: extended XYZ (our C++ reader/writer), CIF and PDB (gemmi), errors.

References: exact values we put in, ASE's readers (ase.io.read), numpy on the raw file text.
"""
import inspect
import io as _io
import math
import re

import ase
import ase.build
import ase.data
import ase.io
import ase.units
import numpy as np
import pytest

import pynepcg
from pynepcg import io

REF_FILES = [
    "nep-models/C64_strained_displaced.xyz",
    "nep-models/C64_strained_displaced_ref.xyz",
    "nep-models/Si64_displaced.xyz",
    "nep-models/Si64_displaced_ref.xyz",
    "nep-models/Si64_perfect.xyz",
    "nep-models/Si64_perfect_ref.xyz",
    "c60/qHP_C60_rect_cell_120atoms.xyz",
    "nep-train-pbte/train.xyz",
]
C60 = "c60/qHP_C60_rect_cell_120atoms.xyz"
TRAIN = "nep-train-pbte/train.xyz"


# ------------------------------------------------------------------ helpers


def full_precision(rng, shape):
    """Random doubles over many decades, with all 17 significant digits used."""
    x = rng.normal(size=shape) * 10.0 ** rng.uniform(-6, 4, size=shape)
    return x


def make_frame(rng, n, with_cell=True):
    names = rng.choice(["W", "SC1", "Na+", "C"], size=n)
    names[:4] = ["W", "SC1", "Na+", "C"][: min(n, 4)]
    bead_mass = {"W": 72.0, "SC1": 54.123456789, "Na+": 22.98976928 + 1e-9, "C": 12.011}
    masses = np.array([bead_mass[x] for x in names]) * (1 + 1e-12 * rng.normal(size=n))
    cell = np.diag(rng.uniform(5, 20, 3)) + rng.normal(size=(3, 3)) if with_cell else None
    s = pynepcg.System(
        list(names),
        full_precision(rng, (n, 3)),
        cell=cell,
        pbc=[True, False, True] if with_cell else None,
        masses=masses,
        velocities=full_precision(rng, (n, 3)),
    )
    s.groups = [list(rng.integers(0, 3, n)), list(rng.integers(-5, 100, n))]
    s.info["energy"] = float(full_precision(rng, ()))
    s.info["virial"] = full_precision(rng, 9)
    s.info["weight"] = 0.25
    s.info["step"] = int(rng.integers(-(10**12), 10**12))
    s.info["steps"] = rng.integers(-100, 100, 4)
    s.info["converged"] = True
    s.info["failed"] = False
    s.info["flags"] = np.array([True, False, True])
    s.info["config_type"] = "bulk water at 300 K"
    s.info["note"] = 'said "hi" = a, b; {x} [y]'
    s.info["tiny"] = 5e-324
    s.info["huge"] = -1.7976931348623157e308
    s.arrays["forces"] = full_precision(rng, (n, 3))
    s.arrays["energies"] = full_precision(rng, n)
    s.arrays["charge_state"] = rng.integers(-3, 4, n)
    s.arrays["pair"] = rng.integers(0, 10**9, (n, 2))
    s.arrays["residue_name"] = np.array(rng.choice(["SOL", "NA", "CL"], size=n))
    s.arrays["fixed"] = rng.integers(0, 2, n).astype(bool)
    return s


def info_equal(a, b):
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype.kind == b.dtype.kind and np.array_equal(a, b)
    return type(a) is type(b) and (a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)))


def assert_same_system(a, b):
    assert len(a) == len(b)
    assert a.species == b.species
    assert a.type_names == b.type_names
    np.testing.assert_array_equal(a.positions, b.positions)
    np.testing.assert_array_equal(a.masses, b.masses)
    np.testing.assert_array_equal(a.cell, b.cell)
    assert a.pbc == b.pbc
    if a.velocities is None:
        assert b.velocities is None
    else:
        np.testing.assert_array_equal(a.velocities, b.velocities)
    assert a.groups == b.groups
    assert list(a.info) == list(b.info)
    for k in a.info:
        assert info_equal(a.info[k], b.info[k]), (k, a.info[k], b.info[k])
    assert list(a.arrays) == list(b.arrays)
    for k in a.arrays:
        x, y = a.arrays[k], b.arrays[k]
        assert x.dtype.kind == y.dtype.kind, k
        assert x.shape == y.shape, k
        np.testing.assert_array_equal(x, y)


def ase_forces(atoms):
    if atoms.calc is not None and "forces" in atoms.calc.results:
        return atoms.calc.results["forces"]
    for name in ("forces", "force"):
        if name in atoms.arrays:
            return atoms.arrays[name]
    return None


def header_values(path, frame, key):
    """The numbers of `key="..."` on the comment line of a frame, parsed with plain Python."""
    with open(path) as f:
        lines = f.read().splitlines()
    k = 0
    for _ in range(frame):
        k += int(lines[k]) + 2
    m = re.search(r'(?:^|\s)' + key + r'=(?:"([^"]*)"|(\S+))', lines[k + 1], flags=re.IGNORECASE)
    return np.array((m.group(1) or m.group(2)).split(), dtype=float)


# ------------------------------------------------------------------ exact round trip


def test_round_trip_exact_multiframe(tmp_path):
    rng = np.random.default_rng(7)
    frames = [make_frame(rng, 9), make_frame(rng, 1), make_frame(rng, 23, with_cell=False)]
    path = tmp_path / "frames.xyz"
    io.write(path, frames)
    back = io.read(path, index=":")
    assert len(back) == 3
    for a, b in zip(frames, back):
        assert_same_system(a, b)
    # through text as well
    again = io.parse(io.format(frames))
    for a, b in zip(frames, again):
        assert_same_system(a, b)
    # writing what was read gives the same bytes
    path2 = tmp_path / "again.xyz"
    io.write(path2, back)
    assert path2.read_bytes() == path.read_bytes()


def test_round_trip_append(tmp_path):
    rng = np.random.default_rng(8)
    frames = [make_frame(rng, 5), make_frame(rng, 7)]
    path = tmp_path / "a.xyz"
    io.write(path, frames[0])
    io.write(path, [frames[1]], append=True)
    back = io.read(path, ":")
    assert len(back) == 2
    assert_same_system(frames[0], back[0])
    assert_same_system(frames[1], back[1])
    io.write(path, frames[1])  # no append: overwrite
    assert len(io.read(path, ":")) == 1


def test_round_trip_values_near_precision_limits(tmp_path):
    rng = np.random.default_rng(9)
    x = np.array(
        [[0.1, 0.2, 0.30000000000000004], [1 / 3, 2 / 3, -1e-300], [123456789.12345679, -0.0, 5e-324]]
        + list(rng.uniform(-1, 1, (20, 3)) * 1e-7)
    )
    x = np.vstack([x, np.nextafter(x, np.inf)])
    s = pynepcg.System(["Si"] * len(x), x, cell=[[1e-3 + 1e-17, 0, 0], [0, 1.1, 0], [0, 0, 1e5 / 3]])
    back = io.parse(io.format(s))[0]
    np.testing.assert_array_equal(back.positions, x)
    np.testing.assert_array_equal(np.signbit(back.positions), np.signbit(x))
    np.testing.assert_array_equal(back.cell, s.cell)


@pytest.mark.parametrize("value", [2.0, -0.0, 1e20, [1.0, 2.0, 3.0]], ids=["2.0", "-0.0", "1e20", "float-array"])
def test_round_trip_keeps_float_info_type(value):
    # integral floats must come back as floats (energy=-200.0 is a float, not an int)
    s = pynepcg.System(["C"], [[0.0, 0.0, 0.0]])
    s.info["x"] = value
    back = io.parse(io.format(s))[0].info["x"]
    expected = s.info["x"]
    assert info_equal(expected, back), (expected, back)
    if isinstance(expected, float):
        assert math.copysign(1.0, back) == math.copysign(1.0, expected)


def _tricky_system(case):
    s = pynepcg.System(["C", "O"], [[0.0, 0.0, 0.0], [1.0, 1.5, 2.0]], cell=[6.0, 6.0, 6.0])
    if case == "info-newline":
        s.info["note"] = "first line\nsecond line"
    elif case == "info-carriage-return":
        s.info["note"] = "a\rb"
    elif case == "species-with-blank":
        s = pynepcg.System(["W 1", "C"], [[0, 0, 0], [1, 1, 1]], masses=[72.0, 12.0])
    elif case == "empty-species":
        s = pynepcg.System(["", "C"], [[0, 0, 0], [1, 1, 1]], masses=[72.0, 12.0])
    elif case == "array-named-z":
        s.arrays["z"] = np.array([3, 4])
    elif case == "array-named-mass":
        s.arrays["mass"] = np.array([1.0, 2.0])
    elif case == "array-named-vel":
        s.arrays["vel"] = np.ones((2, 3))
    return s


@pytest.mark.parametrize(
    "case",
    ["info-newline", "info-carriage-return", "species-with-blank", "empty-species", "array-named-z",
     "array-named-mass", "array-named-vel"],
)
def test_written_text_reads_back_or_is_refused(case):
    # what the writer produces must read back to the same system; refusing (ValueError) when the
    # data cannot be represented is fine, silently writing a broken or different file is not
    try:
        s = _tricky_system(case)
        text = io.format(s)
    except ValueError:
        return
    assert_same_system(s, io.parse(text, "written.xyz")[0])


def test_default_element_masses_not_written():
    s = pynepcg.System(["Si", "C"], [[0, 0, 0], [1, 1, 1]], cell=[5, 5, 5])
    text = io.format(s)
    assert ":mass:" not in text.splitlines()[1]
    back = io.parse(text)[0]
    np.testing.assert_allclose(back.masses, [ase.data.atomic_masses[14], ase.data.atomic_masses[6]], rtol=1e-4)
    # a bead named like an element ('W' = tungsten) with a coarse-grained mass keeps its mass
    w = pynepcg.System(["W", "W"], [[0, 0, 0], [1, 1, 1]], masses=[72.0, 72.0])
    np.testing.assert_array_equal(io.parse(io.format(w))[0].masses, [72.0, 72.0])


# ------------------------------------------------------------------ reading: reference files vs ASE


@pytest.mark.parametrize("name", REF_FILES, ids=[n.split("/")[-1] for n in REF_FILES])
def test_matches_ase(name, shared_data):
    path = shared_data(name)
    ours = io.read(path, index=":")
    theirs = ase.io.read(path, index=":")
    assert len(ours) == len(theirs) >= 1
    for s, a in zip(ours, theirs):
        assert len(s) == len(a)
        assert s.species == a.get_chemical_symbols()
        np.testing.assert_array_equal(s.positions, a.positions)
        np.testing.assert_array_equal(s.cell, a.cell[:])
        assert s.pbc == [bool(p) for p in a.pbc]
        np.testing.assert_allclose(s.masses, a.get_masses(), rtol=1e-12)
        if a.calc is not None and "energy" in a.calc.results:
            assert s.info["energy"] == a.calc.results["energy"]
        f = ase_forces(a)
        if f is not None:
            np.testing.assert_array_equal(s.arrays["forces"], f)
        else:
            assert "forces" not in s.arrays


def test_default_index_is_last_frame_and_slices(shared_data):
    path = shared_data(TRAIN)
    theirs = ase.io.read(path, index=":")
    assert len(theirs) == 25
    last = io.read(path)
    assert isinstance(last, pynepcg.System)
    np.testing.assert_array_equal(last.positions, theirs[-1].positions)
    np.testing.assert_array_equal(io.read(path, index=3).positions, theirs[3].positions)
    sub = io.read(path, index=slice(2, 10, 3))
    assert [len(s) for s in sub] == [len(a) for a in theirs[2:10:3]]
    for s, a in zip(sub, theirs[2:10:3]):
        np.testing.assert_array_equal(s.positions, a.positions)
        assert s.info["energy"] == a.calc.results["energy"]
        assert s.info["config_type"] == a.info["config_type"]


def test_virial_becomes_ase_stress(shared_data):
    path = shared_data("nep-models/C64_strained_displaced_ref.xyz")
    s = io.read(path)
    virial = header_values(path, 0, "virial").reshape(3, 3)
    lattice = header_values(path, 0, "Lattice").reshape(3, 3)
    np.testing.assert_array_equal(s.info["virial"], virial.ravel())
    volume = abs(np.linalg.det(lattice))
    expected = -virial / volume  # ASE stress (positive = tensile), eV/A^3
    a = s.to_ase()
    voigt = [expected[0, 0], expected[1, 1], expected[2, 2], expected[1, 2], expected[0, 2], expected[0, 1]]
    np.testing.assert_allclose(a.get_stress(), voigt, rtol=1e-12)
    assert a.get_potential_energy() == header_values(path, 0, "energy")[0]
    np.testing.assert_array_equal(a.get_forces(), s.arrays["forces"])


def test_stress_9_values_like_ase():
    text = (
        "2\n"
        'Lattice="5 0 0 0.5 6 0 0 0.2 7" Properties=species:S:1:pos:R:3 energy=-1.25 '
        'stress="0.01 0.06 0.05 0.06 0.02 0.04 0.05 0.04 0.03" pbc="T T T"\n'
        "C 0 0 0\nC 1 1 1\n"
    )
    ours = io.parse(text)[0].to_ase()
    theirs = ase.io.read(_io.StringIO(text), format="extxyz")
    np.testing.assert_allclose(ours.get_stress(), theirs.get_stress(), rtol=1e-14)
    np.testing.assert_allclose(ours.get_stress(), [0.01, 0.02, 0.03, 0.04, 0.05, 0.06], rtol=1e-14)
    # the same state given as a virial: W = -stress * V
    v = 5 * 6 * 7
    w = -v * np.array([0.01, 0.06, 0.05, 0.06, 0.02, 0.04, 0.05, 0.04, 0.03])
    text_w = text.replace('stress="0.01 0.06 0.05 0.06 0.02 0.04 0.05 0.04 0.03"', 'virial="%s"' % " ".join(repr(float(x)) for x in w))
    np.testing.assert_allclose(io.parse(text_w)[0].to_ase().get_stress(), ours.get_stress(), rtol=1e-12)


def test_stress_6_values_voigt():
    text = '1\nLattice="5 0 0 0 6 0 0 0 7" Properties=species:S:1:pos:R:3 stress="1 2 3 4 5 6" energy=0.5\nC 0 0 0\n'
    s = io.parse(text)[0]
    np.testing.assert_array_equal(s.info["stress"], [1, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(s.to_ase().get_stress(), [1, 2, 3, 4, 5, 6])  # xx yy zz yz xz xy


def test_velocities_in_ase_units():
    v = np.array([[0.01, -0.02, 0.003], [0.0, 0.005, -0.001]])  # A/fs
    s = pynepcg.System(["H", "O"], [[0, 0, 0], [1, 0, 0]], velocities=v)
    a = s.to_ase()
    np.testing.assert_allclose(a.get_velocities() * ase.units.fs, v, rtol=1e-12)
    back = pynepcg.System.from_ase(a)
    np.testing.assert_allclose(back.velocities, v, rtol=1e-12)


def test_ase_conversion_keeps_beads_and_groups():
    s = pynepcg.System(["W", "SC1", "W"], [[0, 0, 0], [1, 2, 3], [3, 2, 1]], cell=[9, 9, 9], masses=[72.0, 54.0, 72.0])
    s.groups = [[0, 1, 0], [5, 5, 6]]
    back = pynepcg.System.from_ase(s.to_ase())
    assert back.species == ["W", "SC1", "W"]
    np.testing.assert_array_equal(back.masses, [72.0, 54.0, 72.0])
    assert back.groups == [[0, 1, 0], [5, 5, 6]]


def test_bead_masses_survive_a_trip_through_ase(tmp_path):
    """Our train.xyz has a GPUMD 'mass' column; ASE reads it as arrays['mass'] and would give the
    bead 'W' tungsten's mass (and refused it as a reserved array name). from_ase takes the column."""
    s = pynepcg.System(["W", "W"], [[0, 0, 0], [2, 0, 0]], cell=[9, 9, 9], masses=[18.015, 18.015])
    s.info["energy"] = -1.0
    s.arrays["forces"] = np.zeros((2, 3))
    io.write(tmp_path / "t.xyz", s)
    a = ase.io.read(tmp_path / "t.xyz")
    assert "mass" in a.arrays
    back = pynepcg.System.from_ase(a)
    np.testing.assert_array_equal(back.masses, [18.015, 18.015])
    assert "mass" not in back.arrays


# ------------------------------------------------------------------ streaming


def test_iread_streams(tmp_path, shared_data):
    path = shared_data(TRAIN)
    it = io.iread(path)
    assert inspect.isgenerator(it)
    frames = list(it)
    ref = io.read(path, ":")
    assert len(frames) == len(ref) == 25
    for a, b in zip(frames, ref):
        assert_same_system(a, b)
    # frames before a broken one are delivered before the error: the file is read lazily
    good = (path.read_text().rstrip("\n") + "\n").splitlines(keepends=True)
    n0 = int(good[0]) + 2
    broken = tmp_path / "broken.xyz"
    broken.write_text("".join(good[: 2 * n0]) + "3\nProperties=species:S:1:pos:R:3\nC 0 0 0\nC 1 1\n")
    got = []
    with pytest.raises(pynepcg.FileFormatError) as e:
        for s in io.iread(broken):
            got.append(s)
    assert len(got) == 2
    assert e.value.lineno == 2 * n0 + 4


# ------------------------------------------------------------------ GPUMD-style inputs


def test_gpumd_model_xyz_lowercase_keys():
    text = (
        "4\n"
        'pbc="T T F" lattice="10 0 0 0 11 0 0.5 0 20" '
        "properties=species:S:1:pos:R:3:mass:R:1:group:I:2:vel:R:3\n"
        "W 0 0 0 72.0 0 1 0.1 0 0\n"
        "SC1 1 0 0 45.5 0 1 0 0.2 0\n"
        "W 0 1 0 72 1 0 0 0 -0.3\n"
        "C 5 5 5 12 1 3 0 0 0\n"
    )
    s = io.parse(text)[0]
    assert s.species == ["W", "SC1", "W", "C"]
    assert s.type_names == ["W", "SC1", "C"]
    np.testing.assert_array_equal(s.types, [0, 1, 0, 2])
    np.testing.assert_array_equal(s.masses, [72.0, 45.5, 72.0, 12.0])
    assert s.groups == [[0, 0, 1, 1], [1, 1, 0, 3]]
    assert s.pbc == [True, True, False]
    np.testing.assert_array_equal(s.cell, [[10, 0, 0], [0, 11, 0], [0.5, 0, 20]])
    np.testing.assert_array_equal(s.velocities, [[0.1, 0, 0], [0, 0.2, 0], [0, 0, -0.3], [0, 0, 0]])
    np.testing.assert_array_equal(s.positions[3], [5, 5, 5])
    assert dict(s.info) == {}
    assert dict(s.arrays) == {}


def test_gpumd_train_xyz_keys_case_insensitive():
    text = (
        "2\n"
        'Energy=-10.5 Virial="1 0 0 0 2 0 0 0 3" Weight=2.5 Config_Type=liquid pbc="T T T" '
        'Lattice="8 0 0 0 8 0 0 0 8" Properties=species:S:1:pos:R:3:force:R:3\n'
        "Te 0 0 0 0.1 0.2 0.3\nPb 1 1 1 -0.1 -0.2 -0.3\n"
    )
    s = io.parse(text)[0]
    assert s.info["energy"] == -10.5
    np.testing.assert_array_equal(s.info["virial"], [1, 0, 0, 0, 2, 0, 0, 0, 3])
    assert s.info["weight"] == 2.5
    assert s.info["config_type"] == "liquid"
    np.testing.assert_array_equal(s.arrays["forces"], [[0.1, 0.2, 0.3], [-0.1, -0.2, -0.3]])
    np.testing.assert_allclose(s.to_ase().get_stress(), -np.array([1, 2, 3, 0, 0, 0]) / 512.0)


def test_c60_file(shared_data):
    path = shared_data(C60)
    s = io.read(path)
    a = ase.io.read(path)
    assert len(s) == 120
    assert s.species == ["C"] * 120
    assert s.pbc == [True, True, False]
    np.testing.assert_allclose(s.cell, np.diag([15.9400447081, 9.1760163897, 30.0]), rtol=0, atol=0)
    assert s.box.volume == pytest.approx(15.9400447081 * 9.1760163897 * 30.0, rel=1e-14)
    np.testing.assert_array_equal(s.positions, a.positions)
    # one grouping method: the C60 index, 60 atoms each
    assert len(s.groups) == 1
    g = np.array(s.groups[0])
    np.testing.assert_array_equal(g, a.arrays["group"])
    assert sorted(np.bincount(g)) == [60, 60]
    # the bead_type column after the blank in Properties is kept (ASE drops it)
    bead = s.arrays["bead_type"]
    assert bead.shape == (120,)
    assert set(bead) == {"A", "B"}
    for label in (0, 1):
        assert len(set(bead[g == label])) == 1  # one bead type per molecule
    assert set(bead[g == 0]) != set(bead[g == 1])
    # raw-file check of a few lines
    lines = path.read_text().splitlines()
    for i in (0, 59, 60, 119):
        cols = lines[2 + i].split()
        assert [cols[4], cols[5]] == [str(g[i]), bead[i]]
        np.testing.assert_array_equal(s.positions[i], np.array(cols[1:4], dtype=float))
    assert "qHP C60" in s.info["comment"]
    # molecules are unwrapped: some atoms lie outside [0, b) in y; reading keeps them as given
    assert (s.positions[:, 1] < 0).any() or (s.positions[:, 1] >= 9.1760163897).any()


# ------------------------------------------------------------------ CIF and PDB (gemmi)


def _same_sites_modulo_lattice(pos_a, pos_b, cell, tol):
    f = (pos_a[:, None, :] - pos_b[None, :, :]) @ np.linalg.inv(cell)
    f -= np.round(f)
    d = np.linalg.norm(f @ cell, axis=2)
    return d.min(axis=1).max() < tol and d.min(axis=0).max() < tol


@pytest.mark.parametrize(
    "atoms",
    [
        ase.build.bulk("Cu", "fcc", a=3.61),
        ase.build.bulk("NaCl", "rocksalt", a=5.64, cubic=True),
        ase.build.bulk("Cu", "fcc", a=3.61, orthorhombic=True),
        ase.build.bulk("Mg", "hcp", a=3.21, c=5.21),
    ],
    ids=["Cu-primitive", "NaCl-cubic", "Cu-orthorhombic", "Mg-hcp"],
)
def test_cif_written_by_ase(atoms, tmp_path):
    path = tmp_path / "crystal.cif"
    ase.io.write(path, atoms, format="cif")
    ref = ase.io.read(path)
    s = io.read(path)
    assert len(s) == len(ref) == len(atoms)
    assert sorted(s.species) == sorted(ref.get_chemical_symbols())
    assert s.pbc == [True, True, True]
    np.testing.assert_allclose(s.cell, ref.cell[:], atol=1e-8)
    assert s.box.volume == pytest.approx(atoms.get_volume(), rel=1e-8)
    assert _same_sites_modulo_lattice(s.positions, ref.positions, ref.cell[:], 1e-6)
    # and element by element
    for el in set(s.species):
        mine = s.positions[np.array(s.species) == el]
        theirs = ref.positions[np.array(ref.get_chemical_symbols()) == el]
        assert _same_sites_modulo_lattice(mine, theirs, ref.cell[:], 1e-6)


NACL_FM3M_CIF = """data_NaCl
_cell_length_a 5.64
_cell_length_b 5.64
_cell_length_c 5.64
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'F m -3 m'
_symmetry_Int_Tables_number 225
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Na1 Na 0 0 0
Cl1 Cl 0.5 0.5 0.5
"""


def test_cif_symmetry_expansion(tmp_path):
    path = tmp_path / "nacl.cif"
    path.write_text(NACL_FM3M_CIF)
    ref = ase.io.read(path)
    s = io.read(path)
    assert len(s) == len(ref) == 8
    assert sorted(s.species) == ["Cl"] * 4 + ["Na"] * 4
    np.testing.assert_allclose(s.cell, 5.64 * np.eye(3), atol=1e-10)
    assert _same_sites_modulo_lattice(s.positions, ref.positions, ref.cell[:], 1e-8)


def test_pdb_water_box(tmp_path):
    rng = np.random.default_rng(3)
    water = ase.build.molecule("H2O")
    atoms = ase.Atoms(cell=[9.1, 9.2, 9.3], pbc=True)
    for _ in range(8):
        m = water.copy()
        m.positions += rng.uniform(1, 8, 3)
        atoms += m
    atoms.arrays["residuenumbers"] = np.repeat(np.arange(1, 9), 3)
    atoms.arrays["residuenames"] = np.array(["HOH"] * 24)
    path = tmp_path / "water.pdb"
    ase.io.write(path, atoms, format="proteindatabank")
    s = io.read(path)
    assert s.species == ["O", "H", "H"] * 8
    np.testing.assert_allclose(s.positions, atoms.positions, atol=1e-3 / 2 + 1e-9)
    np.testing.assert_allclose(s.cell, np.diag([9.1, 9.2, 9.3]), atol=1e-6)
    assert s.pbc == [True, True, True]
    np.testing.assert_array_equal(s.arrays["residue"], np.repeat(np.arange(8), 3))
    ref = ase.io.read(path)
    np.testing.assert_allclose(s.positions, ref.positions, atol=1e-9)


# ------------------------------------------------------------------ errors with file and line

HEADER = 'Lattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3'
GOOD = f"2\n{HEADER}\nC 0 0 0\nC 1 1 1\n"  # a valid first frame: 4 lines

ERROR_CASES = {
    # name: (second frame text, line within the second frame (1-based), words of the reason)
    "column-count": (f"2\n{HEADER}\nC 0 0 0\nC 1 1\n", 4, ["column", "4", "3"]),
    "extra-column": (f"2\n{HEADER}\nC 0 0 0 7\nC 1 1 1\n", 3, ["column", "4", "5"]),
    "non-numeric": (f"2\n{HEADER}\nC 0 0 0\nC 1 x 1\n", 4, ["'x'", "number"]),
    "nan-position": (f"2\n{HEADER}\nC 0 0 0\nC nan 1 1\n", 4, ["finite"]),
    "inf-position": (f"2\n{HEADER}\nC 0 0 0\nC 1 -inf 1\n", 4, ["finite"]),
    "no-lattice": ('1\npbc="T T T" Properties=species:S:1:pos:R:3\nC 0 0 0\n', 2, ["Lattice"]),
    "unknown-species": (f"3\n{HEADER}\nC 0 0 0\nBead 1 1 1\nBead 2 2 2\n", 4, ["Bead", "mass"]),
    "truncated": (f"3\n{HEADER}\nC 0 0 0\nC 1 1 1\n", 5, ["ends", "3"]),
    "bad-count": ("two\nProperties=species:S:1:pos:R:3\n", 1, ["number of atoms", "two"]),
    "negative-count": ("-2\nProperties=species:S:1:pos:R:3\n", 1, ["number of atoms"]),
    "no-pos": ('1\nLattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:force:R:3\nC 0 0 0\n', 2, ["pos"]),
    "no-species": ('1\nProperties=pos:R:3\n0 0 0\n', 2, ["species"]),
    "bad-properties-type": ('1\nProperties=species:S:1:pos:X:3\nC 0 0 0\n', 2, ["pos"]),
    "lattice-8-values": ('1\nLattice="5 0 0 0 5 0 0 0" Properties=species:S:1:pos:R:3\nC 0 0 0\n', 2, ["Lattice", "9"]),
    "singular-lattice": ('1\nLattice="5 0 0 10 0 0 0 0 5" Properties=species:S:1:pos:R:3\nC 0 0 0\n', 2, ["dependent"]),
    "bad-pbc": ('1\nLattice="5 0 0 0 5 0 0 0 5" pbc="T X T" Properties=species:S:1:pos:R:3\nC 0 0 0\n', 2, ["pbc"]),
    "unclosed-quote": ('1\nLattice="5 0 0 0 5 0 0 0 5 Properties=species:S:1:pos:R:3\nC 0 0 0\n', 2, ["Lattice"]),
    "non-integer-group": ('1\nProperties=species:S:1:pos:R:3:group:I:1\nC 0 0 0 1.5\n', 3, ["group", "1.5"]),
    "zero-mass": ('1\nProperties=species:S:1:pos:R:3:mass:R:1\nC 0 0 0 0\n', 3, ["mass"]),
    "comment-line-missing": ("1\n", 1, ["comment"]),
}


@pytest.mark.parametrize("case", list(ERROR_CASES), ids=list(ERROR_CASES))
def test_errors_name_file_and_line(case, tmp_path):
    frame, line, words = ERROR_CASES[case]
    path = tmp_path / "bad input.xyz"
    path.write_text(GOOD + frame)
    expected_line = 4 + line
    with pytest.raises(pynepcg.FileFormatError) as e:
        io.read(path, index=":")
    err = e.value
    assert isinstance(err, ValueError)
    assert err.filename == str(path)
    assert err.lineno == expected_line
    message = str(err)
    assert message.startswith(f"{path}:{expected_line}: ")
    for w in words:
        assert w.lower() in err.reason.lower(), (w, err.reason)
        assert w.lower() in message.lower()
    # the same through parse() with a name, and through the streaming reader
    with pytest.raises(pynepcg.FileFormatError) as e2:
        io.parse(GOOD + frame, "mem.xyz")
    assert (e2.value.filename, e2.value.lineno, e2.value.reason) == ("mem.xyz", expected_line, err.reason)
    with pytest.raises(pynepcg.FileFormatError) as e3:
        list(io.iread(path))
    assert e3.value.lineno == expected_line


@pytest.mark.parametrize(
    "row, props",
    [
        ("C 0 0 0 nan 0 0", "vel:R:3"),
        ("C 0 0 0 0 inf 0", "vel:R:3"),
        ("C 0 0 0 inf", "mass:R:1"),
    ],
    ids=["nan-velocity", "inf-velocity", "inf-mass"],
)
def test_non_finite_values_rejected(row, props):
    # the reader must not produce a System that fails System.validate()
    text = f"1\nProperties=species:S:1:pos:R:3:{props}\n{row}\n"
    with pytest.raises(pynepcg.FileFormatError) as e:
        io.parse(text, "v.xyz")
    assert e.value.lineno == 3


def test_missing_file_is_oserror(tmp_path):
    with pytest.raises(OSError):
        io.read(tmp_path / "nope.xyz")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.xyz"
    path.write_text("\n\n")
    assert io.read(path, ":") == []
    with pytest.raises(ValueError):
        io.read(path)


def test_read_bad_index(tmp_path):
    path = tmp_path / "one.xyz"
    path.write_text(GOOD)
    with pytest.raises(ValueError):
        io.read(path, index="::2")


# ------------------------------------------------------------------ System: finite positions, views


def test_setting_nan_positions_raises():
    s = pynepcg.System(["C", "C"], [[0, 0, 0], [1, 1, 1]], cell=[5, 5, 5])
    for bad in (np.nan, np.inf, -np.inf):
        x = np.zeros((2, 3))
        x[1, 2] = bad
        with pytest.raises(ValueError):
            s.positions = x
        np.testing.assert_array_equal(s.positions, [[0, 0, 0], [1, 1, 1]])  # unchanged
    with pytest.raises(ValueError):
        pynepcg.System(["C"], [[np.nan, 0, 0]])
    with pytest.raises(ValueError):
        s.positions = np.zeros((3, 3))  # the atom count cannot change


def test_setting_nan_velocities_raises():
    s = pynepcg.System(["C", "C"], [[0, 0, 0], [1, 1, 1]])
    with pytest.raises(ValueError):
        s.velocities = [[0, 0, 0], [np.nan, 0, 0]]
    with pytest.raises(ValueError):
        pynepcg.System(["C"], [[0, 0, 0]], velocities=[[np.nan, 0, 0]])


def test_views_stay_valid_after_setters():
    # positions/velocities are views of the C++ storage; setting copies into it, so a view taken
    # before the assignment sees the new values (and never dangling memory)
    s = pynepcg.System(["C"] * 4, np.zeros((4, 3)), velocities=np.zeros((4, 3)))
    pos_view, vel_view = s.positions, s.velocities
    new = np.arange(12.0).reshape(4, 3)
    s.positions = new
    s.velocities = -new
    _ = [np.random.rand(4, 3) for _ in range(100)]  # churn the allocator
    np.testing.assert_array_equal(pos_view, new)
    np.testing.assert_array_equal(vel_view, -new)
    np.testing.assert_array_equal(s.positions, new)


def test_views_are_live():
    s = pynepcg.System(["C", "O"], [[0, 0, 0], [1, 1, 1]])
    s.positions[1] = [2.0, 3.0, 4.0]
    assert io.parse(io.format(s))[0].positions.tolist() == [[0, 0, 0], [2, 3, 4]]
    s.arrays["forces"] = np.zeros((2, 3))
    s.arrays["forces"][0, 1] = 7.5
    assert io.parse(io.format(s))[0].arrays["forces"][0, 1] == 7.5


_FRAME = '2\n{comment}\nSi 0 0 0 {extra}\nSi 1 1 1 {extra}\n'
_LATTICE = 'Lattice="5 0 0 0 5 0 0 0 5"'


@pytest.mark.parametrize("comment,extra,match", [
    (_LATTICE + ' energy= virial="1 0 0 0 1 0 0 0 1"', "", "'energy=' has no value"),
    (_LATTICE + ' energy=-1.0 energy=-2.0', "", "'energy' is given twice"),
    (_LATTICE + ' Lattice="6 0 0 0 6 0 0 0 6"', "", "'Lattice' is given twice"),
    (_LATTICE + ' Properties=species:S:1:pos:R:3:pos:R:3', "2 2 2", "'pos' is given twice"),
    (_LATTICE + ' Properties=species:S:1:pos:R:3:group:I:1', "2147483648", "out of range"),
    (_LATTICE + ' Properties=species:S:1:pos:R:3:x:R:99999999999', "", "too large"),
], ids=["empty-value", "twice", "lattice-twice", "property-twice", "group-overflow", "huge-count"])
def test_ambiguous_or_out_of_range_input_is_refused_with_its_line(comment, extra, match):
    """Found by fuzzing: these were read as something else (the next token as a value, the last
    duplicate winning, wrapped integers) or ended in std::bad_alloc."""
    with pytest.raises(pynepcg.FileFormatError, match=match) as e:
        io.parse(_FRAME.format(comment=comment, extra=extra), "f.xyz")
    assert e.value.lineno in (2, 3)


def test_huge_atom_count_is_a_file_error_not_memory_error():
    with pytest.raises(pynepcg.FileFormatError, match="atom count 99999999999") as e:
        io.parse("99999999999\n" + _LATTICE + "\nSi 0 0 0\n", "f.xyz")
    assert e.value.lineno == 1


def test_byte_order_mark_is_accepted():
    s = io.parse("\ufeff" + _FRAME.format(comment=_LATTICE, extra=""), "f.xyz")[0]
    assert len(s) == 2


def test_boolean_energy_is_not_a_label():
    from pynepcg import trainer

    frame = io.parse(_FRAME.format(comment=_LATTICE + " energy=T", extra=""), "f.xyz")
    with pytest.raises(pynepcg.InputError, match="'energy' must be numeric"):
        trainer._as_structures(frame, "training set")


def test_a_directory_is_not_read_as_a_file(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        io.read(tmp_path)
    with pytest.raises(OSError, match="is a directory, not a file"):
        pynepcg.NEP(tmp_path)
    with pytest.raises(OSError, match="is a directory, not a file"):
        pynepcg._core.read_extxyz(str(tmp_path))
