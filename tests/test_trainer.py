"""Trainer: nep.in, training data, the population evaluator, SNES bookkeeping, files, restart.

References: pynepcg.NEP (itself checked against calorine) and calorine's CPUNEP for the
evaluator; an independent q_scaler from NEP.descriptors; a random NEP teacher for learning."""
from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator
from ase.neighborlist import neighbor_list as ase_neighbor_list

import pynepcg
from pynepcg import trainer as tr
from pynepcg.errors import InputError

from nep_models import random_structure, write_random_nep
from processes import interrupt_after_ready

ARCH = dict(cutoff=(4.0, 3.0), n_max=(3, 3), basis_size=(4, 4), l_max=(4, 0, 0), neuron=5)


# GPUMD's flexible ZBL (zbl.in): r1 r2 and four (alpha, beta) per type pair Si-Si, Si-C, C-C,
# other than the universal ones and reaching to the angular cutoff (3 Å) so that pairs of the
# random frames are inside.
FLEXIBLE_ZBL = ("0.5 2.9 0.2 3.0 0.5 0.9 0.3 0.4 0.02 0.2\n"
                "0.8 3.0 0.15 3.3 0.55 1.0 0.25 0.45 0.05 0.25\n"
                "0.6 2.7 0.18 3.1 0.52 0.95 0.28 0.41 0.03 0.21\n")


def teacher_model(path, seed=7):
    return write_random_nep(path, elements=("Si", "C"), rc=(4.0, 3.0), n_max=(3, 3), basis=(4, 4),
                            l_max=(4, 0, 0), neurons=(5, 0), seed=seed, scale=0.5)


def labelled_frames(teacher, n, seed0=0, atoms=16):
    frames = []
    for k in range(n):
        a = random_structure(["Si", "C"], atoms, 6.0, seed=seed0 + k, min_distance=1.6)
        r = teacher.compute(a)
        a.calc = SinglePointCalculator(a, energy=r.energy, forces=r.forces, stress=r.stress)
        frames.append(a)
    return frames


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    return pynepcg.NEP(teacher_model(tmp_path_factory.mktemp("teacher") / "nep.txt"))


@pytest.fixture(scope="module")
def frames(teacher):
    return labelled_frames(teacher, 8)


# --- nep.in ------------------------------------------------------------------------------------

def test_nep_in_defaults_are_gpumds():
    o = pynepcg._core.parse_nep_in("type 2 Te Pb\n")
    m = o.model_skeleton()
    assert (m.n_max_radial, m.n_max_angular, m.basis_size_radial, m.basis_size_angular) == (6, 6, 6, 6)
    assert m.l_max == 4 and m.neurons1 == 30 and list(m.cutoff_radial) == [8.0, 8.0]
    assert (o.population, o.generation, o.batch, o.output_interval) == (50, 100000, 1000, 100)
    n = m.num_parameters
    # N_par = (D + 2) N1 T + 1 + T^2 [(nR+1)(KR+1) + (nA+1)(KA+1)], D = 7 + 7 * 5 (l_max 4 + 4-body)
    assert n == (42 + 2) * 30 * 2 + 1 + 4 * (49 + 49)
    assert o.resolved_lambda_1(n) == pytest.approx(np.sqrt(n / 2) / 1000)


def test_keywords_equal_nep_in_file(tmp_path):
    text = ("type 2 Te Pb\ncutoff 7 4 # comment\nn_max 4 4\nbasis_size 8 8\nl_max 4 2 1\nneuron 20\n"
            "lambda_v 0.5\nbatch 10\npopulation 40\ngeneration 300\ntype_weight 1.0 2.0\nzbl 2\n")
    (tmp_path / "nep.in").write_text(text)
    a = pynepcg.Trainer(tmp_path / "nep.in")
    b = pynepcg.Trainer(type=["Te", "Pb"], cutoff=(7, 4), n_max=(4, 4), basis_size=(8, 8), l_max=(4, 2, 1),
                        neuron=20, lambda_v=0.5, batch=10, population=40, generation=300,
                        type_weight={"Pb": 2.0}, zbl=2.0)
    assert a.nep_in == b.nep_in
    # keywords override the file
    c = pynepcg.Trainer(tmp_path / "nep.in", generation=5)
    assert "generation 5" in c.nep_in and "generation 300" not in c.nep_in


