"""Loss curves and parity plots of a NEP training run (matplotlib, PNG).

Data come from GPUMD's files (``loss.out``, ``energy_*.out``, ``force_*.out``, ``virial_*.out``,
``stress_*.out``) or from :meth:`pynepcg.Trainer.fit`. :func:`read_loss` returns the columns of
calorine's ``read_loss`` (``generation``, ``total_loss``, ``L1``, ``L2``, ``RMSE_E_train`` ...)
and :func:`parity_data` those of calorine's ``get_parity_data(..., flatten=True)``
(``predicted``, ``target``, ``component``), as numpy arrays in a dict (``pandas.DataFrame(d)``
turns either into calorine's frame). Units: eV/atom, eV/Å, eV/atom (virial), GPa (stress).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .trainer import LOSS_COLUMNS

__all__ = ["read_loss", "parity_data", "loss", "parity"]

_COMPONENTS = {"force": ["x", "y", "z"], "virial": ["xx", "yy", "zz", "xy", "yz", "zx"],
               "stress": ["xx", "yy", "zz", "xy", "yz", "zx"]}
_UNITS = {"energy": "eV/atom", "force": "eV/Å", "virial": "eV/atom", "stress": "GPa"}
_MISSING = -1e6  # GPUMD's placeholder for a missing reference


def read_loss(source) -> dict:
    """Loss history from a ``loss.out`` path, a run directory, or a dict returned by fit()."""
    if isinstance(source, dict):
        return source
    path = Path(source)
    if path.is_dir():
        path = path / "loss.out"
    data = np.loadtxt(path, ndmin=2)
    if data.shape[1] != 10:
        raise ValueError(f"{path}: expected 10 columns (a potential model's loss.out), got {data.shape[1]}")
    out = {"generation": data[:, 0].astype(int)}
    out.update({name: data[:, k + 1] for k, name in enumerate(LOSS_COLUMNS)})
    return out


def parity_data(directory, property: str = "force", split: str = "train") -> dict:
    """Predicted and target values from ``<property>_<split>.out`` in ``directory``, one row per
    value (structures without a reference are dropped)."""
    if property not in ("energy", *_COMPONENTS):
        raise ValueError(f"property must be energy, force, virial or stress; got {property!r}")
    data = np.loadtxt(Path(directory) / f"{property}_{split}.out", ndmin=2)
    half = data.shape[1] // 2
    predicted, target = data[:, :half], data[:, half:]
    keep = ~np.any(target == _MISSING, axis=1)
    predicted, target = predicted[keep], target[keep]
    out = {"predicted": predicted.ravel(), "target": target.ravel()}
    if property in _COMPONENTS:
        out["component"] = np.tile(_COMPONENTS[property], len(predicted))
    return out


def loss(source, path=None, ax=None):
    """Log-scale loss curves (total, regularisation and train/test RMSEs) against generation.
    Saves a PNG when ``path`` is given; returns the matplotlib figure."""
    import matplotlib

    if ax is None and path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    d = read_loss(source)
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 4))
    g = d["generation"]
    for name, style in (("total_loss", "k-"), ("L1", "k:"), ("L2", "k--"), ("RMSE_E_train", "C0-"),
                        ("RMSE_F_train", "C1-"), ("RMSE_V_train", "C2-"), ("RMSE_E_test", "C0--"),
                        ("RMSE_F_test", "C1--"), ("RMSE_V_test", "C2--")):
        y = np.asarray(d[name])
        if np.any(y > 0):
            ax.plot(g, np.where(y > 0, y, np.nan), style, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("generation")
    ax.set_ylabel("loss / RMSE (eV/atom, eV/Å)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    if path is not None:
        fig.savefig(os.fspath(path), dpi=150)
    return fig


def parity(directory, split: str = "train", path=None, properties=("energy", "force", "virial")):
    """Parity plots (predicted against target) with RMSEs, one panel per property found in
    ``directory``. Saves a PNG when ``path`` is given; returns the matplotlib figure."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    found = [p for p in properties if (Path(directory) / f"{p}_{split}.out").is_file()]
    if not found:
        raise FileNotFoundError(f"no {split} parity files in {directory}")
    fig, axes = plt.subplots(1, len(found), figsize=(3.6 * len(found), 3.4), squeeze=False)
    for ax, prop in zip(axes[0], found):
        d = parity_data(directory, prop, split)
        x, y = d["target"], d["predicted"]
        if len(x):
            lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
            ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
            ax.plot(x, y, ".", ms=2, alpha=0.5)
            rmse = np.sqrt(np.mean((x - y) ** 2))
            ax.set_title(f"{prop} ({split}): RMSE {rmse:.4g} {_UNITS[prop]}", fontsize=8)
        ax.set_xlabel(f"target ({_UNITS[prop]})")
        ax.set_ylabel(f"predicted ({_UNITS[prop]})")
    fig.tight_layout()
    if path is not None:
        fig.savefig(os.fspath(path), dpi=150)
    return fig
