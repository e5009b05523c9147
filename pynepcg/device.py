"""Which device runs a computation: ``"cpu"``, ``"cuda"`` or ``"auto"``.

``"auto"`` picks the GPU when this build has the CUDA backend and a device is usable, else the
CPU; the environment variable ``NEPCG_DEVICE=cpu`` (or ``cuda``) overrides what ``"auto"``
picks (also for the ``nepcg`` program). ``"cuda"`` without a usable GPU raises RuntimeError with the driver's reason.
"""
from __future__ import annotations

import os

from . import _core

__all__ = ["cuda_emulated", "gpu_available", "resolve_device"]


def gpu_available() -> tuple[bool, str]:
    """(True, "") when a CUDA device is usable, else (False, reason)."""
    ok, why = _core.gpu_available()
    return bool(ok), str(why)


def cuda_emulated() -> bool:
    """True when this build's CUDA backend is the CPU emulation (``NEPCG_CUDA=EMULATE``): its
    kernels run on the CPU, one fiber per GPU thread, to test the GPU code without a GPU."""
    return bool(getattr(_core, "cuda_emulated", False))


def resolve_device(device: str) -> str:
    """"cpu" or "cuda" for a requested ``device`` ("auto", "cpu" or "cuda")."""
    if device not in ("auto", "cpu", "cuda"):
        raise _core.InputError(f"device must be 'auto', 'cpu' or 'cuda'; got {device!r}")
    if device == "auto":
        forced = os.environ.get("NEPCG_DEVICE", "").strip().lower()
        if forced in ("cpu", "cuda"):
            device = forced
        else:
            # (a build whose CUDA backend is the CPU emulation, NEPCG_CUDA=EMULATE, is for testing:
            # "cuda" names it, "auto" never picks it)
            return "cuda" if gpu_available()[0] and not cuda_emulated() else "cpu"
    if device == "cuda":
        ok, why = gpu_available()
        if not ok:
            raise RuntimeError(f"device='cuda' but no GPU can be used: {why}")
    return device