def test_flexible_zbl_from_zbl_in_and_a_run_folder_gpumd_can_read(frames, tmp_path):
    """GPUMD's nep reads zbl.in (flexible ZBL) whenever nep.in sets zbl: so does the trainer, from
    beside nep.in; nep.txt gets 'zbl 0 0' and the parameters, and the run folder holds a nep.in
    GPUMD accepts (the seed behind '#pynepcg', a comment to GPUMD) and a copy of zbl.in."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "nep.in").write_text("type 2 Si C\ncutoff 4 3\nn_max 3 3\nbasis_size 4 4\nneuron 4\nzbl 2\n"
                                "generation 2\noutput_interval 1\npopulation 10\nseed 5\n")
    (src / "zbl.in").write_text(FLEXIBLE_ZBL)
    t = pynepcg.Trainer(src / "nep.in")
    model, _ = t.fit(frames[:3], directory=tmp_path / "run", progress=False)
    text = (tmp_path / "run" / "nep.txt").read_text().splitlines()
    assert text[0].split() == ["nep4_zbl", "2", "Si", "C"] and text[1].split() == ["zbl", "0", "0"]
    params = np.array([float(x) for x in text[-30:]])
    assert np.array_equal(params, np.loadtxt(src / "zbl.in").ravel())
    assert np.array_equal(np.loadtxt(tmp_path / "run" / "zbl.in"), np.loadtxt(src / "zbl.in"))
    written = (tmp_path / "run" / "nep.in").read_text()
    assert "#pynepcg seed 5\n" in written
    assert not any(line.split()[:1] == ["seed"] for line in written.splitlines())  # GPUMD stops at 'seed'
    again = pynepcg.Trainer(tmp_path / "run" / "nep.in")  # the written folder trains the same run
    assert again.nep_in == t.nep_in and again._options.has_seed
    model2, _ = again.fit(frames[:3], directory=tmp_path / "run2", progress=False)
    assert (tmp_path / "run2" / "nep.txt").read_text() == (tmp_path / "run" / "nep.txt").read_text()
    # the seed keyword given in Python replaces the file's '#pynepcg seed' line
    assert "#pynepcg seed 9" in pynepcg.Trainer(tmp_path / "run" / "nep.in", seed=9).nep_in


def test_resume_with_another_zbl_in_warns(frames, tmp_path):
    """The flexible ZBL baseline is part of what the labels are fitted against: a checkpoint
    resumed with other zbl.in parameters says so (as for other data), the same ones do not."""
    import warnings as _w

    (tmp_path / "zbl.in").write_text(FLEXIBLE_ZBL)
    opts = dict(type=["Si", "C"], zbl=2.0, generation=2, output_interval=1, population=10, seed=4, **ARCH)
    pynepcg.Trainer(zbl_in=tmp_path / "zbl.in", **opts).fit(frames[:3], directory=tmp_path / "run", progress=False)
    with _w.catch_warnings():
        _w.simplefilter("error")
        pynepcg.Trainer(zbl_in=tmp_path / "zbl.in", **{**opts, "generation": 3}).fit(
            frames[:3], directory=tmp_path / "run", progress=False)
    (tmp_path / "zbl.in").write_text(FLEXIBLE_ZBL.replace("0.5 2.9", "0.4 2.9"))
    with pytest.warns(UserWarning, match=r"other training data .*labels or zbl.in"):
        pynepcg.Trainer(zbl_in=tmp_path / "zbl.in", **{**opts, "generation": 4}).fit(
            frames[:3], directory=tmp_path / "run", progress=False)


@pytest.mark.parametrize("zbl_in, message", [
    ("0.5 2.9 0.2 3.0 0.5 0.9 0.3 0.4 0.02 0.2\n", r"zbl.in:1: expected 3 lines of 10 numbers"),
    ("0.5 2.9 0.2 3.0 0.5 0.9 0.3 0.4 0.02\n", r"zbl.in:1: expected 10 numbers"),
    ("0.5 2.9 0.2 3.0 0.5 0.9 0.3 0.4 0.02 x\n", r"zbl.in:1: 'x' is not a finite number"),
    (FLEXIBLE_ZBL.replace("0.8 3.0", "0.8 3.5"), r"zbl.in line 2 \(Si-C\).*r2 <= 3 Å"),
    (FLEXIBLE_ZBL + FLEXIBLE_ZBL, r"zbl.in:4: more than 3 lines"),
])
def test_bad_zbl_in_is_refused_with_file_and_line(tmp_path, zbl_in, message):
    (tmp_path / "zbl.in").write_text(zbl_in)
    (tmp_path / "nep.in").write_text("type 2 Si C\ncutoff 4 3\nzbl 2\n")
    with pytest.raises(pynepcg.FileFormatError, match=message):
        pynepcg.Trainer(tmp_path / "nep.in")
    with pytest.raises(pynepcg.FileFormatError, match=message):
        pynepcg._core.read_nep_in(str(tmp_path / "nep.in"))  # nepcg train's reader


def test_zbl_in_without_zbl_keyword(tmp_path):
    (tmp_path / "zbl.in").write_text(FLEXIBLE_ZBL)
    (tmp_path / "nep.in").write_text("type 2 Si C\ncutoff 4 3\n")
    with pytest.warns(UserWarning, match="need the 'zbl' keyword"):
        t = pynepcg.Trainer(tmp_path / "nep.in")
    assert t._options.model_skeleton().zbl == "none"
    with pytest.raises(pynepcg.InputError, match="need the 'zbl' keyword"):
        pynepcg.Trainer(type=["Si", "C"], cutoff=(4, 3), zbl_in=tmp_path / "zbl.in")
    with pytest.raises(FileNotFoundError, match="no zbl.in"):
        pynepcg.Trainer(type=["Si", "C"], zbl=2, zbl_in=tmp_path / "missing.in")
    assert len(pynepcg._core.read_nep_in(str(tmp_path / "nep.in")).zbl_flexible) == 0  # ignored, as GPUMD


@pytest.mark.parametrize("text, message", [
    ("type 1 C\nfoo 2\n", "nep.in:2: unknown keyword 'foo'"),
    ("type_weight 1 2\ntype 2 A B\n", "must come after 'type'"),
    ("type 1 C\nn_max 13 4\n", "outside [0, 12]"),
    ("type 1 C\npopulation 5\n", "outside [10, 200]"),
    ("type 1 C\nversion 3\n", "only 'version 4'"),
    ("type 1 C\nmodel_type 1\n", "not supported"),
    ("type 1 C\ncutoff 4 5\n", "r_angular <= r_radial"),
    ("type 1 C\nneuron 10\nneuron 12\n", "given twice"),
    ("type 2 A A\n", "listed twice"),
    ("type 1 C\nuse_typewise_cutoff_zbl\n", "needs 'zbl"),
    ("n_max 4 4\n", "'type' keyword is mandatory"),
    ("type 1 C\nlambda_1 x\n", "not a finite number"),
])
def test_bad_nep_in_is_a_clear_error(text, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        pynepcg._core.parse_nep_in(text, "nep.in")


def test_errors_name_the_files_own_line_or_the_keyword(tmp_path):
    """Keywords given to the Trainer replace or add nep.in lines; an error still names the line of
    the file (not of the merged text) or the keyword."""
    (tmp_path / "a.in").write_text("# comment\nn_max 4 4\nneuron 10\nbasis_size 17 6\n")
    for kw in (dict(type=["C"]), dict(type=["C"], n_max=(4, 4), neuron=5)):
        with pytest.raises(pynepcg.FileFormatError, match="basis_size") as err:
            pynepcg.Trainer(tmp_path / "a.in", **kw)
        assert err.value.lineno == 4 and err.value.filename.endswith("a.in")
    (tmp_path / "b.in").write_text("type 1 C\nneuron 10\n")
    with pytest.raises(InputError, match=r"keyword n_max=\(13, 4\)"):
        pynepcg.Trainer(tmp_path / "b.in", n_max=(13, 4))


def test_unknown_python_keyword():
    with pytest.raises(InputError, match="unknown hyper-parameter"):
        pynepcg.Trainer(type=["C"], neurons=10)


# --- data --------------------------------------------------------------------------------------

def _xyz(lines_virial="", extra="", force="0.1 0.2 0.3"):
    return ("2\n"
            f'Lattice="5 0 0 0 5 0 0 0 5" energy=-3.0 {lines_virial} {extra} Properties=species:S:1:pos:R:3:force:R:3\n'
            f"C 0 0 0 {force}\nC 1.5 0 0 -0.1 -0.2 -0.3\n")


def test_training_set_labels_follow_gpumd(tmp_path):
    p = tmp_path / "train.xyz"
    p.write_text(_xyz('virial="1 2 3 4 5 6 7 8 9"', "weight=2 config_type=bulk") +
                 _xyz('stress="-0.008 0 0 0 -0.008 0 0 0 -0.008"'))
    s = tr.read_training_set(p)
    assert len(s) == 2 and s[0].has_energy and s[0].energy == -3.0 and s[0].weight == 2.0
    assert s[0].config_type == "bulk"
    # xx yy zz, then the later member of each symmetric pair: yx (4), zy (8), zx (7)
    assert list(s[0].virial) == [1, 5, 9, 4, 8, 7]
    assert np.allclose(s[1].virial[:3], 0.008 * 125) and not s[1].virial[3:].any()
    assert np.array_equal(s[0].forces, [[0.1, 0.2, 0.3], [-0.1, -0.2, -0.3]])


def test_a_label_missing_from_every_structure_is_reported(tmp_path, frames):
    """GPUMD's nep stops on a file without 'energy=' or a force column; pynepcg trains on the
    labels there are, but says so and names the keys that look like the missing label (an
    ASE/VASP pipeline's REF_energy, dft_force), instead of training a model whose energies are
    never fitted without a word."""
    p = tmp_path / "train.xyz"
    text = _xyz('virial="1 0 0 0 1 0 0 0 1"', "REF_energy=-3.0")
    text = text.replace(" energy=-3.0", "").replace("force:R:3", "dft_force:R:3")
    p.write_text(text + text)
    data = tr.read_training_set(p)
    note = pynepcg._core.missing_label_note(data, "train.xyz")
    assert "no structure has an energy or forces" in note and "'REF_energy'" in note and "'dft_force'" in note
    assert pynepcg._core.missing_label_note(tr.read_training_set(_write(tmp_path / "ok.xyz", _xyz())), "x") == ""
    # through fit(): a warning (the forces-only case, from Atoms without an energy)
    no_energy = [a.copy() for a in frames[:3]]
    for a, b in zip(no_energy, frames[:3]):
        a.arrays["forces"] = b.get_forces()
    with pytest.warns(UserWarning, match="no structure has an energy"):
        pynepcg.Trainer(type=["Si", "C"], generation=1, **ARCH).fit(no_energy, directory=None, progress=False)


def _write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("body, message", [
    (_xyz(force="nan 0 0"), "train.xyz:1: force of atom 0 is not finite \\(line 7\\)"),
    (_xyz('virial="1 0 0 0 1 0 0 0 1" stress="1 0 0 0 1 0 0 0 1"'), "virial and stress disagree"),
    (_xyz("", "weight=0"), "0 < weight <= 100"),
    ("", "no structures"),
])
def test_bad_training_data(tmp_path, body, message):
    p = tmp_path / "train.xyz"
    p.write_text(_xyz() + body if body else "")
    if body:
        message = message.replace("train.xyz:1", "train.xyz:5")
    with pytest.raises(ValueError, match=message):
        tr.read_training_set(p)


def test_atoms_on_the_same_place_are_refused_before_training(frames):
    bad = frames[0].copy()
    bad.positions[1] = bad.positions[0]
    bad.calc = SinglePointCalculator(bad, energy=frames[0].get_potential_energy(), forces=frames[0].get_forces())
    with pytest.raises(ValueError, match=r"structure 3: atoms 0 and 1 .* 0 Å apart"):
        pynepcg.Trainer(type=["Si", "C"], generation=1, **ARCH).fit(frames[:2] + [bad], directory=None,
                                                                   progress=False)


def test_non_periodic_training_frames_are_trained_as_periodic_with_a_warning(frames):
    cluster = frames[0].copy()
    cluster.pbc = False
    cluster.calc = SinglePointCalculator(cluster, energy=frames[0].get_potential_energy(),
                                         forces=frames[0].get_forces())
    with pytest.warns(UserWarning, match="1 of 3 structures are not periodic"):
        pynepcg.Trainer(type=["Si", "C"], generation=1, **ARCH).fit(frames[:2] + [cluster], directory=None,
                                                                   progress=False)


def test_non_finite_restart_is_refused_with_its_line(tmp_path, frames):
    _train(frames[:2], tmp_path, generation=10)
    (tmp_path / "nepcg.checkpoint").unlink()  # (else the exact checkpoint is resumed instead)
    rows = (tmp_path / "nep.restart").read_text().splitlines()
    rows[2] = "nan 0.1"
    (tmp_path / "nep.restart").write_text("\n".join(rows) + "\n")
    with pytest.raises(pynepcg.FileFormatError, match="not finite") as err:
        _train(frames[:2], tmp_path, generation=20)
    assert err.value.lineno == 3


def test_nep_in_byte_order_mark_and_round_trip_numbers():
    o = pynepcg._core.parse_nep_in("\ufefftype 1 C\nzbl 2\nuse_typewise_cutoff_zbl 0.7\n", "nep.in")
    assert o.types == ["C"]
    assert "use_typewise_cutoff_zbl 0.7\n" in o.to_text()  # the shortest decimals, not 0.69999999999999996


def test_species_missing_from_type_names_the_structure(tmp_path, frames):
    with pytest.raises(ValueError, match="structure 1: training set: species 'C' is not in 'type'"):
        pynepcg.Trainer(type=["Si"], generation=1).fit(frames, directory=None, progress=False)
    with pytest.raises(InputError, match="empty"):
        pynepcg.Trainer(type=["Si"]).fit([], directory=None, progress=False)


# --- evaluator ---------------------------------------------------------------------------------

def test_population_evaluator_equals_nep(tmp_path, teacher, frames):
    """predict() (the trainer's kernel) reproduces NEP.compute to round-off, ZBL and 4-body on."""
    path = write_random_nep(tmp_path / "m.txt", elements=("Si", "C"), rc=(4.5, 3.5), n_max=(4, 3),
                            basis=(5, 4), l_max=(4, 2, 1), neurons=(6, 0), zbl=(1.0, 2.0), seed=3)
    two_layers = write_random_nep(tmp_path / "m2.txt", elements=("Si", "C"), rc=(4.5, 3.5), n_max=(4, 3),
                                  basis=(5, 4), l_max=(4, 2, 0), neurons=(6, 4), seed=4)
    data = [pynepcg._core.make_training_structure(pynepcg.System.from_ase(a)) for a in frames]
    for model, cache in ((teacher, True), (pynepcg.NEP(path), True), (pynepcg.NEP(path), False),
                         (pynepcg.NEP(two_layers), True)):
        for p, a in zip(pynepcg._core.predict_structures(model.model, data, cache), frames):
            r = model.compute(a)
            W = r.virial
            assert p["energy"] == pytest.approx(r.energy, rel=1e-13, abs=1e-12)
            assert np.allclose(p["energies"], r.energies, rtol=0, atol=1e-12)
            assert np.allclose(p["forces"], r.forces, rtol=0, atol=1e-12)
            assert np.allclose(p["virial"], [W[0, 0], W[1, 1], W[2, 2], W[1, 0], W[2, 1], W[2, 0]], atol=1e-11)


def test_lanes_tanh_matches_std_tanh():
    """The trainer evaluates 8 individuals per SIMD vector with its own tanh: within 4 ulp of
    the C library's everywhere (tiny, branch point 2|x| = 1, large, infinite, NaN)."""
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(-25, 25, 20000), rng.uniform(-1e-3, 1e-3, 5000),
                        np.ldexp(1.0, -rng.integers(1, 1000, 2000)) * rng.choice([-1, 1], 2000),
                        np.nextafter(0.5, [0.0, 1.0]), [0.5, -0.5, 20.0, 1e300, -1e300, np.inf, -np.inf]])
    got = np.array(pynepcg._core._training_lanes_tanh(x))
    want = np.tanh(x)
    assert np.all(np.abs(got - want) <= 4 * np.spacing(np.abs(want)))
    assert np.isnan(pynepcg._core._training_lanes_tanh([np.nan])[0])


