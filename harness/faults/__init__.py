"""The fault catalogue and schedules. Importing this package registers every fault: each module
here is one family, imported below whatever its name, so adding a fault is adding a file.

    from harness.faults import FAULTS            # name -> spec class
    spec = FAULTS["kill"](target="controller")   # or from an experiment file
"""

import importlib
import pkgutil

from harness.faults.base import FAULTS, SWEEPS, Env, FaultError, FaultSpec, Injected, heal_leftovers

_NOT_FAMILIES = {"base", "targets", "schedule", "runner"}
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _NOT_FAMILIES:
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["FAULTS", "SWEEPS", "Env", "FaultError", "FaultSpec", "Injected", "heal_leftovers"]
