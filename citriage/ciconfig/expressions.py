"""GitHub Actions expressions (`${{ … }}`), evaluated as far as what is known allows.

Before a run, a job's `if:` or a matrix job's `name:` can often be decided
(`github.event_name == 'push'`, `matrix.os`, `inputs.x` passed literally by a
caller) and sometimes not (`needs.plan.outputs.tests`, `vars.X`, `hashFiles(…)`).
Every value here may be `UNKNOWN`, which spreads through whatever uses it, except
where the known part decides (`false && x` is false, `true || x` is true).

The operators and functions follow GitHub's "Evaluate expressions in workflows and
actions" reference: loose equality that compares strings without case and
otherwise as numbers, `&&`/`||` returning an operand, `contains`, `startsWith`,
`endsWith`, `format`, `join`, `toJSON`, `fromJSON`; status functions assume that
the jobs needed passed and the run was not cancelled (`success()`, `always()` true,
`cancelled()` false, `failure()` unknown).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from citriage.ciconfig import yamlload


class _Unknown:
    """A value only the run will know."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        raise TypeError("an unknown value has no truth value: use truth()")


UNKNOWN: _Unknown = _Unknown()
STATUS_FUNCTIONS = ("success", "failure", "always", "cancelled")
MAX_LENGTH = 20_000  # of one expression


class ExpressionError(ValueError):
    """Not an expression GitHub would accept."""


class Partial(dict[str, Any]):
    """A context known only in part: a missing key is unknown rather than null."""


@dataclass
class Evaluation:
    value: Any
    status_functions: set[str] = field(default_factory=set)


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<number>-?(?:0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))
    | (?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\].,*])
    | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, position = [], 0
    text = text.rstrip()
    while position < len(text):
        found = _TOKEN.match(text, position)
        if found is None or found.end() == position:
            raise ExpressionError(f"unexpected {text[position : position + 20]!r}")
        kind = found.lastgroup or ""
        out.append((kind, found.group(kind)))
        position = found.end()
    return out


# -- values -------------------------------------------------------------------------------


def truth(value: Any) -> bool | _Unknown:
    """GitHub's truthiness: false, 0, -0, "", null and NaN are falsy."""
    if isinstance(value, _Unknown):
        return value
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return not (float(value) == 0 or math.isnan(float(value)))
    if isinstance(value, str):
        return value != ""
    return True


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0.0
        try:
            return float(int(text, 16)) if text.lower().startswith("0x") else float(text)
        except ValueError:
            return math.nan
    return math.nan


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if isinstance(left, (dict, list)) or isinstance(right, (dict, list)):
        return left is right
    if type(left) is type(right) and not isinstance(left, (int, float)):
        return bool(left == right)
    return _number(left) == _number(right)


def _compare(op: str, left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        a, b = left.casefold(), right.casefold()
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    x, y = _number(left), _number(right)
    return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


def to_text(value: Any) -> str:
    """A value as GitHub puts it into a string."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, list):
        return "Array"
    if isinstance(value, dict):
        return "Object"
    return str(value)


# -- functions ----------------------------------------------------------------------------


def _contains(search: Any, item: Any) -> bool:
    if isinstance(search, list):
        return any(_equal(element, item) for element in search)
    return to_text(item).casefold() in to_text(search).casefold()


def _format(template: Any, *args: Any) -> str:
    text = to_text(template)

    def replace(found: re.Match[str]) -> str:
        if found.group(0) in ("{{", "}}"):
            return found.group(0)[0]
        index = int(found.group(1))
        if index >= len(args):
            raise ExpressionError(f"format: no argument {index}")
        return to_text(args[index])

    return re.sub(r"\{\{|\}\}|\{(\d+)\}", replace, text)


def _join(items: Any, separator: Any = ",") -> str:
    if isinstance(items, list):
        return to_text(separator).join(to_text(item) for item in items)
    return to_text(items)


def _from_json(text: Any) -> Any:
    """GitHub's JSON reader forgives unquoted names and trailing commas (PyTorch passes
    matrices written so): what JSON does not read, YAML's flow style may."""
    source = to_text(text)
    try:
        return json.loads(source)
    except ValueError:
        pass
    try:
        return yamlload.load(source)
    except yamlload.ConfigError:
        return UNKNOWN


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "contains": _contains,
    "startswith": lambda a, b: to_text(a).casefold().startswith(to_text(b).casefold()),
    "endswith": lambda a, b: to_text(a).casefold().endswith(to_text(b).casefold()),
    "format": _format,
    "join": _join,
    "tojson": lambda value: json.dumps(value, indent=2),
    "fromjson": _from_json,
}
STATUS = {"success": True, "always": True, "cancelled": False, "failure": UNKNOWN}