def test_single_lanes_tanh_within_4_float_ulp():
    """Float lanes (precision="single") compute tanh in float: within 4 float ulp of the exact
    tanh of the float input (tiny, branch point, large, infinite, NaN; signs symmetric)."""
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.uniform(-12, 12, 40000), rng.uniform(-0.6, 0.6, 20000),
                        np.ldexp(1.0, -rng.integers(1, 120, 2000)) * rng.choice([-1, 1], 2000),
                        np.nextafter(np.float32(0.5), np.float32([0, 1])), [0.5, -0.5, 9.0, 30.0, 1e30, np.inf, -np.inf]])
    xf = x.astype(np.float32)
    got = np.array(pynepcg._core._training_lanes_tanh(xf.astype(float), single=True))
    want = np.tanh(xf.astype(float))
    assert np.all(got == got.astype(np.float32))  # float results
    ulp = np.spacing(np.abs(want).astype(np.float32)).astype(float)
    assert np.all(np.abs(got - want) <= 4 * ulp)
    assert np.array_equal(got[xf != 0], -np.array(pynepcg._core._training_lanes_tanh(-xf.astype(float), single=True))[xf != 0])
    assert np.isnan(pynepcg._core._training_lanes_tanh([np.nan], single=True)[0])


@pytest.mark.parametrize("arch", [
    dict(l_max=(4, 2, 1), neuron=5, zbl=2.0),      # 4-body and 5-body terms, ZBL
    dict(l_max=(4, 2, 0), neuron=(5, 3)),          # two hidden layers
    dict(l_max=(4, 2, 0), neuron=5, zbl=2.0, zbl_in=FLEXIBLE_ZBL),  # flexible ZBL
], ids=["zbl-4-5-body", "two-layers", "flexible-zbl"])
def test_population_losses_equal_independent_evaluations(teacher, arch, tmp_path):
    """Eleven individuals evaluated together (a SIMD pack of 8 lanes and a half pack of 4, padded):
    the losses of each equal its losses evaluated alone (a padded half pack) and those recomputed
    in numpy from pynepcg.NEP (energy shift, force and virial RMSE over the batch)."""
    frames = labelled_frames(teacher, 4, seed0=20)
    if "zbl_in" in arch:
        (tmp_path / "zbl.in").write_text(arch["zbl_in"])
        arch = {**arch, "zbl_in": tmp_path / "zbl.in"}
    opts = dict(type=["Si", "C"], generation=0, seed=2, lambda_v=1.0, cutoff=(4.0, 3.0), n_max=(3, 3),
                basis_size=(4, 4), **arch)
    t = pynepcg.Trainer(**opts)
    t.fit(frames, directory=None, progress=False)
    core = t._core
    skel = core.mean_model()
    if "zbl_in" in arch:  # the model carries the file's parameters; they change the energies
        assert skel.zbl == "flexible" and np.allclose(np.reshape(skel.zbl_flexible, (3, 10)),
                                                      np.loadtxt(arch["zbl_in"]), rtol=0, atol=0)
        r0 = pynepcg.NEP(skel).compute(frames[0]).energy
        universal = pynepcg.Trainer(**{**opts, "zbl_in": None})
        universal.fit(frames, directory=None, progress=False)
        assert abs(pynepcg.NEP(universal._core.mean_model()).compute(frames[0]).energy - r0) > 1e-3
    rng = np.random.default_rng(8)
    Z = rng.uniform(-1, 1, (11, core.num_parameters)) * 0.5
    L = core.loss_terms(Z, 0)
    assert L.shape == (11, 3, 5)
    na, nr = len(skel.ann), len(skel.c_radial)
    for p in range(11):
        assert np.array_equal(L[p], core.loss_terms(Z[p], 0))
        model = skel.copy()
        model.ann, model.c_radial, model.c_angular = Z[p, :na], Z[p, na:na + nr], Z[p, na + nr:]
        nep = pynepcg.NEP(model)
        res = [nep.compute(a) for a in frames]
        n = np.array([len(a) for a in frames])
        e = np.array([r.energy for r in res]) / n - np.array([a.get_potential_energy() for a in frames]) / n
        rmse_e = np.sqrt(np.mean((e - e.mean()) ** 2))
        rmse_f = np.sqrt(sum(np.sum((r.forces - a.get_forces()) ** 2) for r, a in zip(res, frames)) / (3 * n.sum()))
        dv = []
        for r, a in zip(res, frames):
            Wref = -a.get_stress(voigt=False) * a.get_volume() / len(a)
            D = r.virial / len(a) - Wref
            dv.append([D[0, 0], D[1, 1], D[2, 2], D[0, 1], D[1, 2], D[0, 2]])
        rmse_v = np.sqrt(np.mean(np.square(dv)))
        assert np.allclose(L[p, 2, 2:], [rmse_e, rmse_f, rmse_v], rtol=1e-9, atol=1e-14), (p, L[p, 2])


