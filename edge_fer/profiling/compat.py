"""Whether a profile fits the model and machine `edge-fer run` uses, and what it sets for the run.

A profile's pick holds for the threads and TTA it was timed with, on the machine and runtime
that timed it: `load_for_run` takes those as the run's defaults (refusing a pick or thread
count no device runs), `RunProfile.warn_mismatches` says where the run differs (a warning,
never a failure: the profile may still be the best guess).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge_fer import validate
from edge_fer.tta import images_per_frame

if TYPE_CHECKING:
    from edge_fer.profiling.schema import Profile
    from edge_fer.runtimes.base import Classifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunProfile:
    """The profile a run uses (None: no --profile) and the settings it leads to."""

    path: str
    profile: Profile | None
    threads: int | None  # the run's threads: given, else the profile's
    tta: str  # the run's TTA: given, else the profile's ("model": the file's own)

    @property
    def resolution(self) -> int | None:
        """The input size to run at: the profile's pick (None: the model's own)."""
        return None if self.profile is None else self.profile.chosen_resolution

    def warn_mismatches(self, classifier: Classifier) -> None:
        """Warn (not fail) where the run differs from what was profiled: its pick may not hold."""
        if self.profile is not None:
            warn_mismatches(self.path, self.profile, classifier, self.threads)


def load_for_run(path: str | None, threads: int | None, tta: str) -> RunProfile:
    """Read the profile at `path` (if any); the run's threads and TTA default to its own."""
    if not path:
        return RunProfile("", None, threads, tta)
    from edge_fer.profiling.schema import load_profile

    profile = load_profile(path)
    # A pick or thread count no device runs: a 4000 px pick never finishes a frame.
    validate.resolution(profile.chosen_resolution, path, "pick.resolution")
    validate.whole(profile.settings.threads, path, "settings.threads", 1, validate.MAX_THREADS)
    if threads is None:
        threads = profile.settings.threads  # the pick holds for the threads it was timed with
    if tta == "model" and profile.settings.tta is not None:
        tta = profile.settings.tta  # ... and for the TTA it was timed with
    return RunProfile(path, profile, threads, tta)


def warn_mismatches(path: str, profile: Profile, classifier: Classifier,
                    threads: int | None) -> None:
    """One warning for each way this machine, runtime, model or TTA differs from the profile's."""
    for diff in profile.fingerprint_differences(threads):
        log.warning("%s was measured on another machine: %s", path, diff)
    if profile.settings.runtime != classifier.key:
        log.warning("%s was measured with the %s runtime, this model runs on %s", path,
                    profile.settings.runtime, classifier.key)
    if profile.model.arch not in (classifier.info.arch, "unknown"):
        log.warning("%s was measured for %s, this model is %s", path, profile.model.arch,
                    classifier.info.arch)
    table = classifier.info.accuracy
    ranking = table.ranking_tta(classifier.info.tta) if table is not None else None
    covered = (table is not None and ranking is not None
               and table.expected(classifier.resolution, ranking) is not None)
    if covered:
        log.info("%s chose %d px: %s", path, classifier.resolution,
                 f"expected accuracy {profile.pick.expected_accuracy:.1%}"
                 if profile.pick.expected_accuracy is not None else "within the model's table")
    elif classifier.resolution != classifier.info.resolution:
        # A network works at the size it was trained at (its accuracy table, when it has one,
        # says how much it keeps elsewhere; this one has none covering the pick).
        log.warning("%s chose %d px, but %s was trained at %d px: its accuracy falls away from "
                    "that size; fine-tune it at %d px for this device (edge-fer train --profile "
                    "%s --weights MODEL.keras; docs/profile.md)",
                    path, classifier.resolution, classifier.path or "the model",
                    classifier.info.resolution, classifier.resolution, path)
    timed, used = profile.settings.tta, classifier.info.tta
    if timed is not None and images_per_frame(used) > images_per_frame(timed):
        log.warning("%s was measured with tta %s, this run uses tta %s (%d images a face a "
                    "frame): its pick may not hold; profile with this tta", path, timed, used,
                    images_per_frame(used))
