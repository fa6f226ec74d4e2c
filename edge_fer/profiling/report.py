"""A profile in words, for people: `profile show`'s summary and the hints after a sweep."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_fer.tta import TTA_MODES, images_per_frame

if TYPE_CHECKING:
    from edge_fer.model_info import ModelInfo
    from edge_fer.profiling.schema import Profile


def _expected(accuracy: float | None) -> str:
    return "expected unknown" if accuracy is None else f"expected {accuracy:.1%}"


def lighter_tta_hint(chosen: int, info: ModelInfo) -> str | None:
    """Advice when the pick fell below the model's trained size while TTA multiplies its work.

    Why: away from its trained size the network loses 10-30 points (README), while a lighter
    TTA costs about one; on a slow device the better trade is usually to keep the size.
    """
    if chosen >= info.resolution or info.tta == "none":
        return None
    lighter = [t for t in TTA_MODES if images_per_frame(t) < images_per_frame(info.tta)]
    return (f"hint: the pick {chosen} px is below the {info.resolution} px the model was "
            f"trained at, and tta {info.tta} makes each face {images_per_frame(info.tta)} "
            f"images a frame; profile again with --tta {lighter[-1]} to keep "
            f"{info.resolution} px")


def describe(profile: Profile) -> list[str]:
    """A readable summary of a profile, for people."""
    m, s, stat = profile.machine, profile.settings, profile.settings.statistic
    memory = f", {m.memory_bytes / 2**30:.1f} GiB" if m.memory_bytes else ""
    model = ("untrained (latency only)" if profile.model.untrained
             else f"{profile.model.file or 'model'} sha256 {profile.model.sha256[:12]}")
    if s.pipeline:
        p = s.pipeline
        timed = (f"whole pipeline: {p.detector} on a {p.frame_width}x{p.frame_height} frame "
                 f"+ {p.faces} face(s)")
    else:
        timed = f"classifier only, {s.faces} face(s) per call"
    timed += f"; tta {s.tta or 'not recorded'}"
    pick = profile.pick
    lines = [
        f"machine     {m.cpu}, {m.cores} cores, {m.arch}{memory}; {m.os}; Python {m.python}",
        f"software    {m.runtime} ({m.runtime_version}), OpenCV {m.opencv}, {m.threads} thread(s)",
        f"model       {profile.model.arch}, {model}",
        f"timed       {timed}",
        f"budget      {s.budget_ms:g} ms on the {stat}; the pick kept "
        f"{100 * s.headroom:g}% under it ({s.target_ms:.3g} ms)",
        f"chosen      {pick.resolution} px: predicted {pick.predicted_ms:.2f} ms, measured "
        f"{pick.measured_ms:.2f} ms ({profile.fit_used} fit, {len(pick.attempts)} measurement(s))",
        f"accuracy    {_expected(pick.expected_accuracy)}; why: "
        f"{pick.reason or 'the largest size within the budget (an older profile)'}",
        f"created     {profile.created} by edge-fer {profile.edge_fer_version}",
        "",
        "  resolution   median ms    p90 ms    p99 ms       n",
    ]
    for x in profile.measurements:
        lines.append(f"  {x.resolution:>10} {x.median_ms:>11.2f} {x.p90_ms:>9.2f} "
                     f"{x.p99_ms:>9.2f} {x.n:>7}")
    for sk in profile.skipped:
        lines.append(f"  {sk.resolution:>10}   skipped: {sk.reason}")
    lines += ["", "  fit        LOO rms ms  LOO max ms  LOO rms rel"]
    for rec in profile.fits:
        if rec.loo_rms_ms is None or rec.loo_max_ms is None or rec.loo_rms_rel is None:
            lines.append(f"  {rec.name:<9}  (too few points for leave-one-out)")
        else:
            used = "  <- used" if rec.name == profile.fit_used else ""
            lines.append(f"  {rec.name:<9} {rec.loo_rms_ms:>10.3f} {rec.loo_max_ms:>11.3f} "
                         f"{100 * rec.loo_rms_rel:>11.1f}%{used}")
    if len(pick.attempts) > 1:
        tried = ", ".join(f"{a.resolution} px {a.measured.stat(stat):.2f} ms"
                          for a in pick.attempts)
        lines.append(f"\nclosed loop: {tried}")
    if profile.throttled is None:
        lines.append("thermal: not readable on this machine")
    elif profile.throttled:
        lines.append(f"thermal: THROTTLED during the sweep ({', '.join(profile.throttled)})")
    else:
        lines.append("thermal: no throttling during the sweep")
    lines += [f"note: {n}" for n in profile.notes]
    return lines