def test_single_precision_losses_close_to_double_and_pack_independent(teacher):
    """precision="single" on the CPU: 19 individuals in float lanes (a pack of 16 and a padded
    half pack of 8). Each one's losses equal those it gets evaluated alone (lanes do not mix) and
    in a padded full pack (the first 12), differ from double by float round-off only (not zero,
    not more than 1e-4 relative), and do not depend on the thread count."""
    frames = labelled_frames(teacher, 4, seed0=30)
    opts = dict(type=["Si", "C"], generation=0, seed=2, lambda_v=1.0, cutoff=(4.0, 3.0), n_max=(3, 3),
                basis_size=(4, 4), l_max=(4, 2, 1), neuron=5, zbl=2.0, force_delta=0.5, type_weight=[1.0, 2.0])
    cores = {}
    for precision in ("double", "single"):
        t = pynepcg.Trainer(device="cpu", precision=precision, **opts)
        t.fit(frames, directory=None, progress=False)
        cores[precision] = t._core
    rng = np.random.default_rng(9)
    Z = rng.uniform(-1, 1, (19, cores["single"].num_parameters)) * 0.5
    single, double = np.asarray(cores["single"].loss_terms(Z, 0)), np.asarray(cores["double"].loss_terms(Z, 0))
    for p in (0, 7, 15, 16, 18):
        assert np.array_equal(single[p], cores["single"].loss_terms(Z[p], 0))
    assert np.array_equal(single[:12], cores["single"].loss_terms(Z[:12], 0))
    worst = np.abs(single - double).max() / np.abs(double).max()
    assert 1e-10 < worst < 1e-4, worst
    before = pynepcg.get_num_threads()
    try:
        pynepcg.set_num_threads(1)
        one_thread = np.asarray(cores["single"].loss_terms(Z, 0))
    finally:
        pynepcg.set_num_threads(before)
    assert np.array_equal(one_thread, single)


def test_single_precision_training_follows_double(frames):
    """A seeded CPU run in single precision: the first report equals double's to float round-off
    (the same individuals), the last one shows the same progress (ranks may swap since)."""
    common = dict(type=["Si", "C"], generation=30, output_interval=5, population=20, seed=3, neuron=6,
                  cutoff=(4.0, 3.0), n_max=(3, 3), basis_size=(4, 4), l_max=(4, 2, 1))
    history = {}
    for precision in ("double", "single"):
        t = pynepcg.Trainer(device="cpu", precision=precision, **common)
        t.fit(frames[:4], directory=None, progress=False)
        history[precision] = np.asarray(t._core.history)
    hd, hs = history["double"], history["single"]
    assert hd.shape == hs.shape == (6, hd.shape[1])
    assert np.allclose(hs[0], hd[0], rtol=1e-4) and not np.array_equal(hs[0], hd[0])
    assert hs[-1, 1] == pytest.approx(hd[-1, 1], rel=0.1)


