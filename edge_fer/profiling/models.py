"""The model a profile times: a converted model file, the shipped one, or an untrained
architecture exported once through the converters' format table and cached."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from edge_fer import __version__
from edge_fer.errors import UserInputError

if TYPE_CHECKING:
    from edge_fer.converters.formats import ExportFormat
    from edge_fer.profiling.schema import ModelIdentity, Profile
    from edge_fer.runtimes.base import Classifier

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def open_model(resources: ExitStack, model_file: str | None, arch: str | None,
               runtime: str | None, threads: int, tta: str | None,
               progress: Progress = _quiet) -> tuple[Classifier, ModelIdentity]:
    """Load the model to time; with `arch`, build and export an untrained one first.

    No file and no arch: the shipped model. Closed with `resources`.
    """
    from edge_fer.manifest import sha256_file
    from edge_fer.profiling.schema import ModelIdentity
    from edge_fer.runtimes.base import is_manifest, load_classifier, runtime_for_path

    if arch is not None:
        runtime = runtime or "tflite"
        path = untrained_model(arch, runtime, progress)
        classifier = resources.enter_context(load_classifier(path, runtime, threads, tta=tta))
        return classifier, ModelIdentity(arch=arch, sha256="untrained")
    if model_file is None or is_manifest(Path(model_file)):
        # A manifest (the shipped model's, or a converted folder's) opens the export it prefers
        # here, and expects the best accuracy its per-size siblings measured at each size.
        from edge_fer.defaults import default_model

        classifier = resources.enter_context(
            load_classifier(model_file or default_model(), runtime, threads, tta=tta))
    else:
        inferred = runtime_for_path(model_file)
        if runtime is not None and runtime != inferred:
            raise UserInputError(f"{model_file}: a {inferred} model cannot run on --runtime {runtime}")
        classifier = resources.enter_context(load_classifier(model_file, inferred, threads, tta=tta))
    loaded = classifier.path
    assert loaded is not None  # load_classifier sets it
    identity = ModelIdentity(arch=classifier.info.arch, sha256=sha256_file(loaded),
                             file=loaded.name)
    return classifier, identity


def model_for_check(resources: ExitStack, profile: Profile, model_file: str | None,
                    progress: Progress = _quiet) -> Classifier:
    """The model `profile check` times: the file (or manifest) given, or the profile's untrained
    arch again.

    It runs with the profile's runtime, threads and TTA (the file's own when the profile does
    not say); a file that is not the profiled one is timed with a warning.
    """
    from edge_fer.manifest import sha256_file
    from edge_fer.runtimes.base import load_classifier

    s = profile.settings
    if model_file is None:
        if not profile.model.untrained:
            raise UserInputError(f"the profile timed {profile.model.file or 'a model file'} "
                                 f"(sha256 {profile.model.sha256[:12]}); pass it with --model")
        path = untrained_model(profile.model.arch, s.runtime, progress)
        return resources.enter_context(load_classifier(path, s.runtime, s.threads, tta=s.tta))
    classifier = resources.enter_context(load_classifier(model_file, s.runtime, s.threads,
                                                         tta=s.tta))
    loaded = classifier.path
    assert loaded is not None  # load_classifier sets it
    if not profile.model.untrained and sha256_file(loaded) != profile.model.sha256:
        progress(f"warning: {loaded.name} is not the model that was profiled "
                 f"({profile.model.file})")
    return classifier


def untrained_format(runtime: str) -> ExportFormat:
    """The float32 export format of `runtime` (converters.formats): what an --arch profile times."""
    from edge_fer.converters.formats import FORMATS

    for fmt in FORMATS.values():
        if fmt.runtime == runtime and fmt.variant == "fp32":
            return fmt
    runtimes = sorted({f.runtime for f in FORMATS.values()})
    raise UserInputError(f"--arch needs --runtime {' or '.join(runtimes)}, not '{runtime}'")


def export_untrained(arch: str, runtime: str, directory: Path) -> Path:
    """Build `arch` with random weights and export it for `runtime` (needs TensorFlow).

    Latency does not depend on the weights, so a device can be profiled before any training.
    """
    from edge_fer.card import ModelCard, card_path_for
    from edge_fer.model import build_model

    fmt = untrained_format(runtime)
    keras_model = build_model(arch)
    # Keras prints the exported signature (hundreds of lines) on stdout, where the profile
    # summary goes: keep it for the debug log instead.
    chatter = io.StringIO()
    with contextlib.redirect_stdout(chatter):
        path = fmt.export(keras_model, directory)
    log.debug("export output:\n%s", chatter.getvalue())
    ModelCard(arch=arch, resolution=64,
              details={"weights": "untrained", "purpose": "latency profiling only"}
              ).save(card_path_for(path))
    return path


def untrained_cache_dir() -> Path:
    """Where exported untrained networks are kept: $EDGE_FER_CACHE, else ~/.cache/edge-fer."""
    base = os.environ.get("EDGE_FER_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edge-fer"
    return Path(base) / "untrained"


def untrained_model(arch: str, runtime: str, progress: Progress = _quiet) -> Path:
    """An exported untrained `arch` for `runtime`, built once and then taken from the cache.

    Building and exporting takes TensorFlow and a minute; `profile check` of an --arch
    profile then runs without either, as it must on a device that has only the runtime.
    """
    fmt = untrained_format(runtime)
    from edge_fer.hardware import package_version

    tf = package_version("tensorflow") or package_version("tensorflow-cpu") or "none"
    directory = untrained_cache_dir() / f"{arch}-{fmt.key}-tf{tf}-edge-fer{__version__}"
    path = directory / fmt.file_name
    if path.exists():
        progress(f"using the untrained {arch} exported before: {path}")
        return path
    progress(f"building an untrained {arch} and exporting it for {runtime} (once)...")
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=directory.parent))
    except OSError as e:  # a read-only home: export for this run only
        log.warning("cannot cache the untrained model (%s); exporting to a temporary folder", e)
        return export_untrained(arch, runtime, Path(tempfile.mkdtemp(prefix="edge-fer-")))
    try:
        export_untrained(arch, runtime, staging)
        staging.rename(directory)  # atomic: a half-exported model is never found in the cache
    except OSError:
        if not path.exists():  # not another process finishing the same export first
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path
