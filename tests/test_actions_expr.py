"""GitHub Actions expressions, table-tested against https://docs.github.com/en/actions/learn-github-actions/expressions
(sections Literals, Operators, Functions, Status check functions, Object filters): each row's comment
names the rule. Unknown context values give an unknown result (an ANY hole), never a guess.
"""
from __future__ import annotations

import pytest

from releasegate.images import actions_eval, actions_expr
from releasegate.images.expressions import Scope, evaluate
from releasegate.images.templates import ANY, REF, SHA, Part, Template

SCOPE = Scope(matrix={"os": "linux", "svc": "api", "n": 2, "flag": True}, env={"REGISTRY": "ghcr.io/org"},
              outputs={"meta": {"version": Template.text("1.2.3")}}, inputs={"tag": Template.text("")})


@pytest.mark.parametrize(("expression", "text"), [
    # Literals
    ("null", ""), ("false", "false"), ("true", "true"), ("711", "711"), ("-9.2", "-9.2"), ("0xff", "255"),
    ("-2.99e-2", "-0.0299"), ("'Mona the Octocat'", "Mona the Octocat"), ("'It''s open source!'", "It's open source!"),
    # Operators: precedence ( ) [ ] . ! < <= > >= == != && ||
    ("true || false && false", "true"), ("(true || false) && false", "false"), ("1 < 2 == true", "true"),
    ("!true", "false"), ("!0", "true"), ("!''", "true"), ("!'a'", "false"), ("!!null", "false"),
    # && and || return an operand: falsy are false, 0, -0, '', null, NaN
    ("'' || 'default'", "default"), ("0 && 'x'", "0"), ("null && 'x'", ""), ("'a' && 'b'", "b"),
    ("matrix.os == 'linux' && 'on linux' || 'elsewhere'", "on linux"),
    ("matrix.os == 'windows' && 'on windows' || 'elsewhere'", "elsewhere"),
    ("inputs.tag || 'latest'", "latest"),
    # Loose equality: different types coerce to numbers; strings ignore case; NaN equals nothing
    ("'abc' == 'ABC'", "true"), ("1 == 1.0", "true"), ("null == 0", "true"), ("'' == 0", "true"),
    ("true == 1", "true"), ("'1' == 1", "true"), ("'1.0' == 1", "true"), ("'a' == 0", "false"),
    ("fromJSON('NaN') == fromJSON('NaN')", "false"), ("false != 0", "false"), ("'0x10' == 16", "true"),
    ("fromJSON('[]') == fromJSON('[]')", "false"),  # arrays equal only themselves
    ("'b' > 'A'", "true"), ("2 >= '2'", "true"), ("'x' < 1", "false"), ("null < 1", "true"),
    # Properties: case-insensitive, missing is null, index by number or string, .* filters
    ("matrix.OS", "linux"), ("matrix['svc']", "api"), ("matrix.missing", ""), ("matrix.n", "2"),
    ("fromJSON('{\"Name\": \"x\"}').name", "x"), ("fromJSON('[\"a\",\"b\"]')[1]", "b"),
    ("join(fromJSON('[{\"n\":\"a\"},{\"n\":\"b\"},{}]').*.n)", "a,b"),
    # Functions
    ("format('Hello {0} {1} {2}', 'Mona', 'the', 'Octocat')", "Hello Mona the Octocat"),
    ("format('{{Hello {0} {1} {2}!}}', 'Mona', 'the', 'Octocat')", "{Hello Mona the Octocat!}"),
    ("contains('Hello world', 'LLO')", "true"), ("contains(fromJSON('[\"push\", \"pull_request\"]'), 'PUSH')", "true"),
    ("contains(fromJSON('[1, 2]'), '2')", "true"), ("startsWith('Hello world', 'he')", "true"),
    ("endsWith('Hello world', 'LD')", "true"), ("endsWith('Hello world', 'x')", "false"),
    ("join(fromJSON('[\"a\",\"b\"]'), ', ')", "a, b"), ("join('abc')", "abc"), ("join(fromJSON('[1, true]'))", "1,true"),
    ("toJSON(fromJSON('{\"a\": 1}'))", '{\n  "a": 1\n}'), ("fromJSON('true')", "true"),
    ("fromJSON('{\"k\": [1, 2]}').k[1]", "2"), ("toJSON(matrix.flag)", "true"),
    # Status check functions, for the path a build takes
    ("success()", "true"), ("always()", "true"), ("failure()", "false"), ("cancelled()", "false"),
    ("success() && 'built'", "built"),
    # What the file knows: env, step outputs, matrix
    ("env.REGISTRY", "ghcr.io/org"), ("steps.meta.outputs.version", "1.2.3"),
    ("format('{0}/{1}:{2}', env.REGISTRY, matrix.svc, steps.meta.outputs.version)", "ghcr.io/org/api:1.2.3"),
])
def test_expression_values(expression: str, text: str) -> None:
    assert evaluate(expression, SCOPE) == Template.text(text)


