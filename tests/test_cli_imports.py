"""`edge-fer --help` and every subcommand's --help load no numpy, cv2, scipy or TensorFlow.

A fresh interpreter each time: the test process itself has long imported them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "cv2", "scipy", "tensorflow", "keras", "openvino", "ai_edge_litert")

PROBE = """
import json, sys
from edge_fer.cli import cli
try:
    cli.main(args=sys.argv[1:], prog_name="edge-fer", standalone_mode=False)
finally:
    heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(os.environ_heavy)))
    print("HEAVY=" + json.dumps(heavy))
""".replace("os.environ_heavy", repr(json.dumps(HEAVY)))


@pytest.mark.parametrize("args", [
    ["--help"], ["--version"], ["train", "--help"], ["evaluate", "--help"],
    ["convert", "--help"], ["profile", "--help"], ["profile", "show", "--help"],
    ["profile", "check", "--help"], ["run", "--help"],
])
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60, env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert proc.returncode == 0, proc.stderr
    assert "Usage: edge-fer" in proc.stdout or "version" in proc.stdout, proc.stdout
    heavy = json.loads(proc.stdout.rsplit("HEAVY=", 1)[1])
    assert heavy == [], f"edge-fer {' '.join(args)} imported {heavy}"


def test_the_verbose_option_works_after_the_command_name() -> None:
    """-v before or after the subcommand lowers the log threshold the same way (they add up)."""
    code = ("import logging, sys\nfrom edge_fer.cli import cli\n"
            "cli.main(args=sys.argv[1:], prog_name='edge-fer', standalone_mode=False)\n"
            "print('LEVEL', logging.getLogger().level)")
    levels = {}
    for args in (["train", "--help"], ["-v", "train", "--help"], ["train", "-v", "--help"],
                 ["-v", "train", "-v", "--help"]):
        proc = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True,
                              text=True, timeout=60, env={"PYTHONPATH": str(REPO), "PATH": ""})
        assert proc.returncode == 0, proc.stderr
        levels[" ".join(args)] = int(proc.stdout.rsplit("LEVEL", 1)[1])
    assert levels == {"train --help": 30, "-v train --help": 20, "train -v --help": 20,
                      "-v train -v --help": 10}
