"""The cluster observer: what the cluster did during a run (leaders, ISR, controller, groups)."""
