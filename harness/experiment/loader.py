"""Reading experiment files: YAML in, a validated Experiment out, or one line saying which file,
which line and which field is wrong (a UsageError: exit 2, nothing started).

With `runnable`, the experiment must also be runnable here: every fault's capabilities must be
offered by the experiment's backend on this machine (network faults need namespaces, storage
faults root). `list` reads the catalogue without it; `validate` and `run` check.

Any file at all may be given, so reading is bounded: only regular files of at most
`MAX_FILE_BYTES`, at most `MAX_NODES` YAML nodes nested at most `MAX_DEPTH` deep, aliases that
expand to at most `MAX_EXPANDED` nodes (no "billion laughs"), and no key twice in one mapping
(YAML would silently keep the last one).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError
from yaml.composer import Composer, ComposerError
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from harness.cluster import backends
from harness.cluster.backend import describe
from harness.cluster.backends import BackendName
from harness.cluster.containers.spec import DockerSpec
from harness.errors import UsageError
from harness.experiment.model import ClusterConfig, DockerClusterConfig, Experiment, ExperimentError
from harness.files import Unreadable, read_text

MAX_FILE_BYTES = 1 * 2**20  # the catalogue's largest file is a few KB
MAX_NODES = 20_000
MAX_DEPTH = 64
MAX_EXPANDED = 100_000


def load_experiment(path: Path, runnable: bool = False, backend: BackendName | None = None,
                    attach: str | None = None) -> Experiment:
    path = Path(path)
    try:
        text = read_text(path, MAX_FILE_BYTES)
    except Unreadable as exc:
        raise UsageError(str(exc)) from None
    return parse(text, str(path), runnable, backend, attach)


def with_cluster(experiment: Experiment, backend: BackendName | None = None, attach: str | None = None) -> Experiment:
    """The experiment on another backend (`run --backend`), or on a running cluster taken over
    (`--attach`, which means the docker backend). Only the clusters the harness builds itself
    (local, docker) move between backends."""
    cluster = experiment.cluster
    if attach:
        backend = backend or BackendName.DOCKER
        if backend != BackendName.DOCKER:
            raise UsageError(f"--attach takes over a compose project: it needs backend docker, not {backend}")
    if not backend or (backend == cluster.backend and not attach):
        return experiment
    builds = (BackendName.LOCAL, BackendName.DOCKER)
    if cluster.backend not in builds or backend not in builds:
        raise UsageError(f"--backend {backend}: the experiment's cluster is backend {cluster.backend}; only local "
                         "and docker clusters move between backends")
    data = {**cluster.model_dump(exclude={"backend", "docker"}), "backend": backend}
    if backend == BackendName.LOCAL:
        return experiment.model_copy(update={"cluster": ClusterConfig.model_validate(data)})
    docker = getattr(cluster, "docker", None) or DockerSpec()
    try:
        moved = DockerClusterConfig.model_validate({**data, "docker": {**docker.model_dump(), "attach": attach}}
                                                   if attach else {**data, "docker": docker.model_dump()})
    except ValidationError as exc:
        first = exc.errors()[0]
        if "attach" in first["loc"]:
            raise UsageError(f"--attach {attach!r}: not a compose project name (lowercase letters, digits, - and _) "
                             "or a container label key=value") from None
        raise UsageError(f"--backend docker: {first['msg'].removeprefix('Value error, ')}") from None
    return experiment.model_copy(update={"cluster": moved})


def parse(text: str, source: str = "<experiment>", runnable: bool = False, backend: BackendName | None = None,
          attach: str | None = None) -> Experiment:
    try:
        tree, data = _read_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        what = "" if isinstance(exc, _Refused) else "not valid YAML: "
        problem = (getattr(exc, "problem", None) or str(exc) or type(exc).__name__).splitlines()[0]
        raise UsageError(f"{source}:{line}: {what}{problem}") from None
    except (RecursionError, MemoryError):
        raise UsageError(f"{source}:1: not valid YAML: too deeply nested") from None
    if not isinstance(data, dict):
        raise UsageError(f"{source}:1: an experiment is a mapping of fields (name, topics, workload, ...)")
    try:
        # runnable: files and variables the experiment names (e.g. a cluster's password) must be here
        experiment = Experiment.model_validate(data, context={"runnable": runnable})
    except ValidationError as exc:
        raise _usage_error(exc, tree, source) from None
    except (TypeError, ValueError, RecursionError) as exc:  # never a traceback for a bad file
        raise UsageError(f"{source}:1: {exc}") from None
    experiment = with_cluster(experiment, backend, attach)
    if runnable:
        _check_capabilities(experiment, tree, source)
    return experiment


def _check_capabilities(experiment: Experiment, tree, source: str) -> None:
    """Every fault's capabilities offered by the experiment's backend here, or the first that is not."""
    backend = backends.BackendName(experiment.cluster.backend)
    offered = backends.offers(backend, experiment.cluster.network, experiment.cluster)
    for loc, spec in experiment.fault_paths():
        missing = spec.capabilities() - offered
        if missing:
            line, field = _locate(tree, loc)
            attached = getattr(getattr(experiment.cluster, "docker", None), "attach", None)
            taken = f" (cluster {attached}, taken over)" if attached else ""
            raise UsageError(f"{source}:{line}: {field}: {spec.name} needs {describe(missing)}; "
                             f"backend {backend}{taken} offers {describe(offered)} here")


def _read_yaml(text: str):
    """(node tree, Python value) of one YAML document, composed once."""
    loader = _BoundedLoader(text)
    try:
        tree = loader.get_single_node()
        return tree, (loader.construct_document(tree) if tree is not None else None)
    finally:
        loader.dispose()


class _Refused(ComposerError):
    """Valid YAML, but not something an experiment file can be."""


_BaseLoader = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader


class _BoundedLoader(Composer, _BaseLoader):
    """libyaml's parser (fast on long lines) with PyYAML's composer, bounded: node count, depth,
    alias expansion and duplicate keys are checked as the tree is built."""

    def __init__(self, text: str):
        _BaseLoader.__init__(self, text)
        Composer.__init__(self)
        self.nodes = 0
        self.depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = super().compose_node(parent, index)
            if not hasattr(node, "expanded"):
                raise _Refused(None, None, f"alias *{event.anchor} refers to a node it is inside",
                                    event.start_mark)
            return node
        event = self.peek_event()
        self.nodes += 1
        self.depth += 1
        if self.nodes > MAX_NODES:
            raise _Refused(None, None, f"more than {MAX_NODES} values: not an experiment", event.start_mark)
        if self.depth > MAX_DEPTH:
            raise _Refused(None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        node = super().compose_node(parent, index)
        self.depth -= 1
        if isinstance(node, ScalarNode):
            node.expanded = 1
        elif isinstance(node, SequenceNode):
            node.expanded = 1 + sum(child.expanded for child in node.value)
        elif isinstance(node, MappingNode):
            node.expanded = 1 + sum(key.expanded + value.expanded for key, value in node.value)
            _refuse_duplicate_keys(node)
        if node.expanded > MAX_EXPANDED:
            raise _Refused(None, None, f"aliases expand this to more than {MAX_EXPANDED} values",
                                node.start_mark)
        return node


    def construct_object(self, node, deep=False):
        """A scalar Python cannot make (a 5000-digit integer, month 13) is a refusal at its line."""
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, OverflowError, KeyError, IndexError) as exc:
            raise _Refused(None, None, f"cannot read this value: {str(exc)[:120]}", node.start_mark) from None


def _refuse_duplicate_keys(node: MappingNode) -> None:
    seen = set()
    for key, _ in node.value:
        if not isinstance(key, ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        identity = (key.tag, key.value)
        if identity in seen:
            raise _Refused(None, None, f"key {key.value!r} appears twice in one mapping "
                                            "(YAML would silently keep the last)", key.start_mark)
        seen.add(identity)


def _usage_error(exc: ValidationError, tree, source: str) -> UsageError:
    errors = exc.errors()
    error = errors[0]
    cause = (error.get("ctx") or {}).get("error")
    loc = cause.loc if isinstance(cause, ExperimentError) else tuple(error["loc"])
    message = str(cause) if isinstance(cause, ExperimentError) else error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    if error["type"] == "union_tag_invalid":  # the backend picks the cluster's model
        loc, message = (*loc, "backend"), (f"{error['ctx']['tag']!r} is not a backend; should be "
                                           f"{error['ctx']['expected_tags'].replace(chr(39), '')}")
    alternatives = _union_alternatives(errors, loc)
    if alternatives:  # one error per member of a union type: say what any of them would take
        loc, message = loc[:-1], "should be " + (" or ".join(alternatives) if len(alternatives) < 3 else
                                                 ", ".join(alternatives[:-1]) + " or " + alternatives[-1])
    line, field = _locate(tree, loc)
    return UsageError(f"{source}:{line}: {field or '(top level)'}: {_printable(message)}")


def _printable(text: str) -> str:
    """One line whatever the file holds: a key or value with a newline or control character is quoted."""
    return text if text.isprintable() else repr(text)[1:-1]


_TYPE_WORDS = {"string_type": "a string", "int_type": "an integer", "int_parsing": "an integer",
               "int_from_float": "an integer", "float_type": "a number", "float_parsing": "a number",
               "bool_type": "true or false", "bool_parsing": "true or false", "dict_type": "a mapping",
               "model_type": "a mapping", "list_type": "a list", "finite_number": "a finite number"}


def _union_alternatives(errors: list[dict], loc: tuple) -> list[str]:
    """What each member of a union of plain types would accept, when every error is one member
    refusing the same value (their locations differ only in the member's name, e.g. `.str`)."""
    if len(errors) < 2 or not loc:
        return []
    same = [e for e in errors if tuple(e["loc"][:-1]) == loc[:-1] and isinstance(e["loc"][-1], str)]
    if len(same) < 2 or not all(e["type"] in _TYPE_WORDS for e in same):
        return []
    return list(dict.fromkeys(_TYPE_WORDS[e["type"]] for e in same))


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
            path.append(f"[{part}]" if isinstance(part, int) else _printable(str(part)))
        elif i == len(loc) - 1 and isinstance(part, str):
            path.append(_printable(part))  # a missing or unknown field: name it, at its parent's line
    return line, ".".join(path).replace(".[", "[")


def _child(node, part):
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        for key, value in node.value:
            if getattr(key, "value", None) == part:
                return value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return node.value[part]
    return None
