"""One error hierarchy for edge-fer, and the process exit codes in one place.

Exit codes (documented in README.md):
  0  success
  1  the job ran but its check failed (a budget missed, a verification failed)
  2  bad input a user can fix: a missing or corrupt file, a bad option, wrong data
  3  a runtime failure outside the user's input (camera lost for too long, disk full)
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_RUNTIME = 3


class EdgeFerError(Exception):
    """Base class: the message is shown to the user as one line, without a traceback."""

    exit_code = EXIT_USAGE


class UserInputError(EdgeFerError):
    """A file, option or data set the user gave is missing, unreadable or wrong."""


class DataError(UserInputError):
    """A data set (image folder or CSV) cannot be read or has unknown classes."""


class ModelError(UserInputError):
    """A model file is missing, corrupt, or has the wrong shape."""


def pip_install(*requirements: str) -> str:
    """The exact command that installs `requirements` beside the running edge-fer: this very
    Python (its venv, not whatever `pip` is first on PATH), with pip put back first where a
    device install left it out (edge_fer/bundle/install.sh trims it)."""
    python = sys.executable or "python3"
    command = f"{python} -m pip install " + " ".join(f"'{r}'" for r in requirements)
    if importlib.util.find_spec("pip") is None:
        return f"{python} -m ensurepip && {command}"
    return command


class MissingDependencyError(UserInputError):
    """An optional backend was chosen whose package is not installed."""

    def __init__(self, package: str, extra: str, what: str = "") -> None:
        hint = f" for {what}" if what else ""
        super().__init__(f"the package '{package}' is needed{hint}: {pip_install(f'edge-fer[{extra}]')}")
        self.package = package
        self.extra = extra


class CheckFailed(EdgeFerError):
    """The command ran, but what it verifies did not hold."""

    exit_code = EXIT_CHECK_FAILED


class RuntimeFailure(EdgeFerError):
    """Something outside the user's input failed (device gone for good, disk full)."""

    exit_code = EXIT_RUNTIME


def run_script(main: Callable[[], int]) -> NoReturn:
    """Exit with `main()`'s status; an EdgeFerError is one line on stderr and its exit code.

    For the maintainers' scripts (scripts/*.py), which `edge-fer`'s own handler does not wrap.
    """
    try:
        code = main()
    except EdgeFerError as e:
        print(f"{Path(sys.argv[0]).stem}: {e}", file=sys.stderr)
        code = e.exit_code
    raise SystemExit(code)
