"""Reading experiment files: YAML in, a validated Experiment out, or one line saying which file,
which line and which field is wrong (a UsageError: exit 2, nothing started)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from harness.errors import UsageError
from harness.experiment.model import Experiment, ExperimentError
from harness.faults.schedule import requirements
from harness.net.lab import has_net_admin


def load(path: Path) -> Experiment:
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror if isinstance(exc, OSError) else exc}") from None
    return parse(text, str(path))


def parse(text: str, source: str = "<experiment>") -> Experiment:
    try:
        tree = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise UsageError(f"{source}:{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{source}:1: an experiment is a mapping of fields (name, topics, workload, ...)")
    try:
        return Experiment.model_validate(data)
    except ValidationError as exc:
        raise _usage_error(exc, tree, source) from None
    except (TypeError, ValueError, RecursionError) as exc:  # never a traceback for a bad file
        raise UsageError(f"{source}:1: {exc}") from None


def _usage_error(exc: ValidationError, tree, source: str) -> UsageError:
    error = exc.errors()[0]
    cause = (error.get("ctx") or {}).get("error")
    loc = cause.loc if isinstance(cause, ExperimentError) else tuple(error["loc"])
    line, field = _locate(tree, loc)
    message = str(cause) if isinstance(cause, ExperimentError) else error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    return UsageError(f"{source}:{line}: {field or '(top level)'}: {message}")


def _locate(tree, loc: tuple) -> tuple[int, str]:
    """The line of the YAML node `loc` points at, and the field path a person would write.

    pydantic's locations carry union tags (e.g. the fault kind) that are not keys in the file:
    parts that match no key or index are passed over.
    """
    node, line, path = tree, 1, []
    for i, part in enumerate(loc):
        child = _child(node, part)
        if child is not None:
            node = child
            line = node.start_mark.line + 1
            path.append(f"[{part}]" if isinstance(part, int) else str(part))
        elif i == len(loc) - 1 and isinstance(part, str):
            path.append(part)  # a missing or unknown field: name it, at its parent's line
    return line, ".".join(path).replace(".[", "[")


def _child(node, part):
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        for key, value in node.value:
            if getattr(key, "value", None) == part:
                return value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return node.value[part]
    return None


def check_environment(experiment: Experiment, source: str) -> None:
    """Faults this machine cannot apply are refused now, not silently skipped later."""
    needed = requirements(experiment.faults) if experiment.faults else set()
    if "partitions" in needed and not has_net_admin():
        raise UsageError(f"{source}: faults: network partitions need CAP_NET_ADMIN (root) and iproute2, "
                         "which this environment lacks")
    if "mounts" in needed and os.geteuid() != 0:
        raise UsageError(f"{source}: faults: storage faults mount filesystems, which needs root")