def test_q_scaler_from_descriptors_with_all_parameters_one(frames):
    """GPUMD: q_scaler = 1 / (max - min) of each descriptor component over the training set,
    with every trainable parameter set to initial_para (1)."""
    t = pynepcg.Trainer(type=["Si", "C"], generation=0, **ARCH)
    t.fit(frames, directory=None, progress=False)
    skel = t._core.mean_model()
    ones = skel.copy()
    ones.ann = np.ones(len(skel.ann))
    ones.c_radial = np.ones(len(skel.c_radial))
    ones.c_angular = np.ones(len(skel.c_angular))
    q = np.concatenate([pynepcg.NEP(ones).descriptors(a) for a in frames])
    assert np.allclose(t._core.q_scaler, 1 / (q.max(0) - q.min(0)), rtol=1e-12)


# --- training ----------------------------------------------------------------------------------

def _train(frames, directory, generation=30, **kw):
    opts = dict(type=["Si", "C"], generation=generation, output_interval=10, seed=11, **ARCH)
    opts.update(kw)
    return pynepcg.Trainer(**opts).fit(frames, directory=directory, progress=False)


def test_files_and_energy_shift(tmp_path, frames):
    model, loss = _train(frames[:6], tmp_path)
    assert list(loss["generation"]) == [10, 20, 30]
    for name in ("nep.txt", "loss.out", "nep.restart", "nep.in", "nepcg.checkpoint", "energy_train.out",
                 "force_train.out", "virial_train.out", "stress_train.out"):
        assert (tmp_path / name).is_file(), name
    # loss.out reads with calorine and holds what fit() returned
    from calorine.nep import read_loss
    df = read_loss(str(tmp_path / "loss.out"))
    assert np.allclose(df["RMSE_F_train"], loss["RMSE_F_train"], atol=1e-5)
    assert np.allclose(df["total_loss"], loss["total_loss"], atol=1e-5)
    # nep.restart: N_par rows "mu sigma"
    restart = np.loadtxt(tmp_path / "nep.restart")
    assert restart.shape == (model.model.num_parameters, 2)
    # the written model is bias-shifted: mean per-atom energy error on the (single) batch is 0
    pred = tr.predict(model, frames[:6])
    err = [p["energy"] / len(a) - a.get_potential_energy() / len(a) for p, a in zip(pred, frames[:6])]
    assert abs(np.mean(err)) < 1e-12
    assert loss["RMSE_E_train"][-1] == pytest.approx(np.sqrt(np.mean(np.square(err))), rel=1e-4, abs=1e-5)
    # parity files: one row per structure / atom; stress = virial / V in GPa
    e = np.loadtxt(tmp_path / "energy_train.out")
    f = np.loadtxt(tmp_path / "force_train.out")
    v = np.loadtxt(tmp_path / "virial_train.out")
    s = np.loadtxt(tmp_path / "stress_train.out")
    assert e.shape == (6, 2) and f.shape == (96, 6) and v.shape == (6, 12) and s.shape == (6, 12)
    vol = np.array([a.get_volume() for a in frames[:6]])
    assert np.allclose(s[:, :6], v[:, :6] * 16 / vol[:, None] * 160.21766208, rtol=1e-4, atol=1e-6)
    assert np.allclose(e[:, 1], [a.get_potential_energy() / 16 for a in frames[:6]], rtol=1e-5)


def test_written_model_loads_in_calorine(tmp_path, frames):
    from calorine.calculators import CPUNEP
    model, _ = _train(frames[:4], tmp_path, generation=10)
    for a in frames[:4]:
        b = a.copy()
        b.calc = CPUNEP(str(tmp_path / "nep.txt"))
        r = model.compute(a)
        assert b.get_potential_energy() == pytest.approx(r.energy, rel=1e-12)
        assert np.allclose(b.get_forces(), r.forces, atol=1e-10)


def test_written_model_states_its_data_neighbour_counts(tmp_path, frames):
    """The cutoff line ends with the largest neighbour counts of the data within the radial and
    the angular cutoff, as GPUMD's nep writes them (GPUMD's MD sizes its lists by them and
    refuses more than 819), counted here with an independent list (every structure periodic)."""
    opts = dict(type=["Si", "C"], generation=2, output_interval=1, seed=11, **ARCH)
    pynepcg.Trainer(**opts).fit(frames[:4], test=frames[4:6], directory=tmp_path, progress=False)
    tokens = (tmp_path / "nep.txt").read_text().splitlines()[1].split()
    rc, ra = float(tokens[1]), float(tokens[2])
    most = [0, 0]
    for a in frames[:6]:
        b = a.copy()
        b.pbc = True
        i, d = ase_neighbor_list("id", b, rc)
        for k, cut in enumerate((rc, ra)):
            most[k] = max(most[k], np.bincount(i[d < cut], minlength=len(b)).max())
    assert [int(tokens[3]), int(tokens[4])] == most
    assert 0 < most[1] < most[0] <= 819


def test_seeded_runs_are_reproducible_and_thread_independent(tmp_path, frames):
    before = pynepcg.get_num_threads()
    try:
        pynepcg.set_num_threads(1)
        a, la = _train(frames[:4], tmp_path / "a", generation=20)
        pynepcg.set_num_threads(2)
        b, lb = _train(frames[:4], tmp_path / "b", generation=20)
    finally:
        pynepcg.set_num_threads(before)
    assert (tmp_path / "a" / "nep.txt").read_text() == (tmp_path / "b" / "nep.txt").read_text()
    assert all(np.array_equal(la[k], lb[k]) for k in la)
    c, _ = _train(frames[:4], tmp_path / "c", generation=20, seed=12)
    assert (tmp_path / "c" / "nep.txt").read_text() != (tmp_path / "a" / "nep.txt").read_text()


@pytest.mark.parametrize("precision", ["double", "single"])
def test_restart_continues_bit_identically(tmp_path, frames, precision):
    _train(frames[:4], tmp_path / "straight", generation=40, precision=precision)
    _train(frames[:4], tmp_path / "split", generation=20, precision=precision)
    # An interrupted run: generations past the last checkpoint are redone after the restart.
    (tmp_path / "split" / "loss.out").write_text((tmp_path / "split" / "loss.out").read_text() + "30 9 9 9 9 9 9 9 9 9\n")
    _, loss = _train(frames[:4], tmp_path / "split", generation=40, precision=precision)
    for name in ("nep.txt", "loss.out", "nep.restart", "nepcg.checkpoint"):
        assert (tmp_path / "split" / name).read_text() == (tmp_path / "straight" / name).read_text(), name
    assert list(loss["generation"]) == [10, 20, 30, 40]


def test_checkpoint_of_other_hyperparameters_is_refused(tmp_path, frames):
    _train(frames[:4], tmp_path, generation=10)
    with pytest.raises(ValueError, match="parameters"):
        _train(frames[:4], tmp_path, generation=20, neuron=6)


