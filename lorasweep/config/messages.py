"""Validation errors as one line: the file, the dotted field, the value, and the fix.

Pydantic's error locations carry union branch labels (``FloatRange``, ``constrained-float``) and
union tags (an α rule's ``rule:``, a task's ``kind:``). :func:`_walk` follows a location through
the schema, so that a message names the field as the user wrote it, lists the keys allowed where
an unknown key stands (those of the tagged member, for a union), and says which other member a
key belongs to ("a key of kind causal_lm_sft, not generated").
"""

from __future__ import annotations

import difflib
import typing
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from lorasweep.errors import ConfigError

__all__ = ["describe_validation_error", "validate"]

M = TypeVar("M")

#: Labels pydantic gives the plain-type branches of a union (``lr: number | {low, high}``).
_BRANCH_LABELS = {"float", "int", "str", "bool"}
_TYPE_MISMATCH = ("_type", "_parsing", "union_tag_invalid")


def _parts(node: Any) -> tuple[Any, list[Any], str | None]:
    """``(annotation, metadata, discriminator)`` of a field or a (possibly ``Annotated``) type."""
    if isinstance(node, FieldInfo):
        disc = node.discriminator if isinstance(node.discriminator, str) else None
        return node.annotation, list(node.metadata), disc
    metadata = list(getattr(node, "__metadata__", ()))
    annotation = typing.get_args(node)[0] if metadata else node
    disc = next((m.discriminator for m in metadata if isinstance(m, FieldInfo) and m.discriminator), None)
    return annotation, metadata, disc if isinstance(disc, str) else None


def _members(node: Any) -> tuple[str, dict[str, type[BaseModel]]] | None:
    """``(discriminator, {tag: member})`` of a tagged union (pydantic's, or one that lists its
    members itself, as :data:`~lorasweep.config.tasks.TaskConfig`), else None."""
    annotation, metadata, disc = _parts(node)
    for meta in metadata:
        if callable(getattr(meta, "members", None)):
            return meta.discriminator, meta.members()
    if disc is None:
        return None
    members = {}
    for member in typing.get_args(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel) and disc in member.model_fields:
            for tag in typing.get_args(member.model_fields[disc].annotation):
                members[str(tag)] = member
    return disc, members


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation may hold, outermost first (``list[X]`` holds X, ``X | None`` too)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out += _models(arg)
    return out


@dataclass(kw_only=True)
class _Walk:
    """Where a location leads: the schema node at its end, the location without branch labels
    and tags, and the last tagged member passed (discriminator, tag, all members)."""

    node: Any
    loc: tuple[Any, ...]
    tagged: tuple[str, str, dict[str, type[BaseModel]]] | None = None


def _walk(schema: Any, loc: tuple[Any, ...]) -> _Walk:
    node: Any = schema
    clean: list[Any] = []
    tagged = None
    for part in loc:
        if node is not None and (members := _members(node)) is not None and part in members[1]:
            node = members[1][part]
            tagged = (members[0], str(part), members[1])
            continue
        annotation = _parts(node)[0] if node is not None else None
        models = _models(annotation) if annotation is not None else []
        if isinstance(part, int):
            clean.append(part)
            node = typing.get_args(annotation)[0] if typing.get_origin(annotation) is list else None
            continue
        branch = next((m for m in models if m.__name__ == part), None)
        if branch is not None:  # a union's model branch, e.g. FloatRange
            node = branch
            continue
        if not part.isidentifier() or part in _BRANCH_LABELS:  # e.g. constrained-float, literal['matched']
            continue
        clean.append(part)
        model = models[0] if models else None
        node = model.model_fields.get(part) if model is not None else None
    return _Walk(node=node, loc=tuple(clean), tagged=tagged)


def _allowed(node: Any) -> list[str]:
    models = _models(_parts(node)[0]) if node is not None else []
    return list(models[0].model_fields) if models else []


def describe_validation_error(source: str, schema: Any, error: ValidationError) -> str:
    """One line for the most telling problem: file, dotted field, value, what is allowed.
    ``schema`` is the model (or type) that was validated."""
    errors = error.errors()
    # In a union (e.g. ``lr: number | {low, high}``) the branch of the wrong type is noise.
    telling = [e for e in errors if not e["type"].endswith(_TYPE_MISMATCH) and e["type"] != "model_type"]
    first = (telling or errors)[0]
    raw = tuple(first["loc"])
    walked = _walk(schema, raw)
    field = ".".join(str(p) for p in walked.loc) or "(top level)"
    if first["type"] == "extra_forbidden":
        key = str(raw[-1])
        parent = _walk(schema, raw[:-1])
        if parent.tagged is not None:
            disc, tag, members = parent.tagged
            owners = [t for t, m in members.items() if t != tag and key in m.model_fields]
            if owners:
                return f"{source}: unknown key '{field}' (a key of {disc} {' or '.join(owners)}, not {tag}); remove it"
        allowed = _allowed(parent.node)
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
        return f"{source}: unknown key '{field}'; {hint}"
    if first["type"] == "missing":
        about = walked.node.description if isinstance(walked.node, FieldInfo) else None
        return f"{source}: field '{field}' is required; add it" + (f" ({about})" if about else "")
    msg = first["msg"].removeprefix("Value error, ")
    value = first.get("input")
    shown = "" if isinstance(value, (dict, list)) else f" (got {value!r})"
    return f"{source}: field '{field}': {msg}{shown}"


def validate(source: str, schema: type[M] | Any, data: dict[str, Any]) -> M:
    """``data`` validated as ``schema`` (a model, or a type such as a union); a problem is one
    :class:`~lorasweep.errors.ConfigError` line."""
    try:
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            return schema.model_validate(data)  # type: ignore[return-value]
        return TypeAdapter(schema).validate_python(data)
    except ValidationError as e:
        raise ConfigError(describe_validation_error(source, schema, e)) from e
