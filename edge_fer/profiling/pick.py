"""Choosing the resolution from a fitted curve, measured: the largest size within the budget
(closed loop), or the most accurate one by the model's accuracy table."""

from __future__ import annotations

from collections.abc import Callable

from edge_fer.accuracy import AccuracyTable
from edge_fer.errors import CheckFailed
from edge_fer.profiling.fits import largest_within
from edge_fer.profiling.schema import Attempt, FitRecord, Measurement, Pick, SweepSettings

MAX_ATTEMPTS = 12

Progress = Callable[[str], None]


def quiet(_: str) -> None:
    """The default progress callback: say nothing."""


def closed_loop_pick(record: FitRecord, measure: Callable[[int], Measurement],
                     settings: SweepSettings, lo: int, hi: int,
                     progress: Progress = quiet) -> Pick:
    """Solve the fit for the target (budget less headroom), measure, step down until it holds.

    After a miss, the next try solves the fit again with the target scaled by how optimistic
    it just was (measured vs predicted), and is always at least one step lower, so the loop
    ends after a few measurements, never by chance.
    """
    fit, target, stat = record.fit, settings.target_ms, settings.statistic
    step = max(1, settings.multiple_of)
    r = largest_within(fit, target, lo, hi, settings.multiple_of)
    attempts: list[Attempt] = []
    while r is not None and len(attempts) < MAX_ATTEMPTS:
        predicted = fit.predict_one(r)
        m = measure(r)
        attempts.append(Attempt(r, round(predicted, 4), m))
        got = m.stat(stat)
        verdict = "within" if got <= target else "over"
        progress(f"[pick] {r:>4} px: predicted {predicted:.2f} ms, measured {stat} {got:.2f} ms "
                 f"({verdict} the {target:.3g} ms target)")
        if got <= target:
            return Pick(r, round(predicted, 4), got, tuple(attempts))
        if r - step < lo:
            break
        scaled = target * min(1.0, predicted / got) if predicted > 0 else target
        r = min(largest_within(fit, scaled, lo, r - step, settings.multiple_of) or r - step,
                r - step)
    fastest = min((a.measured for a in attempts), key=lambda m: m.stat(stat), default=None)
    raise _nothing_within(settings, stat, lo, fastest)


def _nothing_within(settings: SweepSettings, stat: str, lo: int,
                    fastest: Measurement | None) -> CheckFailed:
    where = (f"; {fastest.resolution} px measured {fastest.stat(stat):.2f} ms" if fastest
             else f"; the fit predicts more even at {lo} px")
    return CheckFailed(f"no resolution meets the {settings.budget_ms:g} ms budget "
                       f"less {100 * settings.headroom:g}% headroom ({stat}){where}")


def accuracy_pick(record: FitRecord, measure: Callable[[int], Measurement],
                  settings: SweepSettings, table: AccuracyTable, lo: int, hi: int,
                  progress: Progress = quiet) -> Pick | None:
    """The size with the highest expected accuracy whose measured latency meets the budget.

    Candidates are the table's measured span on the settings' grid, up to the largest size
    the fit keeps within the target; they are measured best-first until one holds. Expected
    accuracies equal to 0.1 point count as a tie, which the smaller (cheaper) size wins.
    None when the table does not apply or no candidate holds: the caller falls back to the
    largest size within budget.
    """
    tta = table.ranking_tta(settings.tta)
    if tta is None:
        return None
    sizes = table.sizes(tta)
    fit, target, stat, step = record.fit, settings.target_ms, settings.statistic, settings.multiple_of
    ceiling = largest_within(fit, target, lo, hi)
    if ceiling is None:
        return None
    grid = {r for r in range(sizes[0], sizes[-1] + 1) if r % max(1, step) == 0} | set(sizes)
    expected = {r: table.expected(r, tta) for r in grid if lo <= r <= ceiling}
    ranked = sorted((r for r, a in expected.items() if a is not None),
                    key=lambda r: (-round(expected[r] or 0.0, 3), r))
    largest = largest_within(fit, target, lo, hi, step)
    attempts: list[Attempt] = []
    for r in ranked[:MAX_ATTEMPTS]:
        predicted = fit.predict_one(r)
        m = measure(r)
        attempts.append(Attempt(r, round(predicted, 4), m))
        got = m.stat(stat)
        accuracy = expected[r] or 0.0
        progress(f"[pick] {r:>4} px: expected accuracy {accuracy:.1%}, measured {stat} "
                 f"{got:.2f} ms ({'within' if got <= target else 'over'} the {target:.3g} ms target)")
        if got <= target:
            source = f"{table.split}, tta {tta}"
            if largest is None or largest == r:
                why = f"the best expected accuracy within the budget ({source})"
            elif table.expected(largest, tta) is None:
                why = (f"the best expected accuracy within the budget ({source}); the largest "
                       f"size within it, {largest} px, is beyond the {sizes[-1]} px the model "
                       "was measured at")
            else:
                why = (f"the best expected accuracy within the budget ({source}); the largest "
                       f"size within it, {largest} px, expects "
                       f"{table.expected(largest, tta) or 0.0:.1%}")
            return Pick(r, round(predicted, 4), got, tuple(attempts),
                        expected_accuracy=round(accuracy, 4), reason=why)
    return None


