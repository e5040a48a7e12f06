"""Logical names in experiments, made physical per run.

Experiments name topics and consumer groups as a person would ("orders"); on a cluster shared
by several runs each run uses its own ("orders-3fa2c1"). Fields that hold such a name are typed
`TopicName` or `GroupName`, and `bind` renames exactly those, at any depth of a model: a new
fault field typed `TopicName` is renamed without anything else being edited.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel

Kind = Literal["topic", "group"]


@dataclass(frozen=True)
class Logical:
    kind: Kind


TopicName = Annotated[str, Logical("topic")]
GroupName = Annotated[str, Logical("group")]

Rename = Callable[[Kind, str], str]


def bind(model: BaseModel, rename: Rename) -> BaseModel:
    """A copy of `model` whose TopicName and GroupName fields hold `rename(kind, name)`."""
    update = {}
    for field, info in type(model).model_fields.items():
        value = getattr(model, field)
        kind = logical_kind(info.annotation, info.metadata)
        renamed = _apply(value, kind, rename)
        if renamed is not value:
            update[field] = renamed
    return model.model_copy(update=update) if update else model


def names(model: BaseModel, kind: Kind) -> list[str]:
    """Every name of `kind` in `model`, at any depth, in field order."""
    found: list[str] = []

    def collect(k: Kind, name: str) -> str:
        if k == kind:
            found.append(name)
        return name

    bind(model, collect)
    return found


def _apply(value: Any, kind: Kind | None, rename: Rename) -> Any:
    if isinstance(value, BaseModel):
        return bind(value, rename)
    if isinstance(value, str) and kind:
        return rename(kind, value)
    if isinstance(value, (list, tuple)):
        items = [_apply(v, kind, rename) for v in value]
        return value if all(a is b for a, b in zip(items, value)) else type(value)(items)
    return value


def logical_kind(annotation: Any, metadata: list | tuple = ()) -> Kind | None:
    """The kind of logical name an annotation holds (itself, or inside a list or an Optional)."""
    for meta in metadata:
        if isinstance(meta, Logical):
            return meta.kind
    if typing.get_origin(annotation) is Annotated:
        base, *extra = typing.get_args(annotation)
        return logical_kind(base, extra)
    for arg in typing.get_args(annotation):
        if (found := logical_kind(arg)) is not None:
            return found
    return None
