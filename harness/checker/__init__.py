"""The checker: a pure function from a run directory to a verdict with evidence.

    from harness.checker.check import check, write_verdict
    result = check(run_dir)               # CheckResult; write_verdict(run_dir, result) saves it

Importing the package loads nothing heavy: `checker.model` (the verdict's types) is read by
experiment files and the run record, which must not pull in pandas.
"""
