"""From a pytest phase and its exception to an outcome, a message and the failed comparison."""

from __future__ import annotations

from regops.model import FactUnknown, Outcome
from regops.outcomes import failed_comparison, phase_outcome


def test_phase_outcomes() -> None:
    assert phase_outcome("setup", "passed", None) is None
    assert phase_outcome("call", "passed", None) == (Outcome.PASSED, "")
    failed = AssertionError("db: keeps backups 7 days\nassert 7 >= 35")
    assert phase_outcome("call", "failed", failed) == (Outcome.FAILED, "db: keeps backups 7 days")
    unknown = FactUnknown("db", "backup_days")
    assert phase_outcome("setup", "failed", unknown) == (
        Outcome.ERROR,
        "could not evaluate: db: fact 'backup_days' could not be established from the source",
    )
    # an assertion outside the control's own call is the tooling's problem, not a finding
    assert phase_outcome("teardown", "failed", failed)[0] is Outcome.ERROR


def test_failed_comparison_is_the_evaluated_assert() -> None:
    error = AssertionError(
        "db: keeps backups 7 days\nassert 7 >= 35\n +  where 35 = Parameters().backup_days"
    )
    assert failed_comparison(error) == "assert 7 >= 35"
    assert failed_comparison(AssertionError("a message without pytest's explanation")) is None
    assert failed_comparison(FactUnknown("db", "backup_days")) is None
    assert failed_comparison(None) is None
    long = AssertionError("x\nassert " + "a" * 400)
    assert len(failed_comparison(long) or "") == 300
