"""Shrinking a failing experiment to a smaller one that still fails: the search (pure, generic)
and the reductions of an experiment (fewer faults, shorter, narrower, slower)."""
