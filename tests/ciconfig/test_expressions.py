"""GitHub Actions expressions, evaluated as far as what is known before a run allows."""

from __future__ import annotations

import pytest

from citriage.ciconfig.expressions import (
    UNKNOWN,
    ExpressionError,
    Partial,
    condition,
    evaluate,
    interpolate,
)

CONTEXTS = {
    "github": Partial(
        {"event_name": "push", "ref": "refs/heads/main", "repository": "numpy/numpy"}
    ),
    "matrix": {
        "python": {"key": "cp312", "version": "3.12"},
        "os": "ubuntu",
        "nightly": True,
        "plat": ["a", "b"],
    },
    "inputs": {"flag": False},
}


@pytest.mark.parametrize(
    "expression,value",
    [
        ("github.event_name == 'push'", True),
        ("github.repository == 'NumPy/NumPy'", True),  # strings compare without case
        ("github.event_name != 'pull_request' && startsWith(github.ref, 'refs/heads/')", True),
        ("contains(github.ref, 'tags')", False),
        ("1 == '1' && true == 1 && null == 0", True),
        ("format('{0}-{1}{{x}}', matrix.os, 3.0)", "ubuntu-3{x}"),
        ("matrix.plat[1]", "b"),
        ("matrix.plat[5]", None),
        ("join(matrix.plat, '+')", "a+b"),
        ("fromJSON('{\"a\": [1, 2]}').a[1]", 2),
        ("matrix.missing", None),
        ("github.event.pull_request.number", UNKNOWN),  # a context known only in part
        ("needs.plan.outputs.tests == 'true'", UNKNOWN),
        ("vars.ENABLED || 'no'", UNKNOWN),
        ("!inputs.flag && 'x' || 'y'", "x"),
        ("hashFiles('**/a')", UNKNOWN),
    ],
)
def test_values(expression: str, value: object) -> None:
    assert evaluate(expression, CONTEXTS).value == value


def test_conditions_are_three_valued_and_note_status_functions() -> None:
    assert condition("github.event_name == 'push'", CONTEXTS).value is True
    assert condition("${{ github.event_name == 'pull_request' }}", CONTEXTS).value is False
    # decided by the known side
    assert (
        condition("needs.x.outputs.y == 'true' || github.event_name == 'push'", CONTEXTS).value
        is True
    )
    assert (
        condition("needs.x.outputs.y == 'true' && github.event_name == 'pr'", CONTEXTS).value
        is False
    )
    assert (
        condition("needs.x.outputs.y == 'true' || github.event_name == 'pr'", CONTEXTS).value
        is UNKNOWN
    )
    always = condition("always() && github.repository == 'numpy/numpy'", CONTEXTS)
    assert always.value is True and always.status_functions == {"always"}
    assert condition("failure()", CONTEXTS).value is UNKNOWN
    assert condition("!cancelled()", CONTEXTS).value is True
    assert condition(None, CONTEXTS).value is True


def test_templates() -> None:
    assert interpolate(
        "tests / ${{ matrix.python.version || matrix.python }} / ${{ matrix.os }}", CONTEXTS
    ) == ("tests / 3.12 / ubuntu")
    assert interpolate(
        "Test (${{ matrix.nightly && 'nightly' || 'stable' }} OpenBLAS)", CONTEXTS
    ) == ("Test (nightly OpenBLAS)")
    assert interpolate("Build wheels${{ '' }}", CONTEXTS) == "Build wheels"
    assert interpolate("${{ fromJSON('[1, 2]') }}", CONTEXTS) == [1, 2]
    assert interpolate("v${{ 3.10 }}", CONTEXTS) == "v3.1"  # as YAML and GitHub read 3.10
    assert interpolate("x ${{ needs.a.outputs.b }}", CONTEXTS) is UNKNOWN
    # GitHub reads JSON leniently; PyTorch passes matrices with bare names and trailing commas
    assert interpolate(
        "${{ fromJSON(inputs.m) }}", {"inputs": {"m": "{ include: [ { a: 1 }, ]}"}}
    ) == {"include": [{"a": 1}]}


@pytest.mark.parametrize(
    "broken", ["a ==", "(a", "a b", "nofunction()", "'unterminated", "x" * 20_001]
)
def test_malformed_expressions_raise(broken: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(broken, CONTEXTS)
