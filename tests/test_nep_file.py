"""nep.txt reading and writing: GPUMD's files reproduced character for character, exact round
trips, files we write load in calorine with identical results, and clear errors for bad files."""
from __future__ import annotations

import numpy as np
import pytest

import pynepcg
from nep_models import random_structure, write_random_nep


@pytest.mark.parametrize("name, lines, dim", [("C_2022_NEP4.txt", 6974, 65), ("Si_2022_NEP4_3body.txt", 3154, 55)])
def test_gpumd_models_counts_and_character_exact_rewrite(shared_data, tmp_path, name, lines, dim):
    path = shared_data(f"nep-models/{name}")
    model = pynepcg.read_nep_model(path)
    assert model.dim == dim  # spec §1.3 worked checks
    original = path.read_text().splitlines()
    assert len(original) == lines
    written = model.to_string("gpumd").splitlines()
    assert len(written) == lines
    # header: the same tokens; parameter lines: identical characters (GPUMD's %15.7e)
    for a, b in zip(original[:6], written[:6]):
        assert a.split() == b.split()
    assert original[6:] == written[6:]


def test_exact_round_trip_is_bit_identical(tmp_path):
    path = write_random_nep(tmp_path / "a.txt", elements=("C", "H", "O"), l_max=(4, 2, 1, 1), zbl=(1.0, 2.0),
                            typewise_rc=[(4.0, 3.0), (3.5, 3.0), (4.5, 3.2)], seed=4)
    m = pynepcg.read_nep_model(path)
    m.ann = m.ann + np.random.default_rng(0).normal(size=m.ann_size) * 1e-7  # not representable in 8 digits
    m.write(tmp_path / "b.txt")
    m2 = pynepcg.read_nep_model(tmp_path / "b.txt")
    for field in ("ann", "c_radial", "c_angular", "q_scaler"):
        assert np.array_equal(getattr(m, field), getattr(m2, field)), field
    assert list(m2.cutoff_radial) == list(m.cutoff_radial)
    assert m2.zbl == "universal" and m2.typewise_cutoff
    assert m2.to_string() == m.to_string()


@pytest.mark.parametrize("kw", [dict(elements=("C", "H"), l_max=(4, 2, 1, 1, 1)),
                                dict(elements=("C", "O"), flexible_zbl=True),
                                dict(elements=("Pb", "Te"), zbl=(1.2, 2.4, 0.8))])
