"""The fault catalogue and schedules. Importing this package registers every fault.

    from harness.faults import FAULTS            # name -> spec class
    spec = FAULTS["kill"](target="controller")   # or from an experiment file
"""

from harness.faults import client, cluster_ops, degrade, partition, process, storage  # noqa: F401
from harness.faults.base import FAULTS, Env, FaultError, FaultSpec, Injected

__all__ = ["FAULTS", "Env", "FaultError", "FaultSpec", "Injected"]
