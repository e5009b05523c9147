"""Training NEP models: :class:`Trainer` (GPUMD's ``nep`` with the same keywords and files).

The optimiser is GPUMD's separable natural evolution strategy (SNES) with its loss, type-wise
ranking, regularisation, batches and output schedule; see ``docs/training.md``. Hyper-parameters
are GPUMD's ``nep.in`` keywords, given as a ``nep.in`` file and/or as Python keywords with the
same names and defaults::

    trainer = Trainer(type=["Te", "Pb"], generation=2000, seed=1)
    model, loss = trainer.fit("train.xyz", test="test.xyz", directory="run")

Units: energies eV, forces eV/Å, virials eV (positive = compressed), cutoffs Å. Species need not
be chemical elements (coarse-grained beads); :func:`gpumd_aliases` gives element-like names for
files meant for GPUMD.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from . import _core
from .errors import FileFormatError, InputError
from .device import resolve_device
from .potentials import NEP
from .system import System, from_ase

__all__ = ["Trainer", "FitResult", "LOSS_COLUMNS", "read_training_set", "predict", "gpumd_aliases",
           "write_gpumd_model", "KEYWORDS"]

#: Column names of ``loss.out`` (as calorine's ``read_loss``), after the generation.
LOSS_COLUMNS = ("total_loss", "L1", "L2", "RMSE_E_train", "RMSE_F_train", "RMSE_V_train",
                "RMSE_E_test", "RMSE_F_test", "RMSE_V_test")

#: Every nep.in keyword the trainer accepts (GPUMD's, plus ``seed``).
KEYWORDS = ("type", "version", "model_type", "mode", "prediction", "type_weight", "zbl",
            "use_typewise_cutoff_zbl", "cutoff", "n_max", "basis_size", "l_max", "neuron",
            "lambda_1", "lambda_2", "lambda_e", "lambda_f", "lambda_v", "lambda_shear", "lambda_q",
            "lambda_z", "force_delta", "batch", "population", "generation", "output_interval",
            "save_potential", "output_descriptor", "import_q_scaler", "fine_tune", "initial_para",
            "sigma0", "charge_mode", "vdw", "charge_vdw", "atomic_v", "seed")


class FitResult(NamedTuple):
    """What :meth:`Trainer.fit` returns: the trained model (best individual of the last report,
    as GPUMD's nep.txt) and the loss history as columns (``generation`` plus
    :data:`LOSS_COLUMNS`)."""

    model: NEP
    loss: dict


def _keyword_line(key: str, value, types: Sequence[str] | None) -> str:
    """One nep.in line from a Python value (numbers, sequences, booleans, dicts per type)."""
    if key == "type":
        names = value.split() if isinstance(value, str) else [str(v) for v in value]
        return f"type {len(names)} " + " ".join(names)
    if key == "type_weight" and isinstance(value, dict):
        if types is None:
            raise InputError("Trainer: type_weight as a dict needs 'type'")
        unknown = set(value) - set(types)
        if unknown:
            raise InputError(f"Trainer: type_weight names {sorted(unknown)} are not in 'type' {list(types)}")
        value = [value.get(t, 1.0) for t in types]
    if key == "fine_tune":
        value = [os.fspath(v) if isinstance(v, os.PathLike) else v for v in value]
    if key == "cutoff" and not isinstance(value, str):
        value = np.asarray(value, dtype=object).ravel().tolist()
    if key == "use_typewise_cutoff_zbl" and value is True:
        return key
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        items = [int(v) if isinstance(v, bool) else v for v in value]
        return key + " " + " ".join(repr(v) if isinstance(v, float) else str(v) for v in items)
    return f"{key} {value!r}" if isinstance(value, float) else f"{key} {value}"


def _line_keyword(line: str) -> list:
    """[keyword] of a nep.in line ([] for blank and comment lines); ``#pynepcg seed S`` is
    pynepcg's seed keyword written behind GPUMD's comment sign."""
    words = line.split()
    if words[:1] == ["#pynepcg"]:
        words = words[1:]
    return " ".join(words).split("#", 1)[0].split()[:1]


def _as_structures(data, what: str) -> list:
    """Training structures from a path, a System/ASE Atoms, or a sequence of them."""
    if data is None:
        return []
    if isinstance(data, (str, os.PathLike)):
        return _core.read_training_set(os.fspath(data))
    if isinstance(data, (System, _core.TrainingStructure)) or hasattr(data, "get_positions"):
        data = [data]
    out = []
    for k, item in enumerate(data):
        if isinstance(item, _core.TrainingStructure):
            out.append(item)
            continue
        system = item if isinstance(item, System) else from_ase(item)
        try:
            out.append(_core.make_training_structure(system, "", k + 1))
        except ValueError as e:
            raise InputError(f"{what}: {e}") from None
    if not out:
        raise InputError(f"{what}: the data set is empty")
    return out


def _warn_non_periodic(data, what: str) -> None:
    """GPUMD's nep, and this trainer, take every structure as periodic along all three axes; a
    frame that says otherwise (a cluster, a slab) is trained with its periodic images, which a
    later NEP evaluation of the same frame as given does not have."""
    free = [d for d in data if not all(d.system.box.pbc)]
    if free:
        warnings.warn(f"{what}: {len(free)} of {len(data)} structures are not periodic along every axis "
                      f"(first: {free[0].where()}); they are trained as periodic, as GPUMD's nep does",
                      stacklevel=3)


def read_training_set(path) -> list:
    """Structures with labels from a GPUMD ``train.xyz``-style file (errors name file and line)."""
    return _core.read_training_set(os.fspath(path))


class Trainer:
    """Trains a NEP model with GPUMD's SNES.

    ``nep_in``: optional path to a ``nep.in`` file; keywords override or extend it. Every GPUMD
    keyword is accepted with GPUMD's syntax, defaults and limits (``type``, ``cutoff``,
    ``n_max``, ``basis_size``, ``l_max``, ``neuron``, ``lambda_1`` ... ``lambda_shear``,
    ``force_delta``, ``type_weight``, ``zbl``, ``batch``, ``population``, ``generation``,
    ``output_interval``, ``save_potential``, ``prediction``, ``fine_tune``, ...), plus ``seed``
    for reproducible runs. Values are numbers, sequences for multi-value keywords
    (``cutoff=(8, 4)``, ``n_max=(4, 4)``, ``neuron=30``) and names for ``type``
    (``type=["Te", "Pb"]``; inferred from the training data in order of appearance if absent).
    Unknown keywords, out-of-range values and contradictions raise :class:`InputError`.

    ``zbl_in``: GPUMD's flexible ZBL, a ``zbl.in`` file of T(T+1)/2 lines of 10 numbers (r1 r2
    alpha1 beta1 ... alpha4 beta4 for the type pairs (0,0), (0,1), ..., (T-1,T-1); r2 at most
    the pair's angular cutoff), used when ``zbl`` is set, as GPUMD does (``zbl``'s r_out and
    ``use_typewise_cutoff_zbl`` are then ignored); default: the ``zbl.in`` beside ``nep_in``. The
    model is written with ``zbl 0 0`` and these parameters, and the run folder gets a copy.

    ``device``: where the population is evaluated, "cpu", "cuda" or "auto" (the GPU when one is
    usable; see :mod:`pynepcg.device`). The GPU evaluates models with l_max <= 4 and one hidden
    layer (others fall back to the CPU inside it) to round-off of the CPU; every other part of
    the algorithm (SNES, ranking, random numbers, files) is the same code on both.

    ``precision``: "double" (default) or "single". On the CPU, single evaluates the population
    16 individuals per SIMD pack in float instead of 8 in double (parameters and cached basis
    rounded to float, each structure's sums in float): about twice the generations per second.
    The SNES stays in double, and the reported errors (loss.out's RMSE columns, parity files)
    and nep.txt's energy shift are computed in double from the model. On the GPU it selects the
    single-precision site kernel (parameters rounded to float each generation; force, virial
    and loss sums in double), for one hidden layer and 1 <= l_max <= 4. Loss terms agree with
    double within the single-precision tolerance (docs/training.md, docs/gpu.md), so a seeded
    run's history follows the double one until two individuals' losses are closer than that
    and swap ranks; a checkpoint resumes bit for bit with the same device and precision.
    """

    def __init__(self, nep_in=None, device: str = "auto", precision: str = "double", zbl_in=None, **hyperparameters):
        self.device = resolve_device(device)
        if precision not in ("double", "single"):
            raise InputError(f"Trainer: precision must be 'double' or 'single', not {precision!r}")
        self.precision = precision
        unknown = set(hyperparameters) - set(KEYWORDS)
        if unknown:
            raise InputError(f"Trainer: unknown hyper-parameter(s) {sorted(unknown)}; nep.in keywords are {KEYWORDS}")
        self._base_lines: list[str] = []
        self._source = "<keywords>"
        if nep_in is not None:
            path = Path(nep_in)
            if not path.is_file():
                raise FileNotFoundError(f"Trainer: no nep.in at '{path}'")
            self._source = str(path)
            # (utf-8-sig: a byte-order mark some editors write is dropped)
            self._base_lines = path.read_text(encoding="utf-8-sig").splitlines()
        # GPUMD's flexible ZBL: zbl.in beside nep.in (GPUMD reads both from its working folder)
        self._zbl_in_given = zbl_in is not None
        if zbl_in is not None:
            self._zbl_in = Path(zbl_in)
            if not self._zbl_in.is_file():
                raise FileNotFoundError(f"Trainer: no zbl.in at '{self._zbl_in}'")
        else:
            self._zbl_in = Path(nep_in).parent / "zbl.in" if nep_in is not None else None
        self._keywords = dict(hyperparameters)
        if "type" not in self._keywords and not self._has_type_line():
            self._options = None  # resolved from the data in fit()
        else:
            self._options = self._parse()

    # -- hyper-parameters -------------------------------------------------------------------
    def _has_type_line(self) -> bool:
        return any(line.split()[:1] == ["type"] for line in self._base_lines)

    def _text(self, types=None) -> str:
        return self._text_and_origins(types)[0]

    def _text_and_origins(self, types=None) -> tuple[str, list]:
        """The nep.in text parsed: the file's lines less those a keyword overrides, then the
        keywords; and for each text line where it came from (a file line number, or a keyword
        name), so that an error names the file's own line or the keyword."""
        given = set(self._keywords)
        lines, origins = [], []
        for number, line in enumerate(self._base_lines, start=1):
            head = _line_keyword(line)
            if head and (head[0] in given or (head[0] == "mode" and "model_type" in given)):
                continue  # overridden by a keyword
            lines.append(line)
            origins.append(number)
        kw = dict(self._keywords)
        if types is not None and "type" not in kw and not self._has_type_line():
            kw["type"] = list(types)
        tnames = kw.get("type")
        if isinstance(tnames, str):
            tnames = tnames.split()
        if tnames is None:
            for line in self._base_lines:
                t = line.split("#", 1)[0].split()
                if t[:1] == ["type"]:
                    tnames = t[2:]
        # 'type' first: type_weight and per-type cutoffs must follow it.
        order = sorted(kw, key=lambda k: 0 if k == "type" else 1)
        head = [_keyword_line("type", kw["type"], None)] if "type" in kw else []
        tail = [k for k in order if k != "type"]
        text = "\n".join(head + lines + [_keyword_line(k, kw[k], tnames) for k in tail]) + "\n"
        return text, ["type"] * len(head) + origins + tail

    def _parse(self, types=None):
        options = self._parse_text(types)
        if self._zbl_in is not None and self._zbl_in.is_file():
            if not _core.load_zbl_in(options, os.fspath(self._zbl_in)):
                message = f"{self._zbl_in}: flexible ZBL parameters need the 'zbl' keyword (GPUMD ignores zbl.in without it)"
                if self._zbl_in_given:
                    raise InputError(f"Trainer: {message}")
                warnings.warn(f"Trainer: {message}; the file is not used", stacklevel=3)
        return options

    def _parse_text(self, types=None):
        text, origins = self._text_and_origins(types)
        try:
            return _core.parse_nep_in(text, self._source)
        except FileFormatError as e:
            origin = origins[e.lineno - 1] if 0 < e.lineno <= len(origins) else None
            if isinstance(origin, int):  # a line of the nep.in file: its own number
                err = FileFormatError(f"{self._source}:{origin}: {e.reason}")
                err.filename, err.lineno, err.reason = self._source, origin, e.reason
                raise err from None
            if origin is not None:  # a keyword given to the Trainer
                raise InputError(f"Trainer: keyword {origin}={self._keywords.get(origin, types)!r}: {e.reason}") from None
            raise InputError(str(e)) from None
        except ValueError as e:
            raise InputError(str(e)) from None

    @property
    def nep_in(self) -> str:
        """The effective nep.in text (keywords that differ from GPUMD's defaults)."""
        if self._options is None:
            raise InputError("Trainer: 'type' is not known yet (it is inferred from the data in fit())")
        return self._options.to_text()

    def write_nep_in(self, path) -> None:
        Path(path).write_text(self.nep_in)

    # -- training ----------------------------------------------------------------------------
    def fit(self, train, test=None, directory=".", progress: bool = True, resume: bool = True) -> FitResult:
        """Trains on ``train`` (path to train.xyz, or Systems / ASE Atoms with energy, forces,
        virial or stress), reporting on ``test``. GPUMD's files (nep.txt, loss.out,
        energy/force/virial/stress_train/test.out, nep.restart) and the checkpoint
        ``nepcg.checkpoint`` are written to ``directory`` (None: write nothing). With
        ``prediction=1`` the ``nep.txt`` in ``directory`` is evaluated on ``train`` instead
        (GPUMD's prediction mode: ``*_train.out``, ``descriptor.out`` with ``output_descriptor``). With ``resume``
        a checkpoint in ``directory`` continues the run bit-identically; Ctrl-C stops between two
        generations (KeyboardInterrupt) with the checkpoint of the last report kept.

        Returns ``FitResult(model, loss)``.
        """
        train_data = _as_structures(train, "training set")
        test_data = _as_structures(test, "test set")
        _warn_non_periodic(train_data, "training set")
        note = _core.missing_label_note(train_data, "training set")
        if note:
            warnings.warn(note, stacklevel=2)
        _warn_non_periodic(test_data, "test set")
        options = self._options or self._parse(_species_in_order(train_data))
        self._options = options
        if options.prediction:
            # GPUMD's prediction mode: evaluate <directory>/nep.txt on the data, write *_train.out
            if directory is None:
                raise InputError("Trainer: 'prediction 1' needs a directory holding nep.txt")
            _core.predict_directory(options, train_data, os.fspath(directory))
            return FitResult(NEP(Path(directory) / "nep.txt"), {})
        directory_str = ""
        if directory is not None:
            Path(directory).mkdir(parents=True, exist_ok=True)
            directory_str = os.fspath(directory)
            (Path(directory) / "nep.in").write_text(options.to_text())
            zbl = np.asarray(options.zbl_flexible).reshape(-1, 10)
            target = Path(directory) / "zbl.in"
            if len(zbl) and not (target.exists() and self._zbl_in is not None and target.samefile(self._zbl_in)):
                # (the folder then holds GPUMD's whole input: nep.in, zbl.in, train.xyz)
                target.write_text("".join(" ".join(repr(float(v)) for v in row) + "\n" for row in zbl))
        core = _core.Trainer(options, train_data, test_data, directory_str, resume, self.device, self.precision)
        self._core = core
        if core.resume_warning:
            warnings.warn(core.resume_warning, stacklevel=2)
        total = options.generation
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, initial=core.generation, unit="gen", desc="NEP training")
        chunk = max(1, min(options.output_interval, 50))
        try:
            while not core.finished:
                ran = core.run(chunk)
                if bar is not None:
                    bar.update(ran)
                    h = core.history
                    if len(h):
                        bar.set_postfix(loss=f"{h[-1, 1]:.4g}", F=f"{h[-1, 5]:.4g}")
        finally:
            if bar is not None:
                bar.close()
        return FitResult(NEP(core.best_model()), self.loss)

    @property
    def loss(self) -> dict:
        """Loss history of the last fit: ``generation`` and :data:`LOSS_COLUMNS` as arrays."""
        h = self._core.history
        out = {"generation": h[:, 0].astype(int)}
        for k, name in enumerate(LOSS_COLUMNS):
            out[name] = h[:, k + 1].copy()
        return out

    @property
    def mean_model(self) -> NEP:
        """The mean of the search distribution (not what GPUMD writes, often slightly better)."""
        return NEP(self._core.mean_model())


def _species_in_order(data) -> list[str]:
    """The species the atoms of `data` use, in order of first appearance (structure, then atom)."""
    names: list[str] = []
    for s in data:
        sysm = s.system
        types = np.asarray(sysm.types)
        _, first = np.unique(types, return_index=True)
        for t in types[np.sort(first)]:
            name = sysm.type_names[int(t)]
            if name not in names:
                names.append(name)
    return names


def predict(model, structures, directory=None, suffix: str = "train") -> list[dict]:
    """Evaluates ``model`` (NEP, NepModel or path) on labelled structures; returns per structure
    ``energy`` (eV), ``energies`` (eV/atom), ``forces`` (eV/Å, (N, 3)), ``virial`` (eV, xx yy zz
    xy yz zx). With ``directory`` also writes GPUMD's parity files ``*_<suffix>.out``."""
    m = _model_of(model)
    data = _as_structures(structures, "prediction data")
    if directory is not None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        _core.write_parity_files(os.fspath(directory), suffix, data, m)
    return _core.predict_structures(m, data)


def _model_of(model):
    if isinstance(model, NEP):
        return model.model
    if isinstance(model, _core.NepModel):
        return model
    return NEP(model).model


def gpumd_aliases(species: Sequence[str]) -> dict[str, str]:
    """Element-like names for species that are not chemical elements (GPUMD reads element
    symbols in nep.txt and model.xyz). Element names map to themselves; every other name gets
    the lightest element symbol not already used, in order. The mapping only renames: masses
    and all parameters are kept."""
    from ase.data import chemical_symbols

    elements = set(chemical_symbols[1:95])
    used = {s for s in species if s in elements}
    pool = (e for e in chemical_symbols[1:95] if e not in used)
    return {s: (s if s in elements else next(pool)) for s in species}


def write_gpumd_model(model, path, aliases: dict[str, str] | None = None) -> dict[str, str]:
    """Writes ``model`` as a nep.txt that GPUMD reads: bead names replaced by element-like
    aliases (default :func:`gpumd_aliases`), and the mapping written next to it as
    ``<path>.names`` (one ``alias name`` per line). Returns the mapping name -> alias."""
    m = _model_of(model).copy()
    aliases = aliases or gpumd_aliases(list(m.elements))
    m.elements = [aliases[e] for e in m.elements]
    m.write(os.fspath(path))
    Path(str(path) + ".names").write_text("".join(f"{aliases[e]} {e}\n" for e in aliases))
    return aliases
