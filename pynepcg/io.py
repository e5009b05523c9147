"""Reading and writing structures.

* Extended XYZ (``.xyz``, ``.extxyz``; GPUMD's ``model.xyz``/``train.xyz``): our C++ reader and
  writer (streaming, exact round trip, errors with file and line).
* CIF and PDB/mmCIF: through gemmi (crystal structures: all sites of the unit cell; PDB water
  boxes: the CRYST1 cell and per-atom residue indices in ``arrays['residue']``).
* Anything else ASE can read (``format=`` passed to :func:`ase.io.read`), converted.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import numpy as np

from . import _core
from .errors import FileFormatError
from .system import System, from_ase, to_ase

__all__ = ["read", "iread", "write", "parse", "format", "from_ase", "to_ase"]

_XYZ = {".xyz", ".extxyz", ".exyz"}
_CIF = {".cif", ".mmcif"}
_PDB = {".pdb", ".ent", ".pdb1"}


def _kind(path, fmt):
    if os.path.isdir(path):  # (else: an empty file for our reader, a cryptic error from ASE's)
        raise IsADirectoryError(f"'{path}' is a directory, not a structure file")
    if fmt:
        return fmt.lower()
    ext = os.path.splitext(str(path))[1].lower()
    if ext in _XYZ:
        return "extxyz"
    if ext in _CIF:
        return "cif"
    if ext in _PDB:
        return "pdb"
    return "ase"


def iread(path, format: str | None = None) -> Iterator[System]:
    """Yields the frames of a file one at a time (extended XYZ is streamed)."""
    kind = _kind(path, format)
    if kind == "extxyz":
        yield from _core.ExtxyzReader(str(path))
    else:
        yield from read(path, index=":", format=format)


def read(path, index=-1, format: str | None = None):
    """Reads structures from ``path``.

    index: an int (one frame, default the last, as ASE does), a slice, or ``":"`` for all frames
    (a list). format: ``extxyz``, ``cif``, ``pdb``, or any ASE format name; by default from the
    file extension.
    """
    kind = _kind(path, format)
    if kind == "extxyz":
        frames = _core.read_extxyz(str(path))
    elif kind == "cif":
        frames = [_read_cif(str(path))]
    elif kind == "pdb":
        frames = [_read_gemmi_structure(str(path))]
    else:
        import ase.io

        images = ase.io.read(str(path), index=":", format=None if kind == "ase" else kind)
        frames = [from_ase(a) for a in images]
    if isinstance(index, str):
        if index != ":":
            raise ValueError(f"read: index must be an int, a slice or ':'; got {index!r}")
        return frames
    if isinstance(index, slice):
        return frames[index]
    if not frames:
        err = FileFormatError(f"{path}: no frames")
        err.filename, err.lineno, err.reason = str(path), 0, "no frames"
        raise err
    return frames[index]


def write(path, systems, append: bool = False, format: str | None = None) -> None:
    """Writes one System (or ASE Atoms) or a sequence of them. Extended XYZ by default."""
    if isinstance(systems, System) or not isinstance(systems, Iterable):
        systems = [systems]
    frames = [s if isinstance(s, System) else from_ase(s) for s in systems]
    kind = _kind(path, format)
    if kind == "extxyz":
        _core.write_extxyz(str(path), frames, append)
    else:
        import ase.io

        ase.io.write(str(path), [to_ase(s) for s in frames], format=None if kind == "ase" else kind, append=append)


def parse(text: str, name: str = "<string>") -> list[System]:
    """Frames of an extended-XYZ text."""
    return _core.parse_extxyz(text, name)


def format(systems) -> str:  # noqa: A001 - mirrors parse()
    """Extended-XYZ text of one System or a sequence of them."""
    if isinstance(systems, System):
        systems = [systems]
    return _core.format_extxyz(list(systems))


def _cell_rows(cell) -> np.ndarray:
    # gemmi's orthogonalisation matrix has the lattice vectors as columns.
    return np.array(cell.orth.mat.tolist(), dtype=float).T


def _read_cif(path: str) -> System:
    import gemmi

    try:
        doc = gemmi.cif.read(path)
    except Exception as e:  # gemmi raises RuntimeError/ValueError with its own line info
        raise FileFormatError(f"{path}: {e}") from None
    block = doc.sole_block() if len(doc) == 1 else doc[0]
    if block.find_value("_atom_site.Cartn_x") is not None or block.find_loop("_atom_site.Cartn_x"):
        return _read_gemmi_structure(path)
    try:
        small = gemmi.make_small_structure_from_block(block)
    except Exception as e:
        raise FileFormatError(f"{path}: {e}") from None
    sites = small.get_all_unit_cell_sites()
    if not sites:
        raise FileFormatError(f"{path}: no atom sites found")
    frac = np.array([[s.fract.x, s.fract.y, s.fract.z] for s in sites])
    cell = _cell_rows(small.cell)
    species = [s.element.name if s.element.name != "X" else s.type_symbol for s in sites]
    return System(species, np.ascontiguousarray(frac @ cell), cell=cell, pbc=True)


def _read_gemmi_structure(path: str) -> System:
    import gemmi

    try:
        st = gemmi.read_structure(path)
    except Exception as e:
        raise FileFormatError(f"{path}: {e}") from None
    if len(st) == 0:
        raise FileFormatError(f"{path}: no models")
    species, pos, residue = [], [], []
    r = 0
    for chain in st[0]:
        for res in chain:
            for atom in res:
                species.append(atom.element.name)
                pos.append([atom.pos.x, atom.pos.y, atom.pos.z])
                residue.append(r)
            r += 1
    if not species:
        raise FileFormatError(f"{path}: no atoms")
    if st.cell.is_crystal():
        s = System(species, np.array(pos), cell=_cell_rows(st.cell), pbc=True)
    else:
        s = System(species, np.array(pos))
    s.arrays["residue"] = np.array(residue, dtype=np.int64)
    return s
