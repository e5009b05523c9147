"""Exceptions raised by pynepcg.

* :class:`FileFormatError` (a ``ValueError``): a malformed input file; has ``filename``,
  ``lineno`` (1-based; 0 when the problem concerns the whole file) and ``reason``.
* :class:`InputError` (a ``ValueError``): a bad argument or inconsistent input.
* ``OSError``: a file that cannot be opened or written.
* ``RuntimeError``: a failure during a computation (e.g. a CUDA call).
"""
from ._core import FileFormatError, InputError

__all__ = ["FileFormatError", "InputError"]