# -- the parser: precedence climbing over the tokens, evaluating as it goes ----------------


class _Parser:
    def __init__(self, text: str, contexts: Mapping[str, Any], truth_only: bool) -> None:
        if len(text) > MAX_LENGTH:
            raise ExpressionError(f"an expression of more than {MAX_LENGTH:,} characters")
        self.tokens = _tokens(text)
        self.position = 0
        self.contexts = contexts
        self.status: set[str] = set()
        # Only the truth of the whole is wanted (an `if:`): `unknown || true` is true,
        # where as a value it is unknown (it would be the unknown operand, were it truthy).
        self.truth_only = truth_only

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ExpressionError(
                f"expected {value or 'more'}, found {token[1] if token else 'the end'}"
            )
        self.position += 1
        return token

    def parse(self) -> Any:
        value = self.or_()
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            decided = truth(value)
            if decided is True:
                continue
            if decided is False:
                value = right
            else:
                value = True if self.truth_only and truth(right) is True else UNKNOWN
        return value

    def and_(self) -> Any:
        value = self.equality()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.equality()
            decided = truth(value)
            if decided is False:
                continue
            if decided is True:
                value = right
            else:
                value = False if self.truth_only and truth(right) is False else UNKNOWN
        return value

    def equality(self) -> Any:
        value = self.comparison()
        while self.peek() in (("op", "=="), ("op", "!=")):
            op = self.take()[1]
            right = self.comparison()
            if value is UNKNOWN or right is UNKNOWN:
                value = UNKNOWN
            else:
                value = _equal(value, right) == (op == "==")
        return value

    def comparison(self) -> Any:
        value = self.unary()
        while (token := self.peek()) is not None and token[1] in ("<", "<=", ">", ">="):
            op = self.take()[1]
            right = self.unary()
            value = UNKNOWN if UNKNOWN in (value, right) else _compare(op, value, right)
        return value

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            value = truth(self.unary())
            return UNKNOWN if value is UNKNOWN else not value
        return self.postfix(self.primary())

    def postfix(self, value: Any) -> Any:
        while (token := self.peek()) is not None and token[1] in (".", "["):
            self.take()
            if token[1] == ".":
                kind, name = self.take()
                if name == "*":
                    value = _filter(value)
                    continue
                if kind != "name":
                    raise ExpressionError(f"a property name expected, found {name!r}")
                value = _property(value, name)
            else:
                key = self.or_()
                self.take("]")
                value = _filter(value) if key == "*" else _index(value, key)
        return value

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if kind == "number":
            number = (
                float(int(text, 16)) if text.lower().lstrip("-").startswith("0x") else float(text)
            )
            return number
        if text == "(":
            value = self.or_()
            self.take(")")
            return value
        if text == "*":
            return "*"
        if kind != "name":
            raise ExpressionError(f"unexpected {text!r}")
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered == "null":
            return None
        if self.peek() == ("op", "("):
            return self.call(lowered)
        return self.contexts.get(text, UNKNOWN)

    def call(self, name: str) -> Any:
        self.take("(")
        args = []
        while self.peek() != ("op", ")"):
            args.append(self.or_())
            if self.peek() == ("op", ","):
                self.take()
        self.take(")")
        if name in STATUS:
            self.status.add(name)
            return STATUS[name]
        if name == "hashfiles":
            return UNKNOWN
        function = FUNCTIONS.get(name)
        if function is None:
            raise ExpressionError(f"no function {name}()")
        if any(arg is UNKNOWN for arg in args):
            return UNKNOWN
        try:
            return function(*args)
        except TypeError:
            raise ExpressionError(f"{name}() with {len(args)} argument(s)") from None