def test_batches_and_test_set(tmp_path, frames):
    t = pynepcg.Trainer(type=["Si", "C"], generation=20, output_interval=10, batch=2, seed=1, **ARCH)
    model, loss = t.fit(frames[:6], test=frames[6:8], directory=tmp_path, progress=False)
    assert t._core.num_batches == 3
    # test RMSEs: all test structures with the written model, unshifted
    pred = tr.predict(model, frames[6:8])
    f_err = np.concatenate([p["forces"] - a.get_forces() for p, a in zip(pred, frames[6:8])])
    assert loss["RMSE_F_test"][-1] == pytest.approx(np.sqrt(np.mean(f_err ** 2)), rel=1e-4)
    assert np.loadtxt(tmp_path / "force_test.out").shape == (32, 6)


def test_bead_names_and_gpumd_aliases(tmp_path, teacher):
    frames = labelled_frames(teacher, 3)
    for a in frames:  # rename species to free-form bead names
        a.arrays["nepcg_species"] = np.array(["W1" if s == "Si" else "CG" for s in a.get_chemical_symbols()])
    model, _ = pynepcg.Trainer(generation=10, output_interval=10, seed=1, **ARCH).fit(frames, directory=tmp_path,
                                                                                       progress=False)
    assert model.elements == ["W1", "CG"]  # inferred in order of appearance
    aliases = tr.write_gpumd_model(model, tmp_path / "gpumd.txt")
    assert aliases == {"W1": "H", "CG": "He"}
    assert (tmp_path / "gpumd.txt.names").read_text() == "H W1\nHe CG\n"
    from calorine.calculators import CPUNEP
    b = frames[0].copy()
    del b.arrays["nepcg_species"]
    b.set_chemical_symbols(["H" if s == "Si" else "He" for s in frames[0].get_chemical_symbols()])
    b.calc = CPUNEP(str(tmp_path / "gpumd.txt"))
    assert b.get_potential_energy() == pytest.approx(model.compute(frames[0]).energy, rel=1e-12)


def test_two_hidden_layers_train(tmp_path, frames):
    model, loss = _train(frames[:3], tmp_path, generation=10, neuron=(5, 3))
    assert model.model.neurons2 == 3 and loss["RMSE_F_train"][-1] > 0
    assert tr.predict(tmp_path / "nep.txt", frames[:1])[0]["energy"] == pytest.approx(model.compute(frames[0]).energy,
                                                                                       rel=1e-12)


def test_nepcg_train_binary(tmp_path, frames):
    from ase.io import write
    write(tmp_path / "train.xyz", frames[:3], format="extxyz")
    (tmp_path / "nep.in").write_text("type 2 Si C\ncutoff 4 3\nn_max 3 3\nbasis_size 4 4\nl_max 4 0 0\nneuron 5\n"
                                     "generation 10\noutput_interval 5\nseed 3\n")
    out = subprocess.run(["nepcg", "train", str(tmp_path / "nep.in")], capture_output=True, text=True, check=True)
    assert "RMSE-F-Train" in out.stdout
    assert len(np.loadtxt(tmp_path / "loss.out")) == 2
    # same seed through Python gives the same model
    t = pynepcg.Trainer(tmp_path / "nep.in")
    t.fit(tr.read_training_set(tmp_path / "train.xyz"), directory=tmp_path / "py", progress=False)
    assert (tmp_path / "py" / "nep.txt").read_text() == (tmp_path / "nep.txt").read_text()
    # prediction mode
    (tmp_path / "nep.in").write_text("type 2 Si C\ncutoff 4 3\nn_max 3 3\nbasis_size 4 4\nl_max 4 0 0\nneuron 5\n"
                                     "prediction 1\noutput_descriptor 2\n")
    os.remove(tmp_path / "energy_train.out")
    subprocess.run(["nepcg", "train", str(tmp_path / "nep.in")], capture_output=True, text=True, check=True)
    assert np.loadtxt(tmp_path / "energy_train.out").shape == (3, 2)
    assert np.loadtxt(tmp_path / "descriptor.out").shape == (48, 4 + 4 * 4)
    bad = subprocess.run(["nepcg", "train", str(tmp_path / "missing" / "nep.in")], capture_output=True, text=True)
    assert bad.returncode == 1 and "cannot open" in bad.stderr
    for command, doc in (("train", "docs/training.md"), ("run", "docs/simulator.md"), ("info", "structures.md")):
        # --help after a command prints that command's usage (no file called --help is opened)
        h = subprocess.run(["nepcg", command, "--help"], capture_output=True, text=True)
        assert h.returncode == 0 and h.stdout.startswith(f"usage: nepcg {command} ") and doc in h.stdout
        assert all(f"  {other} " not in h.stdout for other in ("train", "run", "info") if other != command)


def test_loss_terms_follow_gpumds_formula(teacher):
    """The loss the ranking uses, recomputed here in numpy from the specification (weights,
    energy weights, type weights, force_delta, lambda_shear, missing virials, per-type
    structure sets, energy shift, L1/L2 per owner type) with forces from pynepcg.NEP."""
    frames = labelled_frames(teacher, 5)
    only_si = random_structure(["Si"], 8, 5.0, seed=50, min_distance=1.8)
    r = teacher.compute(only_si)
    only_si.calc = SinglePointCalculator(only_si, energy=r.energy, forces=r.forces)  # no virial
    frames.append(only_si)
    frames[1].info["weight"] = 2.0
    frames[2].info["energy_weight"] = 0.5
    opts = dict(type=["Si", "C"], generation=0, batch=3, type_weight=[1.0, 2.0], force_delta=0.5,
                lambda_shear=2.0, lambda_v=0.3, lambda_e=0.7, seed=1, **ARCH)
    t = pynepcg.Trainer(**opts)
    t.fit(frames, directory=None, progress=False)
    core = t._core
    skel = core.mean_model()
    rng = np.random.default_rng(5)
    z = rng.uniform(-1, 1, core.num_parameters) * 0.5
    model = skel.copy()
    na, nr = len(skel.ann), len(skel.c_radial)
    model.ann, model.c_radial, model.c_angular = z[:na], z[na:na + nr], z[na + nr:]
    nep = pynepcg.NEP(model)
    owner = core.parameter_owner
    T, npar = 2, len(z)
    lam = np.sqrt(npar / T) / 1000
    for b, batch in enumerate(core.batches):
        got = core.loss_terms(z, b)
        structs = [frames[k] for k in batch]
        res = [nep.compute(a) for a in structs]
        n = np.array([len(a) for a in structs])
        w = np.array([a.info.get("weight", 1.0) for a in structs])
        ew = np.array([a.info.get("energy_weight", 1.0) for a in structs])
        e = np.array([r.energy for r in res]) / n - np.array([a.get_potential_energy() for a in structs]) / n
        shift = np.sum(ew * e) / np.sum(ew)
        for t_ in range(T + 1):
            member = [t_ == T or (["Si", "C"][t_] in a.get_chemical_symbols()) for a in structs]
            idx = [k for k in range(len(structs)) if member[k]]
            rmse_e = np.sqrt(np.sum(w[idx] ** 2 * ew[idx] * (e[idx] - shift) ** 2) / len(idx))
            num = den = 0.0
            for k in idx:
                a = structs[k]
                tau = np.where(np.array(a.get_chemical_symbols()) == "C", 2.0, 1.0)
                fref = a.get_forces()
                rho = 0.5 / (0.5 + np.linalg.norm(fref, axis=1))
                num += w[k] ** 2 * np.sum(tau ** 2 * rho * np.sum((res[k].forces - fref) ** 2, axis=1))
                den += 3 * len(a)
            rmse_f = np.sqrt(num / den)
            num, count = 0.0, 0
            for k in idx:
                a = structs[k]
                if "stress" not in a.calc.results:
                    continue
                W = res[k].virial / len(a)
                Wref = -a.calc.results["stress"]  # Voigt xx yy zz yz xz xy, times volume below
                Wref = Wref * a.get_volume() / len(a)
                dv = np.array([W[0, 0] - Wref[0], W[1, 1] - Wref[1], W[2, 2] - Wref[2],
                               W[0, 1] - Wref[5], W[1, 2] - Wref[3], W[0, 2] - Wref[4]])
                num += w[k] ** 2 * (np.sum(dv[:3] ** 2) + 4.0 * np.sum(dv[3:] ** 2))
                count += 1
            rmse_v = np.sqrt(num / (6 * count))
            sel = (owner == t_) if t_ < T else (owner != T)
            M = npar / T if t_ < T else npar
            want = [lam * np.sum(np.abs(z[sel])) / M, lam * np.sqrt(np.sum(z[sel] ** 2) / M),
                    0.7 * rmse_e, 1.0 * rmse_f, 0.3 * rmse_v]
            assert np.allclose(got[t_], want, rtol=1e-9, atol=1e-14), (b, t_, got[t_], want)
    # batches: sorted by reference energy per atom and dealt out in turn (GPUMD's interleaving)
    epa = np.array([a.get_potential_energy() / len(a) for a in frames])
    order = np.argsort(epa, kind="stable")
    assert [list(x) for x in core.batches] == [list(order[0::2]), list(order[1::2])]


