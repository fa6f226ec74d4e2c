"""`edge-fer bundle` and its install.sh: what goes in, and install.sh's refusals before it writes.

The full install (pip, the runtime, the check run on the clip) is the slow test at the end;
scripts/check_arm64.sh does the same on arm64 Debian under QEMU.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from edge_fer.bundle.build import model_files
from edge_fer.bundle.targets import TARGETS, get_target
from edge_fer.cli import cli
from edge_fer.defaults import DEFAULT_MODEL_DIR
from edge_fer.errors import UserInputError
from edge_fer.manifest import Manifest

MANIFEST = DEFAULT_MODEL_DIR / "manifest.json"


def invoke(args: list[str]) -> Result:
    result = CliRunner().invoke(cli, args)
    print(result.output)
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for edge-fer's wheel (building the real one takes half a minute): a valid
    zip named like it, enough for the layout and the refusals, never installed."""
    path = tmp_path_factory.mktemp("wheel") / "edge_fer-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("edge_fer/__init__.py", "")
    return path


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "b"
    result = invoke(["bundle", "--out", str(out), "--wheel", str(wheel)])
    assert result.exit_code == 0
    return out


def test_device_files_come_from_the_manifest_never_the_keras_model() -> None:
    manifest = Manifest.load(MANIFEST)
    names = {p.name for p in model_files(manifest, MANIFEST, "tflite")}
    listed = {a.file for a in manifest.preferred("tflite")}
    assert "manifest.json" in names and listed <= names
    assert not any(n.endswith((".keras", ".h5")) or n == "training_state.json" for n in names)


def test_bundle_holds_wheel_model_units_constraints_installer_and_clip(bundle: Path) -> None:
    record = json.loads((bundle / "bundle.json").read_text())
    assert record["extra"] == "tflite" and set(record["targets"]) == {"bookworm-arm64", "x86_64"}
    assert (bundle / record["wheel"]).is_file()
    assert sorted(p.name for p in (bundle / "model").iterdir()) == record["model"]
    assert (bundle / "systemd" / "edge-fer.service").is_file()
    assert "numpy<2" in (bundle / "constraints" / "bookworm-arm64.txt").read_text().split("\n")
    assert "numpy<2" not in (bundle / "constraints" / "x86_64.txt").read_text()
    assert os.access(bundle / "install.sh", os.X_OK) and (bundle / "check.avi").stat().st_size > 0
    assert not (bundle / "wheels").exists()  # only with --with-wheels


def test_openvino_extra_bundles_the_export_verified_for_openvino(tmp_path: Path, wheel: Path) -> None:
    result = invoke(["bundle", "--out", str(tmp_path / "b"), "--wheel", str(wheel),
                     "--extra", "openvino"])
    assert result.exit_code == 0
    record = json.loads((tmp_path / "b" / "bundle.json").read_text())
    manifest = Manifest.load(MANIFEST)
    assert record["runtime"] == "openvino"
    assert {a.file for a in manifest.preferred("openvino")} <= set(record["model"])


def test_bundle_refuses_a_used_folder_and_a_bare_model_file(tmp_path: Path, wheel: Path) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("keep me")
    result = invoke(["bundle", "--out", str(tmp_path / "used"), "--wheel", str(wheel)])
    assert result.exit_code == 2 and "not empty" in result.output
    assert (tmp_path / "used" / "x").read_text() == "keep me"
    model = DEFAULT_MODEL_DIR / "model.card.json"
    result = invoke(["bundle", "--out", str(tmp_path / "b"), "--wheel", str(wheel),
                     "--model", str(model)])
    assert result.exit_code == 2 and "manifest.json" in result.output
    assert not (tmp_path / "b").exists()


def test_armhf_with_ai_edge_litert_is_refused_with_the_way_out(tmp_path: Path, wheel: Path) -> None:
    result = invoke(["bundle", "--out", str(tmp_path / "b"), "--wheel", str(wheel),
                     "--target", "bookworm-armhf"])
    assert result.exit_code == 2 and "--extra tflite-runtime" in result.output
    assert not (tmp_path / "b").exists()


def test_armhf_with_wheels_is_refused_as_pypi_has_none(tmp_path: Path, wheel: Path) -> None:
    result = invoke(["bundle", "--out", str(tmp_path / "b"), "--wheel", str(wheel),
                     "--target", "bookworm-armhf", "--extra", "tflite-runtime", "--with-wheels"])
    assert result.exit_code == 2 and "without --with-wheels" in result.output
    assert result.output.count("\n") == 1 and not (tmp_path / "b").exists()


def test_unknown_target_lists_the_known_ones() -> None:
    with pytest.raises(UserInputError, match="choose from bookworm-arm64"):
        get_target("bookworm-aarch64")
    assert all(t.machine in ("aarch64", "armv7l", "x86_64") for t in TARGETS.values())


# -- install.sh: its refusals happen before anything is written --------------------------------

def _install(bundle: Path, prefix: Path, *args: str, env: dict[str, str] | None = None,
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(bundle / "install.sh"), "--prefix", str(prefix), *args],
                          capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=600)


