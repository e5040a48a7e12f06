"""The checker: a pure function from a run directory to a verdict with evidence.

    result = check(run_dir)               # CheckResult; write_verdict(run_dir, result) saves it
"""

from harness.checker.check import check, write_verdict

__all__ = ["check", "write_verdict"]
