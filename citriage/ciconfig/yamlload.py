"""Reading a CI configuration's YAML safely.

`yaml.safe_load` builds only plain data, but a configuration is still input from
anyone who can push: a huge file, an alias bomb (a few lines whose aliases expand
to billions of nodes, through lists or `<<` merge keys), a recursive alias or
deep nesting must end in a clear error, not in a worker out of memory. So the
text is bounded in size, merge keys in how many entries they produce, and the
document in how many nodes it expands to (aliases counted each time they are used)
before anything walks it.

Real configurations take two liberties of YAML 1.2 that PyYAML (YAML 1.1) refuses:
an anchor defined twice (the later definition serves the aliases after it) and a
TAB inside a plain scalar. When the fast C loader refuses a file, a loader that
allows both reads it again.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_BYTES = 2 * 1024 * 1024  # PyTorch's generated 2020 CircleCI config: 330 KB
MAX_NODES = 1_000_000  # after alias expansion; the largest real config seen: 17,585
MAX_MERGED = 200_000  # mapping entries produced by `<<` merge keys


class ConfigError(ValueError):
    """A configuration that cannot be understood; the message says why."""


class _Bounded(yaml.constructor.SafeConstructor):
    """Merge keys can double a mapping per level of aliasing: count what they produce."""

    merged = 0

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        super().flatten_mapping(node)
        self.merged += len(node.value)
        if self.merged > MAX_MERGED:
            raise ConfigError(f"merge keys (<<) expand to more than {MAX_MERGED:,} entries")


_Fast: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _FastLoader(_Bounded, _Fast):  # type: ignore[misc]
    pass


class _TolerantLoader(_Bounded, yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's redefinable anchors and tabs in plain text."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if not self.check_event(yaml.AliasEvent):
            anchor = self.peek_event().anchor  # type: ignore[no-untyped-call]
            if anchor is not None:
                self.anchors.pop(anchor, None)  # redefined: later aliases get the new one
        return super().compose_node(parent, index)

    def scan_plain_spaces(self, indent: int, start_mark: Any) -> Any:
        length = 0
        while self.peek(length) in " \t":
            length += 1
        if self.peek(length) in "\r\n\x85\u2028\u2029":  # blanks ending a line: dropped
            self.forward(length)
            return super().scan_plain_spaces(indent, start_mark)
        blanks = self.prefix(length)  # blanks inside a line belong to the text
        self.forward(length)
        return [blanks] if blanks else []


def _describe(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{problem}{where}"


def _load(text: str, loader: type[Any]) -> Any:
    instance = loader(text)
    try:
        return instance.get_single_data()
    finally:
        instance.dispose()


def expanded_size(document: Any, limit: int = MAX_NODES) -> int:
    """Nodes of the document with every alias expanded; ConfigError past `limit` or for
    a document that contains itself. Each shared node is measured once."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def measure(value: Any) -> int:
        if not isinstance(value, (dict, list)):
            return 1
        key = id(value)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise ConfigError("an alias refers to the node that contains it (a recursive alias)")
        open_.add(key)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        total = 1
        for name, item in items:
            total += measure(item) + (measure(name) if isinstance(value, dict) else 0)
            if total > limit:
                raise ConfigError(f"the YAML expands to more than {limit:,} nodes (alias bomb?)")
        open_.discard(key)
        sizes[key] = total
        return total

    try:
        return measure(document)
    except RecursionError:
        raise ConfigError("the YAML is nested too deeply") from None


def load(source: str | bytes, *, max_bytes: int = MAX_BYTES) -> Any:
    """The document in `source`, as plain Python data; ConfigError when it is too big,
    not YAML, or expands beyond the bounds."""
    size = len(source)
    if size > max_bytes:
        raise ConfigError(f"the file is {size:,} bytes, more than the {max_bytes:,} read")
    if isinstance(source, bytes):
        try:
            text = source.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"the file is not UTF-8 text ({exc.reason})") from None
    else:
        text = source
    try:
        try:
            document = _load(text, _FastLoader)
        except yaml.YAMLError:
            document = _load(text, _TolerantLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {_describe(exc)}") from None
    except RecursionError:
        raise ConfigError("the YAML is nested too deeply") from None
    expanded_size(document)
    return document
