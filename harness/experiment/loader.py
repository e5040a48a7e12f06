"""Reading experiment files: YAML in, a validated Experiment out, or one line saying which file,
which line and which field is wrong (a UsageError: exit 2, nothing started).

With `runnable`, the experiment must also be runnable here: every fault's capabilities must be
offered by the experiment's backend on this machine (network faults need namespaces, storage
faults root). `list` reads the catalogue without it; `validate` and `run` check.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from harness.cluster import backends
from harness.cluster.backend import describe
from harness.errors import UsageError
from harness.experiment.model import Experiment, ExperimentError


def load(path: Path, runnable: bool = False) -> Experiment:
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror if isinstance(exc, OSError) else exc}") from None
    return parse(text, str(path), runnable)


def parse(text: str, source: str = "<experiment>", runnable: bool = False) -> Experiment:
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
        experiment = Experiment.model_validate(data)
    except ValidationError as exc:
        raise _usage_error(exc, tree, source) from None
    except (TypeError, ValueError, RecursionError) as exc:  # never a traceback for a bad file
        raise UsageError(f"{source}:1: {exc}") from None
    if runnable:
        _check_capabilities(experiment, tree, source)
    return experiment


def _check_capabilities(experiment: Experiment, tree, source: str) -> None:
    """Every fault's capabilities offered by the experiment's backend here, or the first that is not."""
    backend = experiment.cluster.backend
    offered = backends.offers(backend, experiment.cluster.network)
    for loc, spec in experiment.fault_paths():
        missing = spec.capabilities() - offered
        if missing:
            line, field = _locate(tree, loc)
            raise UsageError(f"{source}:{line}: {field}: {spec.name} needs {describe(missing)}; "
                             f"backend {backend} offers {describe(offered)} here")


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
