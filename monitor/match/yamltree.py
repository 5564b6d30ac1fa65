"""YAML → plain values that remember their line, and typed accessors that raise ``RuleError``.

PyYAML's ``safe_load`` forgets where things were; the loader composes the node graph with the
safe loader instead and keeps ``start_mark.line + 1`` on every value, so an error can name the
file and the line of the offending key or item. The node graph is composed by libyaml when
PyYAML was built with it (its wheels are): ten times faster than the pure-Python loader, with
the same nodes and marks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from monitor.errors import RuleError

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Located:
    """A YAML value with the line it starts on. Mappings hold ``dict[str, Located]``,
    sequences ``list[Located]``, scalars the safe-loaded Python value."""

    value: Any
    line: int
    path: str

    def error(self, message: str) -> RuleError:
        return RuleError(message, path=self.path, line=self.line)


def parse(text: str, path: str) -> Located | None:
    """Compose ``text`` (one YAML document); ``None`` for an empty file."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = e.problem or e.context or "syntax error"
        raise RuleError(f"invalid YAML: {problem}", path=path, line=line) from e
    except yaml.YAMLError as e:
        raise RuleError(f"invalid YAML: {e}", path=path) from e
    if node is None:
        return None
    return _convert(node, path, yaml.constructor.SafeConstructor())


def _convert(node: yaml.Node, path: str, constructor: yaml.constructor.SafeConstructor) -> Located:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Located] = {}
        for key_node, value_node in node.value:
            key = _convert(key_node, path, constructor)
            if not isinstance(key.value, str):
                raise key.error(f"keys must be strings, not {type_name(key.value)}")
            if key.value in out:
                raise key.error(f"duplicate key '{key.value}'")
            value = _convert(value_node, path, constructor)
            out[key.value] = Located(value.value, line=key.line, path=path)
        return Located(out, line, path)
    if isinstance(node, yaml.SequenceNode):
        return Located([_convert(item, path, constructor) for item in node.value], line, path)
    try:
        value = constructor.construct_object(node, deep=True)
    except yaml.YAMLError as e:
        raise RuleError(f"invalid value: {e}", path=path, line=line) from e
    return Located(value, line, path)


def type_name(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int):
        return "an integer"
    return f"a {type(value).__name__}"


def as_mapping(
    item: Located, what: str, allowed: set[str], required: set[str]
) -> dict[str, Located]:
    """The mapping in ``item``; unknown keys and missing required keys are errors."""
    if not isinstance(item.value, dict):
        raise item.error(f"{what} must be a mapping, not {type_name(item.value)}")
    fields: dict[str, Located] = item.value
    for key, value in fields.items():
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise value.error(f"{what}: unknown key '{key}' (known keys: {known})")
    for key in sorted(required):
        if key not in fields:
            raise item.error(f"{what}: missing key '{key}'")
    return fields


def as_list(item: Located, what: str) -> list[Located]:
    if not isinstance(item.value, list):
        raise item.error(f"{what} must be a list, not {type_name(item.value)}")
    items: list[Located] = item.value
    return items


def as_str(item: Located, what: str) -> str:
    if not isinstance(item.value, str) or not item.value.strip():
        if isinstance(item.value, str):
            raise item.error(f"{what} must not be empty")
        raise item.error(f"{what} must be a string, not {type_name(item.value)}")
    return item.value.strip()


def as_str_list(item: Located, what: str) -> list[tuple[str, Located]]:
    """A list of non-empty strings, each with its location."""
    return [(as_str(x, f"{what} item"), x) for x in as_list(item, what)]


def read(path: Path) -> Located | None:
    """Read and compose one rule file."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise RuleError(f"not UTF-8 text ({e.reason})", path=str(path)) from e
    except OSError as e:
        raise RuleError(f"cannot read: {e.strerror or e}", path=str(path)) from e
    return parse(text, str(path))