def test_snes_step_follows_the_specification(frames):
    """Two generations recomputed in numpy from the population, its noise and loss_terms():
    utilities, type-wise ranking (owner of each parameter), eta_sigma = (3 + ln d)/(10 sqrt d),
    sigma capped at 1, generation 0 ranked by regularisation alone."""
    t = pynepcg.Trainer(type=["Si", "C"], generation=0, seed=4, population=12, **ARCH)
    t.fit(frames[:4], directory=None, progress=False)
    core = t._core
    owner = core.parameter_owner
    T, P, npar = 2, 12, core.num_parameters
    u = np.maximum(0, np.log(P / 2 + 1) - np.log(np.arange(1, P + 1)))
    u = u / u.sum() - 1 / P
    d = np.floor(npar / T)
    eta = (3 + np.log(d)) / (10 * np.sqrt(d))
    core_opts = pynepcg._core.parse_nep_in(t.nep_in.replace("generation 0", "generation 2"))
    core = pynepcg._core.Trainer(core_opts, [pynepcg._core.make_training_structure(pynepcg.System.from_ase(a))
                                             for a in frames[:4]], [], "", False)
    for g in range(2):
        mu, sigma = core.mean.copy(), core.step_sizes.copy()
        core.run(1)
        z, s = core.population, core.noise
        assert np.allclose(z, mu + sigma * s, rtol=0, atol=1e-15)
        # independent standard normals (one stream per individual, seeded from the trainer's)
        assert abs(s.mean()) < 5 / np.sqrt(s.size) and abs(s.var() - 1) < 5 * np.sqrt(2 / s.size)
        assert abs(np.corrcoef(s[0], s[1])[0, 1]) < 5 / np.sqrt(npar)
        L = np.array([core.loss_terms(zp, 0) for zp in z])  # (P, T+1, 5)
        if g == 0:
            L[:, :, 2:] = 0.0  # generation 0 evaluates no data
        total = L.sum(axis=2)
        ranks = [np.argsort(total[:, t_], kind="stable") for t_ in range(T + 1)]
        gm = np.array([u @ s[ranks[owner[v]], v] for v in range(npar)])
        gs = np.array([u @ (s[ranks[owner[v]], v] ** 2 - 1) for v in range(npar)])
        assert np.allclose(core.mean, mu + sigma * gm, rtol=1e-12, atol=1e-14)
        assert np.allclose(core.step_sizes, np.minimum(sigma * np.exp(eta * gs), 1.0), rtol=1e-12)


