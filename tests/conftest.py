"""Shared fixtures for the pynepcg tests.

Reference data: ``shared_data(name)`` returns the path of a data file, looked up in
``tests/data/<name>`` (vendored copies, preferred), ``tests/data/<basename of name>``, then in the
shared data folder: ``$PYNEPCG_SHARED_DATA`` or ``<repo>/../shared/data``. A test whose file is in
none of them is skipped.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path, PurePath

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
TESTS_DATA = REPO / "tests" / "data"


def _use_installed_package() -> None:
    # `python -m pytest` puts the working directory (the repository root) first on sys.path, where
    # the source folder pynepcg/ (no compiled _core) would shadow the installed package.
    if any((REPO / "pynepcg").glob("_core*")):
        return  # an in-place build: the source folder is importable
    sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != REPO]


_use_installed_package()


def shared_data_root() -> Path:
    env = os.environ.get("PYNEPCG_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def find_data(name: str) -> Path | None:
    """Path of a reference file (see the module docstring), or None when it is nowhere."""
    for candidate in (TESTS_DATA / name, TESTS_DATA / PurePath(name).name, shared_data_root() / name):
        if candidate.exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def shared_data():
    """``shared_data("nep-models/C64_strained_displaced.xyz")`` -> Path (skips when absent)."""

    def get(name: str) -> Path:
        path = find_data(name)
        if path is None:
            pytest.skip(f"reference file {name!r} not found in {TESTS_DATA} or {shared_data_root()} "
                        "(set PYNEPCG_SHARED_DATA)")
        return path

    return get


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="module")
def gold():
    """The Zhou-Johnson-Wadley (2004) gold EAM, tabulated by pynepcg."""
    import pynepcg

    return pynepcg.EAM.zhou_gold()


@pytest.fixture(scope="module")
def gold_setfl(tmp_path_factory, gold):
    """The same model written as a LAMMPS setfl file."""
    path = tmp_path_factory.mktemp("eam") / "Au_zhou.eam.alloy"
    gold.write_setfl(path)
    return path


@pytest.fixture
def one_thread():
    """Runs a test on one OpenMP thread: small systems (tens to hundreds of atoms) gain nothing
    from threads, and oversubscribed cores (CI, a busy laptop) make OpenMP catastrophically slow."""
    import pynepcg

    before = pynepcg.get_num_threads()
    pynepcg.set_num_threads(1)
    yield
    pynepcg.set_num_threads(before)


def pytest_collection_modifyitems(config, items):
    """NEPCG_EMULATION_QUICK=1 (CI's run of tests/test_gpu.py on the CPU emulation of CUDA, see
    docs/gpu.md): the first parametrization of each GPU test only (for each site-kernel width), and
    none marked emulation_slow, so that every GPU code path runs in about two minutes; without it,
    all (~9 minutes on 2 cores)."""
    if os.environ.get("NEPCG_EMULATION_QUICK") != "1":
        return
    seen = set()
    skip = pytest.mark.skip(reason="NEPCG_EMULATION_QUICK: first parametrization of each GPU test only")
    for item in items:
        if item.get_closest_marker("gpu") is None:
            continue
        # (per site-kernel width too: the 16-lane kernel is a path of its own)
        key = (item.nodeid.split("[", 1)[0], "lanes16" in item.nodeid)
        if key in seen or item.get_closest_marker("emulation_slow") is not None:
            item.add_marker(skip)
        seen.add(key)
