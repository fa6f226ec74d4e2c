"""Recognise a numpy ABI mismatch (an extension built for numpy 1 under numpy 2, or back).

On Raspberry Pi OS the system's extensions (picamera2's simplejpeg, python3-numpy's users) are
built for numpy 1.24; a venv that pulls numpy 2 over it breaks them at import time with
messages that name neither the package nor the fix. These turn them into one line that does.
"""

from __future__ import annotations

import numpy as np

from edge_fer.errors import pip_install

# What numpy and extensions built for the other numpy major say (ImportError, ValueError,
# AttributeError): pybind11/Cython type checks, the C-API import, the NumPy 2 guard.
_SIGNS = ("numpy.dtype size changed", "compiled using NumPy", "_ARRAY_API",
          "numpy.core.multiarray failed to import", "numpy.core._multiarray_umath",
          "numpy._core.multiarray failed to import", "binary incompatibility")


def is_abi_error(error: BaseException) -> bool:
    """True when `error` (or what it was raised from) is a numpy ABI mismatch."""
    seen: BaseException | None = error
    while seen is not None:
        if any(sign in str(seen) for sign in _SIGNS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def abi_message(package: str) -> str:
    """One line: what broke, the numpy found, and the fix (keep numpy 1 in the venv)."""
    return (f"{package} was built for another numpy than the {np.__version__} installed here "
            f"(numpy ABI mismatch); run: {pip_install('numpy<2', 'opencv-python-headless<4.12')} "
            "(the system numpy of Raspberry Pi OS Bookworm is 1.24)")