def test_plots_and_parity_data(tmp_path, frames):
    pytest.importorskip("matplotlib")
    from pynepcg import plot
    model, loss = _train(frames[:4], tmp_path, generation=20)
    d = plot.read_loss(tmp_path)
    assert list(d) == ["generation", *tr.LOSS_COLUMNS] and np.allclose(d["RMSE_F_train"], loss["RMSE_F_train"], atol=1e-5)
    f = plot.parity_data(tmp_path, "force")
    assert len(f["predicted"]) == 4 * 16 * 3 and list(f["component"][:3]) == ["x", "y", "z"]
    assert np.allclose(f["target"], np.concatenate([a.get_forces().ravel() for a in frames[:4]]), atol=1e-5)
    plot.loss(loss, path=tmp_path / "loss.png")
    plot.parity(tmp_path, path=tmp_path / "parity.png")
    for name in ("loss.png", "parity.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_fine_tune_takes_our_species_from_a_foundation_model(tmp_path, teacher, frames):
    _train(frames[:3], tmp_path / "foundation", generation=10)
    base = pynepcg.read_nep_model(str(tmp_path / "foundation" / "nep.txt"))
    restart = np.loadtxt(tmp_path / "foundation" / "nep.restart")
    carbon = []
    for k in range(3):
        a = random_structure(["C"], 8, 5.0, seed=70 + k, min_distance=1.6)
        r = teacher.compute(a)
        a.calc = SinglePointCalculator(a, energy=r.energy, forces=r.forces, stress=r.stress)
        carbon.append(a)
    ft = ("fine_tune", (tmp_path / "foundation" / "nep.txt", tmp_path / "foundation" / "nep.restart", 0))
    opts = pynepcg._core.parse_nep_in(pynepcg.Trainer(type=["C"], generation=0, **dict([ft]), **ARCH).nep_in)
    core = pynepcg._core.Trainer(opts, [pynepcg._core.make_training_structure(pynepcg.System.from_ase(a))
                                        for a in carbon], [], "", False)
    block = (base.n_max_radial + 1 + 4 * (base.n_max_angular + 1) + 2) * base.neurons1
    assert np.array_equal(core.mean[:block], restart[block:2 * block, 0])  # type C = index 1
    assert core.mean[block] == restart[2 * block, 0]  # global bias
    nk = (base.n_max_radial + 1) * (base.basis_size_radial + 1)
    c_r = restart[2 * block + 1:2 * block + 1 + 4 * nk].reshape(nk, 2, 2, 2)  # (nk, a, b, mu/sigma)
    assert np.array_equal(core.mean[block + 1:block + 1 + nk], c_r[:, 1, 1, 0])
    assert not core.step_sizes[block + 1:].any()  # fd = 0 freezes the descriptor coefficients
    assert np.array_equal(core.q_scaler, base.q_scaler)
    with pytest.raises(ValueError, match="architecture"):
        opts2 = pynepcg._core.parse_nep_in(pynepcg.Trainer(type=["C"], generation=0, **dict([ft]),
                                                           **{**ARCH, "neuron": 6}).nep_in)
        pynepcg._core.Trainer(opts2, [pynepcg._core.make_training_structure(pynepcg.System.from_ase(carbon[0]))],
                              [], "", False)


def test_prediction_mode_through_python(tmp_path, frames):
    _train(frames[:3], tmp_path, generation=10)
    os.remove(tmp_path / "energy_train.out")
    model, loss = pynepcg.Trainer(type=["Si", "C"], prediction=1, **ARCH).fit(frames[:3], directory=tmp_path,
                                                                               progress=False)
    e = np.loadtxt(tmp_path / "energy_train.out")
    assert loss == {} and np.allclose(e[:, 0], [model.compute(a).energy / 16 for a in frames[:3]], atol=1e-5)
    # the error names what differs (ARCH: n_max 3 3, basis 4 4, l_max 4, 5 neurons; defaults 6 6, 8, 30 -> 7)
    with pytest.raises(ValueError, match=r"does not match nep.in: n_max radial \(nep.in: 6; nep.txt: 3\).*"
                                         r"neuron \(nep.in: 7; nep.txt: 5\)"):
        pynepcg.Trainer(type=["Si", "C"], prediction=1, neuron=7).fit(frames[:3], directory=tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"types \(nep.in: C Si; nep.txt: Si C\)"):
        pynepcg.Trainer(type=["C", "Si"], prediction=1, **ARCH).fit(frames[:3], directory=tmp_path, progress=False)


def test_resume_on_other_data_warns_and_continues(tmp_path, frames):
    import warnings as _w

    _train(frames[:4], tmp_path, generation=10)
    with _w.catch_warnings():
        _w.simplefilter("error")  # the same data: no warning
        _train(frames[:4], tmp_path, generation=20)
    with pytest.warns(UserWarning, match=r"other training data \(4 training and 0 test structures; now 5 and 0"):
        _, loss = _train(frames[:5], tmp_path, generation=30)
    assert list(loss["generation"]) == [10, 20, 30]  # continued, not restarted
    # The same counts with a relabelled structure are other data too.
    relabelled = [f.copy() for f in frames[:5]]
    for f, g in zip(relabelled, frames[:5]):
        f.calc = SinglePointCalculator(f, energy=g.get_potential_energy(), forces=g.get_forces())
    relabelled[2].calc.results["energy"] += 0.01
    with pytest.warns(UserWarning, match="now 5 and 0, or the same counts with other structures, labels or zbl.in"):
        _train(relabelled, tmp_path, generation=40)


def test_checkpoint_of_version_1_still_resumes(tmp_path, frames):
    """Checkpoints written before the data fingerprint (version 1, no 'data' line) resume as before."""
    import warnings as _w

    _train(frames[:4], tmp_path, generation=10)
    path = tmp_path / "nepcg.checkpoint"
    lines = path.read_text().splitlines()
    assert lines[0] == "nepcg_trainer_checkpoint 2" and lines[5].startswith("data 4 0 ")
    path.write_text("\n".join(["nepcg_trainer_checkpoint 1"] + lines[1:5] + lines[6:]) + "\n")
    with _w.catch_warnings():
        _w.simplefilter("error")
        _, loss = _train(frames[:5], tmp_path, generation=20)
    assert list(loss["generation"]) == [10, 20]


def test_types_inferred_from_mixed_beads_and_atoms_in_order_of_appearance():
    """AACG data (beads and atoms in one structure): the inferred types are the species the atoms
    use, first appearance first; before, types were taken from atom indices (a crash)."""
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(2):
        s = pynepcg.System(["W", "W", "O", "H"] * 4, rng.random((16, 3)) * 8, np.eye(3) * 8,
                           masses=np.full(16, 10.0))
        s.arrays["forces"] = rng.normal(size=(16, 3))
        s.info["energy"] = -1.0
        frames.append(s)
    trainer = pynepcg.Trainer(generation=2, output_interval=1, **ARCH)
    model, _ = trainer.fit(frames, directory=None, progress=False)
    assert list(model.model.elements) == ["W", "O", "H"]


def test_last_generation_is_reported_when_not_a_multiple_of_output_interval(tmp_path, frames):
    """generation=25 with output_interval=10: reports at 10, 20 and 25, and the returned model and
    nep.txt are generation 25's (before, the last 5 generations were dropped silently)."""
    model, loss = _train(frames[:4], tmp_path, generation=25)
    assert list(loss["generation"]) == [10, 20, 25]
    written = pynepcg.NEP(tmp_path / "nep.txt").compute(frames[0]).energy
    assert written == pytest.approx(model.compute(frames[0]).energy, rel=1e-6)
    assert (tmp_path / "energy_train.out").is_file()
    # Fewer generations than output_interval: one report, a trained model.
    _, loss = _train(frames[:4], None, generation=5)
    assert list(loss["generation"]) == [5]


def test_ctrl_c_stops_training_between_generations(tmp_path, frames):
    pynepcg.io.write(tmp_path / "train.xyz", [pynepcg.System.from_ase(f) for f in frames[:4]])
    script = ("import pynepcg\n"
              "t = pynepcg.Trainer(type=['Si', 'C'], generation=10**7, output_interval=10**6, cutoff=(4.0, 3.0),"
              " n_max=(3, 3), basis_size=(4, 4), l_max=(4, 0, 0), neuron=5)\n"
              "print('ready', flush=True)\n"
              "try:\n"
              f"    t.fit(r'{tmp_path / 'train.xyz'}', directory=None, progress=False)\n"
              "except KeyboardInterrupt:\n"
              "    print('interrupted', t._core.generation > 0, flush=True)\n")
    out, seconds = interrupt_after_ready(script, wait=3.0)
    assert "interrupted True" in out, out
    assert seconds < 10


def test_loss_out_columns_stay_apart_for_huge_values_and_nep_in_byte_order_mark(tmp_path, frames):
    """A loss wider than GPUMD's column (lambda_1 = 1e20) ran into the next column and loss.out
    could not be read back; a nep.in saved with a byte-order mark lost its first keyword."""
    _train(frames[:3], tmp_path, generation=2, output_interval=1, lambda_1=1e20)
    rows = np.loadtxt(tmp_path / "loss.out")
    assert rows.shape == (2, 10) and rows[0, 2] > 1e15
    # values that fit keep GPUMD's fixed columns exactly (%-8d, %-11.5f x 3, %-13.5f x 6)
    _train(frames[:3], tmp_path / "plain", generation=1, output_interval=1)
    line = (tmp_path / "plain" / "loss.out").read_text().splitlines()[0]
    row = [float(x) for x in line.split()]
    assert line == (f"{int(row[0]):<8d}" + "".join(f"{v:<11.5f}" for v in row[1:4])
                    + "".join(f"{v:<13.5f}" for v in row[4:]))
    (tmp_path / "nep.in").write_bytes(b"\xef\xbb\xbftype 2 Si C\ngeneration 3\n")
    assert pynepcg.Trainer(tmp_path / "nep.in")._parse().types == ["Si", "C"]