@pytest.mark.parametrize(("expression", "parts"), [
    ("github.sha", (Part(SHA),)), ("github.sha || 'x'", (Part(SHA),)),  # a SHA is never empty: truthy
    ("format('{0}:{1}', 'app', github.ref_name)", (Part("text", "app:"), Part(REF))),
    ("format('{0}', github.sha)", (Part(SHA),)),
    ("'x' && github.event.release.tag_name", (Part(REF),)),
])
def test_run_time_values_pass_through(expression: str, parts: tuple[Part, ...]) -> None:
    """A value only the run knows (github.sha, github.ref_name) flows through ||, &&, format and join."""
    assert evaluate(expression, SCOPE) == Template(parts)


@pytest.mark.parametrize("expression", [
    "env.NOT_SET_IN_THE_FILE",  # a run step may write it to GITHUB_ENV
    "steps.other.outputs.x", "needs.plan.outputs.tag", "vars.REGISTRY", "secrets.TOKEN",
    "github.ref == 'refs/heads/main' && 'main' || 'other'",  # the ref decides: unknown, not 'other'
    "env.NOT_SET || 'fallback'",  # unknown || x is unknown: the first operand may be set
    "github.sha == 'abc'", "contains(github.ref, 'main')", "hashFiles('**/lock')",
    "github.repository",  # a property of github the suite does not model
    "format('{0}', steps.x.outputs.y)", "fromJSON(needs.a.outputs.b).c", "!vars.X",
    "matrix.os ==",  # not an expression: a hole, never an error
])
def test_unknown_stays_unknown(expression: str) -> None:
    assert evaluate(expression, SCOPE) == Template((Part(ANY, expression),))


def test_a_run_time_matrix_is_unknown() -> None:
    """fromJSON(needs...) as the matrix: its keys are unknown, not null."""
    from releasegate.images.matrix import RunTimeMatrix

    scope = Scope(RunTimeMatrix(), {}, {})
    assert evaluate("matrix.svc || 'api'", scope) == Template((Part(ANY, "matrix.svc || 'api'"),))


@pytest.mark.parametrize("text", ["'unterminated", "a b", "format('x',", "[1]", "a.", "1 +"])
def test_what_is_no_expression(text: str) -> None:
    with pytest.raises(actions_expr.ExpressionError):
        actions_expr.parse(text)


@pytest.mark.parametrize(("value", "number"), [
    (None, 0.0), (True, 1.0), (False, 0.0), ("", 0.0), (" 12 ", 12.0), ("1e3", 1000.0), ("0x1f", 31.0), ("abc", None),
    ([], None), ({}, None),
])
def test_coercion_to_number(value: object, number: float | None) -> None:
    """Docs, "Operators" (type coercion table): Null 0, Boolean 1/0, String any JSON number ('' 0) else NaN,
    Array and Object NaN."""
    found = actions_eval.to_number(value)
    assert (found != found) if number is None else found == number
