"""From a pytest phase and its exception to a regops outcome and message."""

from __future__ import annotations

from typing import Final

from regops.model import FactUnknown, Outcome

# When phases disagree the worst wins: a teardown error after a pass is an error.
RANK: Final = {
    Outcome.NOT_APPLICABLE: 0,
    Outcome.PASSED: 1,
    Outcome.WAIVED: 2,
    Outcome.FAILED: 3,
    Outcome.ERROR: 4,
}


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


# pytest reports an xfail-marked control as expected to fail, or as passing unexpectedly; it would
# silence the control without a waiver's approval and expiry.
XFAIL_PROVES_NOTHING: Final = "a control marked xfail proves nothing; waive the failure instead"


def phase_outcome(when: str, pytest_outcome: str, error: BaseException | None) -> tuple[Outcome, str] | None:
    """The outcome a phase decides, or None when the phase decides nothing (a passing setup)."""
    if pytest_outcome == "skipped":
        return skipped_outcome(error)
    if pytest_outcome == "passed":
        return (Outcome.PASSED, "") if when == "call" else None
    return error_outcome(when, error)


def skipped_outcome(error: BaseException | None) -> tuple[Outcome, str]:
    message = first_line(str(getattr(error, "msg", "") or error or ""))
    return Outcome.NOT_APPLICABLE, message or "not applicable"


def error_outcome(when: str, error: BaseException | None) -> tuple[Outcome, str]:
    """A failed phase: a failed assert in the call, or the control could not be evaluated."""
    if isinstance(error, FactUnknown):
        return Outcome.ERROR, f"could not evaluate: {error}"
    if when == "call" and isinstance(error, AssertionError):
        return Outcome.FAILED, first_line(str(error)) or "assertion failed"
    kind = type(error).__name__ if error is not None else "error"
    detail = first_line(str(error)) if error is not None else ""
    return Outcome.ERROR, f"could not evaluate ({kind} during {when}): {detail}".rstrip(": ")


def failed_comparison(error: BaseException | None) -> str | None:
    """The comparison a failed assert made, with the values pytest filled in ("assert 90 >= 365").

    pytest rewrites a control's asserts and puts the evaluated expression under the message;
    the first such line shows what was observed against what was required.
    """
    if not isinstance(error, AssertionError):
        return None
    for line in str(error).splitlines():
        if line.startswith("assert "):
            return line if len(line) <= 300 else line[:297] + "..."
    return None
