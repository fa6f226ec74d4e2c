"""`edge-fer bundle`: the folder a device installs from (wheel, model, units, install.sh).

What goes in is read from the model's manifest (its verified exports and their weight files),
never from file names, so a new default model or a new export format needs no change here.
Layout of OUT:

    bundle.json            what was bundled: targets, the runtime extra, the files
    install.sh             `bash OUT/install.sh --prefix PREFIX [--no-service]` on the device
    edge_fer-*.whl         this project
    model/                 manifest.json, the verified exports, their card
    profile.json           with --profile
    systemd/               edge-fer.service, edge-fer.env
    constraints/T.txt      per target: what pip must keep (Bookworm: the system numpy 1)
    wheels/T/              with --with-wheels: every wheel the device needs (offline install)
    check.avi              a short clip of real FER2013 faces install.sh runs the model on
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_fer import __version__
from edge_fer.bundle.targets import Target
from edge_fer.errors import ModelError, RuntimeFailure, UserInputError
from edge_fer.manifest import MANIFEST_NAME, Manifest

log = logging.getLogger(__name__)

BUNDLE_KIND = "edge-fer-bundle"
BUNDLE_SCHEMA = 1
HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent.parent  # a clone: pyproject.toml sits here
# The runtime key of an export -> the extra that installs it (edge-fer[...]).
RUNTIME_EXTRAS = {"tflite": "tflite", "openvino": "openvino"}
# Extras a bundle may ask for, and the runtime key each serves.
EXTRA_RUNTIMES = {"tflite": "tflite", "tflite-runtime": "tflite", "openvino": "openvino"}
CARD_FILES = ("*.card.json", "MODEL_CARD.md")
# What a clone holds besides the source (ignored by git): never copied to build the wheel.
_NOT_SOURCE = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "runs",
               "quickstart", ".whl", ".gl", "*.keras", "training_state.json")


@dataclass(frozen=True)
class BundleConfig:
    out: Path
    model: Path  # a manifest.json or the folder holding one
    targets: tuple[Target, ...]
    profile: Path | None = None
    extra: str | None = None  # None: the extra of the manifest's preferred export
    with_wheels: bool = False
    wheel: Path | None = None  # None: build it from the source tree


def build_bundle(cfg: BundleConfig, echo: Callable[[str], None] = log.info) -> Path:
    """Write the bundle into `cfg.out` (which must be empty or absent); returns bundle.json."""
    if cfg.out.exists() and any(cfg.out.iterdir()):
        raise UserInputError(f"--out {cfg.out}: not empty (a bundle goes into a new folder)")
    manifest_file = cfg.model / MANIFEST_NAME if cfg.model.is_dir() else cfg.model
    if manifest_file.name != MANIFEST_NAME:
        raise UserInputError(f"--model {cfg.model}: expected a {MANIFEST_NAME} from `edge-fer "
                             f"convert` or its folder (a device needs the verified exports)")
    manifest = Manifest.load(manifest_file)
    extra = cfg.extra or _extra_for(manifest, manifest_file)
    runtime = EXTRA_RUNTIMES[extra]
    files = model_files(manifest, manifest_file, runtime)
    for target in cfg.targets:
        target.check_extra(extra)
        if cfg.with_wheels:
            target.check_wheels()
    if cfg.profile is not None:
        from edge_fer.profiling.schema import load_profile

        load_profile(cfg.profile)  # a bad profile stops here, not on the device
    cfg.out.mkdir(parents=True, exist_ok=True)
    try:
        wheel = _wheel(cfg, echo)
        model_dir = cfg.out / "model"
        model_dir.mkdir()
        for f in files:
            shutil.copy2(f, model_dir / f.name)
        if cfg.profile is not None:
            shutil.copy2(cfg.profile, cfg.out / "profile.json")
        (cfg.out / "systemd").mkdir()
        for unit_file in _unit_files():
            shutil.copy2(unit_file, cfg.out / "systemd" / unit_file.name)
        (cfg.out / "constraints").mkdir()
        for target in cfg.targets:
            (cfg.out / "constraints" / f"{target.key}.txt").write_text(
                f"# {target.description}\n" + "".join(f"{c}\n" for c in target.constraints))
            if cfg.with_wheels:
                _download_wheels(wheel, extra, target, cfg.out, echo)
        shutil.copy2(HERE / "install.sh", cfg.out / "install.sh")
        (cfg.out / "install.sh").chmod(0o755)
        shutil.copy2(HERE / "check_clip.avi", cfg.out / "check.avi")
        record = {
            "kind": BUNDLE_KIND, "schema": BUNDLE_SCHEMA, "edge_fer": __version__,
            "wheel": wheel.name, "extra": extra, "runtime": runtime,
            "targets": {t.key: {"machine": t.machine, "python": t.python,
                                "system_site_packages": t.system_site_packages,
                                "wheels": cfg.with_wheels} for t in cfg.targets},
            "model": sorted(f.name for f in files),
            "profile": "profile.json" if cfg.profile is not None else None,
        }
        (cfg.out / "bundle.json").write_text(json.dumps(record, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(cfg.out, ignore_errors=True)  # no half-made bundle to copy by mistake
        raise
    return cfg.out / "bundle.json"


def model_files(manifest: Manifest, manifest_file: Path, runtime: str) -> list[Path]:
    """The device's share of a model folder: the manifest, the verified exports that `runtime`
    loads (with their weight files), and the card; never the Keras model."""
    chosen = manifest.preferred(runtime)
    if not chosen:
        raise ModelError(f"{manifest_file}: no verified export for the {runtime} runtime")
    folder = manifest_file.parent
    names = dict.fromkeys(n for a in chosen for n in (a.file, *a.extra_files))
    files = [manifest_file] + [folder / n for n in names]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise ModelError(f"{manifest_file}: listed but missing: {', '.join(missing)}")
    return files + sorted(p for pattern in CARD_FILES for p in folder.glob(pattern))


def _extra_for(manifest: Manifest, origin: Path) -> str:
    preferred = manifest.preferred()
    if not preferred:
        raise ModelError(f"{origin}: no verified export to bundle")
    return RUNTIME_EXTRAS[preferred[0].runtime]


def _unit_files() -> list[Path]:
    folder = HERE.parent / "systemd"  # the wheel's copy, or (in a clone) a link to systemd/
    files = sorted(folder.glob("*.service")) + sorted(folder.glob("*.env"))
    if not files:
        raise RuntimeFailure(f"{folder}: no systemd unit (a broken install of edge-fer)")
    return files


def _wheel(cfg: BundleConfig, echo: Callable[[str], None]) -> Path:
    """The project's wheel in OUT: the one given, or built from the source tree."""
    if cfg.wheel is not None:
        if cfg.wheel.suffix != ".whl" or not cfg.wheel.is_file():
            raise UserInputError(f"--wheel {cfg.wheel}: not a wheel file")
        return Path(shutil.copy2(cfg.wheel, cfg.out / cfg.wheel.name))
    if not (PROJECT_ROOT / "pyproject.toml").is_file():
        raise UserInputError("no source tree to build the wheel from: pass --wheel FILE")
    echo(f"building the edge-fer wheel from {PROJECT_ROOT}")
    with tempfile.TemporaryDirectory() as tmp:
        # From a clean copy: setuptools builds in the tree and reuses its build/ folder, where
        # files deleted since the last build would still be found and packed.
        source = Path(tmp) / "src"
        shutil.copytree(PROJECT_ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
        _pip("wheel", "--no-deps", "--wheel-dir", tmp, str(source))
        built = sorted(Path(tmp).glob("edge_fer-*.whl"))
        if not built:
            raise RuntimeFailure(f"pip wheel {PROJECT_ROOT} wrote no edge_fer wheel")
        return Path(shutil.copy2(built[0], cfg.out / built[0].name))


def _download_wheels(wheel: Path, extra: str, target: Target, out: Path,
                     echo: Callable[[str], None]) -> None:
    dest = out / "wheels" / target.key
    dest.mkdir(parents=True)
    echo(f"downloading the wheels for {target.key} (Python {target.python}, {target.machine})")
    platforms = [arg for tag in target.platforms for arg in ("--platform", tag)]
    _pip("download", "--dest", str(dest), "--only-binary=:all:", "--python-version", target.python,
         "--implementation", "cp", *platforms, "--constraint",
         str(out / "constraints" / f"{target.key}.txt"), f"{wheel}[{extra}]")
    (dest / wheel.name).unlink(missing_ok=True)  # the bundle carries it once, at the top


def _pip(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", *args, "--quiet",
                             "--disable-pip-version-check"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()
                 and not ln.startswith("WARNING: Location")]
        detail = lines[-1] if lines else f"exit status {result.returncode}"
        raise RuntimeFailure(f"pip {args[0]} failed: {detail}")