def test_written_model_loads_in_calorine_with_identical_results(tmp_path, kw):
    calorine = pytest.importorskip("calorine.calculators")
    m = pynepcg.read_nep_model(write_random_nep(tmp_path / "a.txt", seed=1, **kw))
    m.write(tmp_path / "ours.txt")
    atoms = random_structure(kw["elements"], 12, 5.0, seed=6)
    a = atoms.copy()
    a.calc = calorine.CPUNEP(str(tmp_path / "ours.txt"))
    r = pynepcg.NEP(tmp_path / "ours.txt").compute(atoms)
    assert r.energy == pytest.approx(a.get_potential_energy(), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(r.forces, a.get_forces(), atol=1e-10)


def test_model_edits_through_python(tmp_path):
    m = pynepcg.read_nep_model(write_random_nep(tmp_path / "a.txt", elements=("C",), seed=2))
    atoms = random_structure(("C",), 8, 4.0, seed=1)
    e0 = pynepcg.NEP(m).compute(atoms).energy
    ann = m.ann
    ann[-1] += 0.25  # the global output bias b: U_i -= b for every atom
    m.ann = ann
    assert pynepcg.NEP(m).compute(atoms).energy == pytest.approx(e0 - 0.25 * len(atoms), rel=1e-12)


def _lines(path):
    return path.read_text().splitlines()


def _error(tmp_path, text):
    p = tmp_path / "bad.txt"
    p.write_text(text)
    with pytest.raises(pynepcg.FileFormatError) as e:
        pynepcg.read_nep_model(p)
    assert e.value.filename == str(p)
    return e.value


def test_truncated_file(tmp_path):
    lines = _lines(write_random_nep(tmp_path / "a.txt", elements=("C",)))
    e = _error(tmp_path, "\n".join(lines[:-10]) + "\n")
    assert "file ends after" in str(e) and "header implies" in str(e)


def test_extra_parameters(tmp_path):
    lines = _lines(write_random_nep(tmp_path / "a.txt", elements=("C",)))
    e = _error(tmp_path, "\n".join(lines + ["0.5"]) + "\n")
    assert e.lineno == len(lines) + 1 and "more numbers" in str(e)


def test_unknown_header_keyword(tmp_path):
    lines = _lines(write_random_nep(tmp_path / "a.txt", elements=("C",)))
    lines[2] = "nmax 4 3"
    e = _error(tmp_path, "\n".join(lines) + "\n")
    assert e.lineno == 3 and "'nmax'" in str(e)


def test_unsupported_model_kind(tmp_path):
    lines = _lines(write_random_nep(tmp_path / "a.txt", elements=("C",)))
    lines[0] = "nep4_dipole 1 C"
    e = _error(tmp_path, "\n".join(lines) + "\n")
    assert e.lineno == 1 and "not supported" in str(e)


def test_non_number_and_blank_line_in_parameters(tmp_path):
    lines = _lines(write_random_nep(tmp_path / "a.txt", elements=("C",)))
    bad = list(lines)
    bad[20] = "abc"
    e = _error(tmp_path, "\n".join(bad) + "\n")
    assert e.lineno == 21 and "'abc'" in str(e)
    bad = list(lines)
    bad[30] = ""
    e = _error(tmp_path, "\n".join(bad) + "\n")
    assert e.lineno == 31 and "blank line" in str(e)


def test_element_count_mismatch(tmp_path):
    lines = _lines(write_random_nep(tmp_path / "a.txt", elements=("C", "H")))
    lines[0] = "nep4 3 C H"
    e = _error(tmp_path, "\n".join(lines) + "\n")
    assert e.lineno == 1


def test_missing_file():
    with pytest.raises(OSError):
        pynepcg.read_nep_model("/nonexistent/nep.txt")


def test_huge_or_negative_header_integers_name_their_line(tmp_path):
    """Header integers out of range are FileFormatErrors with the line, not MemoryError or a
    bare ValueError from sizing arrays (found by fuzzing)."""
    lines = _lines(write_random_nep(tmp_path / "a.txt", elements=("C",)))
    ann = next(k for k, line in enumerate(lines) if line.startswith("ANN"))
    for value, match in (("2147483648", "out of range"), ("-1", "neurons"), ("99999", "neurons")):
        bad = list(lines)
        bad[ann] = f"ANN {value} 0"
        e = _error(tmp_path, "\n".join(bad) + "\n")
        assert e.lineno == ann + 1 and match in str(e), (value, str(e))
    cut = next(k for k, line in enumerate(lines) if line.startswith("cutoff"))
    bad = list(lines)
    bad[cut] = " ".join(bad[cut].split()[:3] + ["-1", "10"])
    e = _error(tmp_path, "\n".join(bad) + "\n")
    assert "neighbour counts" in str(e)


def test_non_finite_parameter_names_its_line(tmp_path):
    lines = _lines(write_random_nep(tmp_path / "a.txt", elements=("C",)))
    bad = list(lines)
    bad[25] = "nan"
    e = _error(tmp_path, "\n".join(bad) + "\n")
    assert e.lineno == 26 and "finite" in str(e)


@pytest.mark.parametrize("zbl_line", ["zbl 1.2 2.4 nan", "zbl 1.2 nan 0.7", "zbl 2.4 1.2 0.7", "zbl 1.2 2.4 -1",
                                      "zbl 1.2 inf"])
def test_bad_zbl_lines_are_refused(tmp_path, zbl_line):
    lines = _lines(write_random_nep(tmp_path / "a.txt", elements=("Pb", "Te"), zbl=(1.2, 2.4, 0.7)))
    assert lines[1].startswith("zbl")
    lines[1] = zbl_line
    e = _error(tmp_path, "\n".join(lines) + "\n")
    assert "ZBL" in str(e) or "finite" in str(e)
