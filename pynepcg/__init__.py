"""pynepcg: coarse-grained (NEP-CG) and multiscale (NEP-AACG) neuroevolution potentials.

Units everywhere are GPUMD's: Å, eV, amu, fs, K (pressure and stress in GPa in user-facing
output, eV/Å^3 in extended XYZ ``stress``).
"""
from . import _core
from ._core import Box, NeighborList, System, get_num_threads, set_num_threads
from .errors import FileFormatError, InputError
from . import system as _system  # installs System.info / System.arrays and conversions
from . import device, ensembles, io, observers, structures
from .simulator import Simulator
from . import trainer
from .trainer import Trainer
from . import mapping, datagen
from .mapping import Mapper
from .neighbors import neighbor_list
from .potentials import EAM, NEP, FusedReplicas, LennardJones, NepModel, Sum, Tersoff, read_nep_model
from . import water
from .water import SPCFw

__version__ = _core.build_info()["version"]

__all__ = [
    "Box",
    "EAM",
    "LennardJones",
    "FileFormatError",
    "FusedReplicas",
    "InputError",
    "NEP",
    "NepModel",
    "NeighborList",
    "SPCFw",
    "Simulator",
    "Sum",
    "System",
    "Tersoff",
    "Trainer",
    "Mapper",
    "mapping",
    "datagen",
    "device",
    "trainer",
    "cmake_dir",
    "ensembles",
    "observers",
    "get_num_threads",
    "info",
    "io",
    "neighbor_list",
    "read_nep_model",
    "set_num_threads",
    "water",
]


def info(verbose: bool = True) -> dict:
    """What this build contains (OpenMP, CUDA backend) and which GPUs it sees.

    Prints a summary when ``verbose`` and returns the same as a dict.
    """
    if verbose:
        print(_core.build_info_text(), end="")
    return _core.build_info()


def cmake_dir() -> str:
    """Folder with nepcgConfig.cmake, for ``cmake -Dnepcg_DIR=...`` (C++ embedding)."""
    import os

    return os.path.join(os.path.dirname(__file__), "lib", "cmake", "nepcg")