def _other_arch_bundle(bundle: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "other"
    shutil.copytree(bundle, copy)
    record = json.loads((copy / "bundle.json").read_text())
    mine = platform.machine()
    record["targets"] = {k: v for k, v in record["targets"].items() if v["machine"] != mine}
    (copy / "bundle.json").write_text(json.dumps(record))
    return copy


def test_install_refuses_a_bundle_for_another_machine(bundle: Path, tmp_path: Path) -> None:
    other = _other_arch_bundle(bundle, tmp_path)
    done = _install(other, tmp_path / "prefix", "--no-service")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "edge-fer bundle --target" in done.stderr
    assert not (tmp_path / "prefix").exists()


def test_install_without_python3_venv_says_which_package(bundle: Path, tmp_path: Path) -> None:
    # Debian's python3 without python3-venv has no ensurepip: the same import error here.
    shadow = tmp_path / "no_venv"
    (shadow / "ensurepip").mkdir(parents=True)
    (shadow / "ensurepip" / "__init__.py").write_text("raise ImportError('no ensurepip')\n")
    done = _install(bundle, tmp_path / "prefix", "--no-service",
                    env={"PYTHONPATH": str(shadow)})
    assert done.returncode == 2 and "apt install python3-venv" in done.stderr
    assert done.stderr.count("\n") == 1 and not (tmp_path / "prefix").exists()


def test_install_of_the_service_needs_root_and_systemd_before_anything(bundle: Path,
                                                                      tmp_path: Path) -> None:
    done = _install(bundle, tmp_path / "prefix")
    if os.geteuid() == 0 and Path("/run/systemd/system").is_dir():
        pytest.skip("root on a running systemd: the service would really be installed")
    assert done.returncode == 2 and "--no-service" in done.stderr
    assert not (tmp_path / "prefix").exists()


@pytest.mark.slow  # a venv made (ensurepip): 5-15 s
def test_install_that_fails_in_pip_leaves_nothing_behind(bundle: Path, tmp_path: Path) -> None:
    # The stand-in wheel has no metadata: pip refuses it after the venv was made.
    done = _install(bundle, tmp_path / "prefix", "--no-service")
    assert done.returncode == 2 and "pip could not install edge-fer[tflite]" in done.stderr
    assert not (tmp_path / "prefix").exists()


def test_install_rejects_unknown_options(bundle: Path, tmp_path: Path) -> None:
    done = _install(bundle, tmp_path / "prefix", "--prefx")
    assert done.returncode == 2 and "unknown option '--prefx'" in done.stderr


@pytest.mark.slow
def test_bundle_installs_and_proves_itself_on_the_clip(tmp_path: Path) -> None:
    """The real thing: the wheel built from this tree, pip, the runtime, `edge-fer run`."""
    out = tmp_path / "bundle"
    # x86_64: a plain venv, blind to whatever the test machine's python3 has installed.
    assert invoke(["bundle", "--out", str(out), "--target", "x86_64"]).exit_code == 0
    record = json.loads((out / "bundle.json").read_text())
    names = zipfile.ZipFile(out / record["wheel"]).namelist()
    assert "edge_fer/systemd/edge-fer.service" in names and "edge_fer/bundle/install.sh" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert not any(n.endswith(".keras") for n in names)
    assert "edge_fer/converters/convert.py" in names
    assert {n.split("/")[0] for n in names} == {"edge_fer", record["wheel"].replace(
        "-py3-none-any.whl", ".dist-info")}  # one top-level package: no bare `converters`
    prefix = tmp_path / "device"
    done = _install(out, prefix, "--no-service")
    print(done.stdout, done.stderr)
    assert done.returncode == 0 and "check passed" in done.stdout
    records = [json.loads(line) for line in (prefix / "install-check.jsonl").open()]
    assert any(r["type"] == "face" for r in records)
    venv = subprocess.run([str(prefix / "venv" / "bin" / "python"), "-c",
                           "import importlib.util as u; print([u.find_spec(m) is None for m in "
                           "('scipy', 'pip', 'setuptools', 'numpy.tests')])"],
                          capture_output=True, text=True)
    # The run path needs no scipy; pip, setuptools and test suites are trimmed off.
    assert venv.stdout.strip() == "[True, True, True, True]"
    files = [p for p in (prefix / "venv").resolve().rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 300e6  # issue 31: the device venv <= 300 MB

    # A re-install makes a new venv beside the one in use and switches to it once checked ...
    first = (prefix / "venv").readlink()
    done = _install(out, prefix, "--no-service")
    assert done.returncode == 0, done.stderr
    second = (prefix / "venv").readlink()
    assert second != first and not (prefix / first).exists()
    # ... and one that fails (a broken wheel) leaves the install as it was.
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    (broken / record["wheel"]).write_text("not a wheel")
    done = _install(broken, prefix, "--no-service")
    assert done.returncode == 2 and "pip could not install" in done.stderr
    assert (prefix / "venv").readlink() == second
    assert sorted(p.name for p in prefix.iterdir()) == ["install-check.jsonl", "model", "venv",
                                                        str(second)]
