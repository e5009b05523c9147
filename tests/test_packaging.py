"""The installed programs and the C++ embedding: nepcg, pynepcg, pynepcg.info, cmake example."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.neighborlist import neighbor_list as ase_neighbor_list

import pynepcg

REPO = Path(__file__).resolve().parents[1]
C64 = "nep-models/C64_strained_displaced.xyz"


def program(name):
    """An installed console program: next to the running Python first, then on PATH."""
    here = Path(sys.executable).parent / name
    path = str(here) if here.exists() else shutil.which(name)
    if path is None:
        pytest.fail(f"program {name!r} is not installed (looked in {here.parent} and PATH)")
    return path


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=kw.pop("cwd", "/"), **kw)


def lattice_of(path):
    comment = Path(path).read_text().splitlines()[1]
    m = re.search(r'Lattice="([^"]*)"', comment, flags=re.IGNORECASE)
    return np.array(m.group(1).split(), dtype=float).reshape(3, 3)


def ase_pair_count(path, cutoff):
    import ase.io

    i = ase_neighbor_list("i", ase.io.read(path), cutoff)
    return len(i), np.bincount(i).max()


# ------------------------------------------------------------------ version and info


def test_version_string():
    assert re.fullmatch(r"\d+\.\d+\.\d+", pynepcg.__version__)
    from importlib.metadata import version

    assert version("pynepcg") == pynepcg.__version__


def test_info_dict():
    d = pynepcg.info(verbose=False)
    assert set(d) == {
        "version", "openmp", "max_threads", "cuda_compiled", "cuda_runtime_version", "cuda_driver_version",
        "gpus", "cuda_status",
    }
    assert d["version"] == pynepcg.__version__
    assert isinstance(d["openmp"], bool) and isinstance(d["cuda_compiled"], bool)
    assert isinstance(d["max_threads"], int) and d["max_threads"] >= 1
    assert isinstance(d["gpus"], list) and all(isinstance(g, str) for g in d["gpus"])
    assert isinstance(d["cuda_status"], str) and d["cuda_status"]
    if not d["cuda_compiled"]:
        assert d["gpus"] == []


def test_info_verbose_prints(capsys):
    d = pynepcg.info()
    out = capsys.readouterr().out
    assert f"nepcg {pynepcg.__version__}" in out
    assert ("CUDA backend: compiled" in out) == d["cuda_compiled"]


def test_nepcg_version():
    r = run([program("nepcg"), "--version"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"nepcg {pynepcg.__version__}"
    cuda = pynepcg.info(verbose=False)["cuda_compiled"]
    line = next(x for x in r.stdout.splitlines() if "CUDA backend" in x)
    assert ("not compiled" not in line) == cuda
    assert ("compiled" in line)
    assert "OpenMP" in r.stdout and "GPU" in r.stdout


def test_nepcg_help():
    r = run([program("nepcg"), "--help"])
    assert r.returncode == 0
    assert "usage: nepcg" in r.stdout and "info" in r.stdout and "--version" in r.stdout


def test_nepcg_usage_errors():
    r = run([program("nepcg")])
    assert r.returncode != 0 and "usage" in r.stdout + r.stderr
    r = run([program("nepcg"), "no-such-command"])
    assert r.returncode != 0 and "no-such-command" in r.stderr


def test_nepcg_info_on_c64(shared_data):
    path = shared_data(C64)
    r = run([program("nepcg"), "info", str(path), "4.2"])
    assert r.returncode == 0, r.stderr
    out = r.stdout.strip()
    assert out.startswith("frame 0: 64 atoms, species C,"), out
    pairs, max_n = ase_pair_count(path, 4.2)
    volume = float(re.search(r"volume ([0-9.eE+-]+) A\^3", out).group(1))
    assert volume == pytest.approx(abs(np.linalg.det(lattice_of(path))), rel=1e-5)
    mean = float(re.search(r"mean ([0-9.eE+-]+)", out).group(1))
    assert mean == pytest.approx(pairs / 64, rel=1e-5)
    assert int(re.search(r"max (\d+)", out).group(1)) == max_n


def test_nepcg_info_bad_file(tmp_path):
    missing = tmp_path / "missing.xyz"
    r = run([program("nepcg"), "info", str(missing)])
    assert r.returncode == 1 and "missing.xyz" in r.stderr
    bad = tmp_path / "bad.xyz"
    bad.write_text('1\nProperties=species:S:1:pos:R:3\nC 0 x 0\n')
    r = run([program("nepcg"), "info", str(bad)])
    assert r.returncode == 1 and f"{bad}:3" in r.stderr


def test_pynepcg_program(shared_data):
    r = run([program("pynepcg"), "info"])
    assert r.returncode == 0, r.stderr
    assert f"nepcg {pynepcg.__version__}" in r.stdout
    path = shared_data(C64)
    r = run([program("pynepcg"), "neighbors", str(path), "--cutoff", "4.2"])
    assert r.returncode == 0, r.stderr
    pairs, max_n = ase_pair_count(path, 4.2)
    assert f"frame 0: 64 atoms ['C']" in r.stdout
    assert f"mean {pairs / 64:.3f}, max {max_n}" in r.stdout


# ------------------------------------------------------------------ C++ embedding (cmake example)


def test_cmake_dir_exists():
    d = Path(pynepcg.cmake_dir())
    assert (d / "nepcgConfig.cmake").is_file()
    assert (d / "nepcgConfigVersion.cmake").is_file()


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not available")
def test_cpp_example_builds_and_runs(tmp_path):
    # A rattled, strained diamond cell (no shared data needed): 64 atoms, triclinic.
    from ase.build import bulk

    atoms = bulk("C", "diamond", 3.567, cubic=True) * (2, 2, 2)
    atoms.rattle(0.04, seed=3)
    atoms.set_cell(atoms.cell[:] @ (np.eye(3) + [[0.01, 0.005, 0], [0.005, -0.008, 0.003], [0, 0.003, 0.006]]),
                   scale_atoms=True)
    path = tmp_path / "c64.xyz"
    atoms.write(path, format="extxyz")
    source = REPO / "examples" / "cpp"
    if not (source / "CMakeLists.txt").exists():
        pytest.skip("examples/cpp not in this checkout")
    build = tmp_path / "build"
    configure = ["cmake", "-S", str(source), "-B", str(build), f"-Dnepcg_DIR={pynepcg.cmake_dir()}",
                 "-DCMAKE_BUILD_TYPE=Release"]
    if shutil.which("ninja"):
        configure += ["-G", "Ninja"]
    env = dict(os.environ, CMAKE_BUILD_PARALLEL_LEVEL="2")
    r = run(configure, env=env)
    assert r.returncode == 0, f"configure failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    r = run(["cmake", "--build", str(build)], env=env)
    assert r.returncode == 0, f"build failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    exe = build / "neighbor_stats"
    assert exe.exists()
    r = run([str(exe), str(path), "4.2"])
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(r"atoms (\d+) pairs (\d+) max_neighbors (\d+)", r.stdout.strip())
    assert m, r.stdout
    i, j, S, D = pynepcg.neighbor_list(pynepcg.io.read(path), 4.2)
    pairs, max_n = ase_pair_count(path, 4.2)
    assert int(m.group(1)) == 64
    assert int(m.group(2)) == len(i) == pairs
    assert int(m.group(3)) == max_n
    # errors reach the C++ caller as nepcg::Error
    bad = tmp_path / "bad.xyz"
    bad.write_text("2\nProperties=species:S:1:pos:R:3\nC 0 0 0\n")
    r = run([str(exe), str(bad)])
    assert r.returncode == 1 and "error:" in r.stderr and str(bad) in r.stderr
    # A NEP model evaluated by the embedding program equals calorine's CPUNEP (independent code).
    calorine = pytest.importorskip("calorine.calculators")
    from nep_models import write_random_nep

    model = write_random_nep(tmp_path / "nep.txt", elements=("C",), l_max=(4, 2, 1), seed=4)
    r = run([str(build / "nep_energy"), str(model), str(path)])
    assert r.returncode == 0, r.stderr
    values = [float(x) for x in r.stdout.split()]
    import ase.io

    ref = ase.io.read(path)  # the positions as written (8 decimals), as the program reads them
    ref.calc = calorine.CPUNEP(str(model))
    virial = -ref.get_stress(voigt=False) * ref.get_volume()
    expected = [ref.get_potential_energy(), *ref.get_forces()[0], *np.diag(virial)]
    np.testing.assert_allclose(values, expected, rtol=1e-10, atol=1e-10)