def _property(value: Any, name: str) -> Any:
    if value is UNKNOWN:
        return UNKNOWN
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and key.casefold() == name.casefold():
                return item
        return UNKNOWN if isinstance(value, Partial) else None
    return None


def _index(value: Any, key: Any) -> Any:
    if value is UNKNOWN or key is UNKNOWN:
        return UNKNOWN
    if isinstance(value, list):
        number = _number(key)
        if math.isnan(number) or number < 0 or number >= len(value):
            return None
        return value[int(number)]
    if isinstance(value, dict):
        return _property(value, to_text(key))
    return None


def _filter(value: Any) -> Any:
    if value is UNKNOWN:
        return UNKNOWN
    if isinstance(value, dict):
        return list(value.values())
    return list(value) if isinstance(value, list) else []


def evaluate(
    expression: str, contexts: Mapping[str, Any], *, truth_only: bool = False
) -> Evaluation:
    """The value of one expression (without `${{ }}`) and the status functions it calls."""
    parser = _Parser(expression, contexts, truth_only)
    value = parser.parse()
    return Evaluation(value, parser.status)


_TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


def has_expression(value: Any) -> bool:
    return isinstance(value, str) and "${{" in value


def segments(text: str) -> Iterator[tuple[bool, str]]:
    """(is an expression, text) pieces of a string holding `${{ … }}` parts."""
    position = 0
    for found in _TEMPLATE.finditer(text):
        if found.start() > position:
            yield False, text[position : found.start()]
        yield True, found.group(1)
        position = found.end()
    if position < len(text):
        yield False, text[position:]


def interpolate(value: Any, contexts: Mapping[str, Any]) -> Any:
    """A YAML value with its `${{ … }}` parts evaluated: a string that is one expression
    keeps the expression's value (a list from fromJSON stays a list); lists and mappings
    are done element by element. UNKNOWN when any part is."""
    if isinstance(value, list):
        items = [interpolate(item, contexts) for item in value]
        return UNKNOWN if any(item is UNKNOWN for item in items) else items
    if isinstance(value, dict):
        pairs = {key: interpolate(item, contexts) for key, item in value.items()}
        return UNKNOWN if any(item is UNKNOWN for item in pairs.values()) else pairs
    if not has_expression(value):
        return value
    pieces = list(segments(value))
    if len(pieces) == 1 and pieces[0][0]:
        return evaluate(pieces[0][1], contexts).value
    out = []
    for is_expression, text in pieces:
        if not is_expression:
            out.append(text)
            continue
        result = evaluate(text, contexts).value
        if result is UNKNOWN:
            return UNKNOWN
        out.append(to_text(result))
    return "".join(out)


def condition(value: Any, contexts: Mapping[str, Any]) -> Evaluation:
    """A job's `if:` (with or without `${{ }}`), as true, false or UNKNOWN. Without a status
    function GitHub adds `success()`: true here, as the jobs needed are taken to pass."""
    if value is None:
        return Evaluation(True)
    if isinstance(value, bool):
        return Evaluation(value)
    if not isinstance(value, str):
        return Evaluation(truth(value))
    text = value.strip()
    found = _TEMPLATE.fullmatch(text)
    if found is not None:
        text = found.group(1)
    elif "${{" in text:  # text around expressions: a non-empty string, always true
        result = interpolate(text, contexts)
        return Evaluation(UNKNOWN if result is UNKNOWN else truth(result))
    evaluation = evaluate(text, contexts, truth_only=True)
    evaluation.value = truth(evaluation.value)
    return evaluation
