"""The jobs a set of GitHub Actions workflows runs for a commit, named as GitHub reports
them (and as citriage records them: `workflow / job`).

- A workflow runs for a push to a branch its `on.push` lets through (`branches`,
  `branches-ignore`; only `tags`: never for a branch), and for a pull request whose
  base branch `on.pull_request` lets through; `paths` filters depend on the files
  changed, so their jobs only may run.
- A job is named by its `name:` (expressions evaluated), else its id. A matrix job
  whose name has no expression gets every value of its combination appended,
  `<name> (<value>, <value>…)` (objects field by field); a name with an expression
  is used as it evaluates. `include` and `exclude` follow the "Using a matrix"
  reference: an excluded combination need only match in part; an `include` entry
  extends every combination whose original values it does not change, or else is a
  combination of its own.
- A job calling a reusable workflow of this repository (`uses: ./.github/workflows/…`,
  or `$/…`) is reported as `<caller name> / <called job name>`, to four levels.
- An `if:` that is false drops the job; one that cannot be decided before the run
  (job outputs, variables, labels) makes it a job that may run, as does a matrix or
  name only the run knows, a workflow another repository holds, and a run a newer
  commit may cancel (`concurrency.cancel-in-progress`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from citriage.ciconfig import yamlload
from citriage.ciconfig.expressions import (
    UNKNOWN,
    ExpressionError,
    Partial,
    condition,
    has_expression,
    interpolate,
    to_text,
    truth,
)
from citriage.ciconfig.plan import (
    GITHUB_ACTIONS,
    WORKFLOWS_DIR,
    Context,
    Expectation,
    ExpectedJob,
    as_list,
    dedupe,
)
from citriage.ciconfig.yamlload import ConfigError

MAX_MATRIX = 256  # GitHub's limit of jobs per matrix
MAX_DEPTH = 4  # workflows connected by calls, the top one included
PULL_REQUEST_TYPES = {"opened", "synchronize", "reopened"}  # what a pull_request runs on by default
LOCAL_CALL = re.compile(r"^(?:\./|\$/)(\.github/workflows/[^@]+)$")


def is_workflow(path: str) -> bool:
    return path.startswith(WORKFLOWS_DIR + "/") and path.endswith((".yml", ".yaml"))


# -- triggers --------------------------------------------------------------------------------


def _glob(pattern: str) -> re.Pattern[str]:
    """A branch filter pattern (GitHub's filter pattern cheat sheet): `*` any characters
    but `/`, `**` any characters, `?` and `+` repeat the character before, `[…]` a set."""
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            out.append(".*")
            index += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char in "?+" and out:
            out.append(char)
        elif char == "[":
            end = pattern.find("]", index)
            if end == -1:
                out.append(re.escape(char))
            else:
                out.append(pattern[index : end + 1])
                index = end
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out))


def ref_matches(patterns: list[Any], name: str) -> bool:
    """Whether `name` passes a list of patterns, `!` negating (the last match decides)."""
    passed = False
    for pattern in patterns:
        text = to_text(pattern)
        negated = text.startswith("!")
        if _glob(text[1:] if negated else text).fullmatch(name):
            passed = not negated
    return passed


def _events(on: Any) -> dict[str, Any]:
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return {str(event): None for event in on}
    if isinstance(on, dict):
        return {str(event): spec for event, spec in on.items()}
    raise ConfigError("`on` is neither an event, a list nor a mapping")


def triggered(on: Any, context: Context) -> tuple[Any, str]:
    """Whether the workflow runs in `context`: True, False or UNKNOWN, with why it may."""
    events = _events(on)
    if context.event not in events:
        return False, ""
    spec = events[context.event]
    spec = spec if isinstance(spec, dict) else {}
    if context.event == "pull_request":
        types = as_list(spec.get("types"))
        if types and not PULL_REQUEST_TYPES & {str(t) for t in types}:
            return False, ""
        branch = context.base
    else:
        branch = context.branch
    branch_filter = "branches" in spec or "branches-ignore" in spec
    if not branch_filter and ("tags" in spec or "tags-ignore" in spec):
        return False, ""  # tags only: not for a branch
    if "branches" in spec and not ref_matches(as_list(spec["branches"]), branch):
        return False, ""
    if "branches-ignore" in spec and ref_matches(as_list(spec["branches-ignore"]), branch):
        return False, ""
    if "paths" in spec or "paths-ignore" in spec:
        return UNKNOWN, f"on.{context.event} filters the files changed"
    return True, ""


# -- contexts of expressions -----------------------------------------------------------------


def github_context(context: Context, workflow: str) -> Partial:
    owner = context.repository.partition("/")[0]
    repository = Partial(
        {"full_name": context.repository, "default_branch": context.default_branch}
    )
    known: dict[str, Any] = {
        "event_name": context.event,
        "ref_type": "branch",
        "repository": context.repository,
        "repository_owner": owner,
        "workflow": workflow,
    }
    if context.event == "pull_request":
        head = Partial({"ref": context.branch, "repo": Partial({"fork": context.fork})})
        pull = Partial(
            {"number": context.pull, "head": head, "base": Partial({"ref": context.base})}
        )
        known |= {
            "ref": f"refs/pull/{context.pull}/merge",
            "ref_name": f"{context.pull}/merge",
            "base_ref": context.base,
            "head_ref": context.branch,
            "event": Partial(
                {"pull_request": pull, "number": context.pull, "repository": repository}
            ),
        }
    else:
        ref = f"refs/heads/{context.branch}"
        known |= {
            "ref": ref,
            "ref_name": context.branch,
            "base_ref": "",
            "head_ref": "",
            "event": Partial({"ref": ref, "pull_request": None, "repository": repository}),
        }
        if context.sha:
            known["sha"] = context.sha
    return Partial(known)


# -- matrices ----------------------------------------------------------------------------------


def _partly(cell: dict[str, Any], entry: dict[str, Any]) -> bool:
    return all(key in cell and cell[key] == value for key, value in entry.items())


def expand_matrix(matrix: Any) -> list[dict[str, Any]]:
    """The combinations of a `strategy.matrix` whose values are known."""
    if not isinstance(matrix, dict):
        raise ConfigError("strategy.matrix is not a mapping")
    axes = [(str(k), v) for k, v in matrix.items() if k not in ("include", "exclude")]
    for key, values in axes:
        if not isinstance(values, list):
            raise ConfigError(f"matrix axis {key!r} is not a list")
    total = 1
    for _, values in axes:
        total *= len(values)
    if total > MAX_MATRIX:
        raise ConfigError(f"a matrix of {total:,} jobs (GitHub allows {MAX_MATRIX})")
    cells = []
    if axes:
        for combination in itertools.product(*(values for _, values in axes)):
            cells.append(dict(zip((key for key, _ in axes), combination, strict=True)))
    excluded = [e for e in as_list(matrix.get("exclude")) if isinstance(e, dict)]
    cells = [c for c in cells if not any(_partly(c, e) for e in excluded)]
    originals = [dict(c) for c in cells]
    added = []
    for entry in as_list(matrix.get("include")):
        if not isinstance(entry, dict):
            raise ConfigError("a matrix include entry is not a mapping")
        fits = False
        for original, cell in zip(originals, cells, strict=True):
            if all(key not in original or original[key] == value for key, value in entry.items()):
                cell.update(entry)
                fits = True
        if not fits:
            added.append(dict(entry))
    cells += added
    if len(cells) > MAX_MATRIX:
        raise ConfigError(f"a matrix of {len(cells):,} jobs (GitHub allows {MAX_MATRIX})")
    return cells


def _flat(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in _flat(item)]
    if isinstance(value, list):
        return [text for item in value for text in _flat(item)]
    return [to_text(value)]


def cell_suffix(cell: dict[str, Any]) -> str:
    """How GitHub shows a combination after a job name: ` (a, b, c)`."""
    values = [text for value in cell.values() for text in _flat(value)]
    return f" ({', '.join(values)})" if values else ""


# -- jobs ---------------------------------------------------------------------------------------


@dataclass
class _Scope:
    """Where jobs are expanded: the workflow, a chain of calls, what is known there."""

    context: Context
    files: Mapping[str, str | bytes]
    workflow: str
    path: str
    contexts: dict[str, Any]
    prefix: str = ""  # "caller / " for called workflows
    depth: int = 1
    maybe: str = ""  # why every job here may only run
    needs: list[str] = field(default_factory=list)  # jobs the caller waits for
    after_failure: bool = False
    problems: list[str] = field(default_factory=list)


def _job_names(
    job_id: str, spec: dict[str, Any], cells: list[dict[str, Any]], scope: _Scope
) -> list[tuple[str, bool, dict[str, Any]]]:
    """(name, known, cell) per combination."""
    template = spec.get("name")
    out = []
    for cell in cells:
        contexts = {**scope.contexts, "matrix": cell}
        if template is None:
            out.append((job_id + cell_suffix(cell), True, cell))
        elif has_expression(template):
            value = interpolate(str(template), contexts)
            if value is UNKNOWN:
                out.append((str(template), False, cell))
            else:
                out.append((to_text(value).strip(), True, cell))
        else:
            out.append((to_text(template).strip() + cell_suffix(cell), True, cell))
    return out


def _cells(spec: dict[str, Any], scope: _Scope) -> list[dict[str, Any]] | None:
    """The matrix combinations of a job ([{}] without a matrix); None when only the run knows."""
    strategy = spec.get("strategy")
    matrix = strategy.get("matrix") if isinstance(strategy, dict) else None
    if matrix is None:
        return [{}]
    value = interpolate(matrix, scope.contexts)
    if value is UNKNOWN:
        return None
    if isinstance(value, dict) and any(v is UNKNOWN for v in value.values()):
        return None
    return expand_matrix(value)


def _expand(jobs: Any, scope: _Scope) -> list[ExpectedJob]:
    if not isinstance(jobs, dict):
        raise ConfigError("`jobs` is not a mapping")
    produced: dict[str, list[ExpectedJob]] = {}
    specs = {str(job_id): spec for job_id, spec in jobs.items() if isinstance(spec, dict)}
    order = _by_needs(specs)
    for job_id in order:
        produced[job_id] = _expand_job(job_id, specs[job_id], scope, produced)
    return [job for job_id in order for job in produced[job_id]]


def _by_needs(specs: dict[str, dict[str, Any]]) -> list[str]:
    """Job ids, each after the jobs it needs (unknown ones ignored)."""
    order: list[str] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def place(job_id: str) -> None:
        if job_id in placed:
            return
        if job_id in visiting:
            raise ConfigError(f"jobs need each other in a cycle ({job_id})")
        visiting.add(job_id)
        for needed in as_list(specs[job_id].get("needs")):
            if str(needed) in specs:
                place(str(needed))
        visiting.discard(job_id)
        placed.add(job_id)
        order.append(job_id)

    for job_id in specs:
        place(job_id)
    return order


def _expand_job(
    job_id: str, spec: dict[str, Any], scope: _Scope, produced: dict[str, list[ExpectedJob]]
) -> list[ExpectedJob]:
    try:
        decided = condition(spec.get("if"), scope.contexts)
    except ExpressionError as exc:
        raise ConfigError(f"job {job_id}: if: {exc}") from None
    if decided.value is False:
        return []
    maybe = scope.maybe
    if not maybe and decided.value is UNKNOWN:
        maybe = f"job {job_id} runs only if `{str(spec.get('if')).strip()[:120]}`"
    after_failure = scope.after_failure or bool(decided.status_functions - {"success"})
    needs = list(scope.needs)
    for needed in as_list(spec.get("needs")):
        needs += [job.name for job in produced.get(str(needed), [])]
    try:
        cells = _cells(spec, scope)
    except ExpressionError as exc:
        raise ConfigError(f"job {job_id}: strategy.matrix: {exc}") from None
    if cells is None:
        reason = maybe or f"the matrix of job {job_id} is known only when the run starts"
        name = str(spec.get("name") or job_id)
        return [_job(scope, f"{name} (…)", False, reason, needs, after_failure)]
    out = []
    try:
        names = _job_names(job_id, spec, cells, scope)
    except ExpressionError as exc:
        raise ConfigError(f"job {job_id}: name: {exc}") from None
    for name, known, cell in names:
        reason = maybe or ("" if known else f"the name of job {job_id} is known only when it runs")
        uses = spec.get("uses")
        if isinstance(uses, str):
            out += _call(uses, name, known, cell, spec, scope, reason, needs, after_failure)
        else:
            out.append(_job(scope, name, known and not reason, reason, needs, after_failure))
    return out


def _job(
    scope: _Scope, name: str, certain: bool, reason: str, needs: list[str], after_failure: bool
) -> ExpectedJob:
    full = f"{scope.workflow} / {scope.prefix}{name}"
    return ExpectedJob(
        provider=GITHUB_ACTIONS,
        name=full,
        workflow=scope.workflow,
        path=scope.path,
        certain=certain and not reason,
        reason=reason or f"workflow {scope.workflow} ({scope.path}) on {scope.context.describe()}",
        needs=sorted(set(needs)),
        after_failure=after_failure,
    )


def _call(
    uses: str,
    name: str,
    known: bool,
    cell: dict[str, Any],
    spec: dict[str, Any],
    scope: _Scope,
    reason: str,
    needs: list[str],
    after_failure: bool,
) -> list[ExpectedJob]:
    """The jobs of a called workflow, as `<caller name> / <job name>`."""
    local = LOCAL_CALL.match(uses.strip())
    if local is None or local.group(1) not in scope.files:
        why = reason or (
            f"it calls {uses}, which is not in this repository's workflows"
            if local is None
            else f"it calls {uses}, which is not at this commit"
        )
        return [_job(scope, f"{name} / …", False, why, needs, after_failure)]
    path = local.group(1)
    if scope.depth >= MAX_DEPTH:
        scope.problems.append(
            f"{scope.path}: calls nest deeper than {MAX_DEPTH} workflows ({path})"
        )
        return []
    document = _document(scope.files[path], path)
    on = document.get("on", document.get(True))
    events = _events(on) if on is not None else {}
    declared = events.get("workflow_call")
    declared = declared.get("inputs") if isinstance(declared, dict) else None
    inputs: dict[str, Any] = {}
    if isinstance(declared, dict):
        for key, definition in declared.items():
            if isinstance(definition, dict) and "default" in definition:
                inputs[str(key)] = interpolate(definition["default"], scope.contexts)
    given = spec.get("with")
    if isinstance(given, dict):
        contexts = {**scope.contexts, "matrix": cell}
        for key, value in given.items():
            try:
                inputs[str(key)] = interpolate(value, contexts)
            except ExpressionError:
                inputs[str(key)] = UNKNOWN
    called = _Scope(
        context=scope.context,
        files=scope.files,
        workflow=scope.workflow,
        path=path,
        contexts={**scope.contexts, "inputs": inputs},
        prefix=f"{scope.prefix}{name} / ",
        depth=scope.depth + 1,
        maybe=reason or ("" if known else "the caller's name is known only when it runs"),
        needs=needs,
        after_failure=after_failure,
        problems=scope.problems,
    )
    return _expand(document.get("jobs") or {}, called)


def _document(source: str | bytes, path: str) -> dict[Any, Any]:
    document = yamlload.load(source)
    if not isinstance(document, dict):
        raise ConfigError("the workflow is not a mapping")
    return document


def _cancellable(document: dict[Any, Any], contexts: dict[str, Any]) -> bool:
    concurrency = document.get("concurrency")
    if not isinstance(concurrency, dict):
        return False
    try:
        value = interpolate(concurrency.get("cancel-in-progress", False), contexts)
    except ExpressionError:
        return True
    return value is UNKNOWN or truth(value) is True


def workflow_jobs(
    path: str, files: Mapping[str, str | bytes], context: Context
) -> list[ExpectedJob]:
    """The jobs one workflow file runs in `context` ([] when it does not run); ConfigError
    when the file (or a workflow it calls) cannot be understood."""
    document = _document(files[path], path)
    on = document.get("on", document.get(True))  # YAML 1.1 reads a bare `on` as true
    if on is None:
        raise ConfigError("the workflow has no `on`")
    runs, why = triggered(on, context)
    if runs is False:
        return []
    name = document.get("name")
    workflow = str(name).strip() if isinstance(name, str) and name.strip() else path
    contexts = {"github": github_context(context, workflow), "inputs": {}}
    maybe = why
    if not context.certain:
        maybe = f"CI may not have run for {context.describe()}"
    elif context.superseded and _cancellable(document, contexts):
        maybe = "a newer commit took its place and the workflow cancels runs in progress"
    scope = _Scope(
        context=context, files=files, workflow=workflow, path=path, contexts=contexts, maybe=maybe
    )
    jobs = _expand(document.get("jobs"), scope)
    if scope.problems:
        raise ConfigError("; ".join(scope.problems))
    return jobs


def expected_jobs(files: Mapping[str, str | bytes], context: Context) -> Expectation:
    """The jobs of every workflow of `.github/workflows` in `context`; a file that cannot
    be understood is named in `problems` with why, and the others still count."""
    out = Expectation()
    for path in sorted(p for p in files if is_workflow(p)):
        try:
            out.jobs += workflow_jobs(path, files, context)
        except ConfigError as exc:
            out.problems.append(f"{path}: {exc}")
    out.jobs = dedupe(out.jobs)
    return out
