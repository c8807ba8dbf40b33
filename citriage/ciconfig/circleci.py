"""The jobs a CircleCI configuration runs for a commit, named as CircleCI reports them
(the status context `ci/circleci: <name>`).

Per workflow entry (CircleCI's configuration reference, "Using matrix jobs"): `name:`
replaces the job's name; a matrix without `name:` names each job
`<job>-<value>-<value>…`, the values in the alphabetical order of their parameters;
`<< matrix.x >>` in `name:` and `requires:` takes each job's value; `exclude` removes
combinations; `alias` (by default the job's name) lets `requires` name every job of
the matrix. A job runs when its branch filter lets the branch through and, if it
requires jobs, at least one of those runs (requirements filtered out are ignored;
a job all of whose requirements are filtered out does not run). A workflow's
`when:`/`unless:` are logic statements over pipeline values, which are known here
when they are parameter defaults or the branch; a workflow with `triggers` runs on
its schedule only. Jobs behind an `approval` job wait for a person: they may run.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from citriage.ciconfig import yamlload
from citriage.ciconfig.expressions import UNKNOWN, to_text, truth
from citriage.ciconfig.plan import (
    CIRCLECI,
    CIRCLECI_CONFIG,
    Context,
    Expectation,
    ExpectedJob,
    as_list,
    compiled_filter,
    dedupe,
)
from citriage.ciconfig.yamlload import ConfigError

MAX_MATRIX = 1000  # jobs of one matrix entry
_REFERENCE = re.compile(r"<<\s*([A-Za-z0-9_.\-]+)\s*>>")


@dataclass
class _Entry:
    job: str
    name: str
    name_known: bool
    refers_as: set[str]  # what `requires` may call it: its name, and a matrix's alias
    requires: list[str]
    branch_ok: bool
    approval: bool
    needs: list[str] = field(default_factory=list)


def _pipeline_values(document: dict[str, Any], context: Context) -> dict[str, Any]:
    values: dict[str, Any] = {
        "pipeline.git.branch": _branch(context),
        "pipeline.git.tag": "",
        "pipeline.trigger_source": "webhook",
        "pipeline.schedule.name": "",
        "pipeline.schedule.id": "",
        "pipeline.project.type": "github",
    }
    if context.sha:
        values["pipeline.git.revision"] = context.sha
    parameters = document.get("parameters")
    if isinstance(parameters, dict):
        for name, spec in parameters.items():
            if isinstance(spec, dict) and "default" in spec:
                values[f"pipeline.parameters.{name}"] = spec["default"]
    return values


def _branch(context: Context) -> str:
    """The branch CircleCI builds: a fork's pull request is built as `pull/<number>`."""
    if context.event == "pull_request" and context.fork:
        return f"pull/{context.pull}"
    return context.branch


def substitute(value: Any, values: dict[str, Any]) -> Any:
    """`<< name >>` references replaced by their values (one whole reference keeps its
    type); UNKNOWN when one is not known."""
    if not isinstance(value, str) or "<<" not in value:
        return value
    whole = _REFERENCE.fullmatch(value.strip())
    if whole is not None:
        return values.get(whole.group(1), UNKNOWN)
    missing = False

    def replace(found: re.Match[str]) -> str:
        nonlocal missing
        if found.group(1) not in values:
            missing = True
            return found.group(0)
        return to_text(values[found.group(1)])

    text = _REFERENCE.sub(replace, value)
    return UNKNOWN if missing else text


def logic(statement: Any, values: dict[str, Any]) -> Any:
    """A logic statement (`and`, `or`, `not`, `equal`, `matches`, or a value) as
    True, False or UNKNOWN."""
    if isinstance(statement, dict) and len(statement) == 1:
        ((op, argument),) = statement.items()
        if op == "and":
            results = [logic(s, values) for s in as_list(argument)]
            return False if False in results else (UNKNOWN if UNKNOWN in results else True)
        if op == "or":
            results = [logic(s, values) for s in as_list(argument)]
            return True if True in results else (UNKNOWN if UNKNOWN in results else False)
        if op == "not":
            result = logic(argument, values)
            return UNKNOWN if result is UNKNOWN else not result
        if op == "equal":
            items = [substitute(v, values) for v in as_list(argument)]
            if UNKNOWN in items:
                return UNKNOWN
            return all(to_text(i) == to_text(items[0]) for i in items)
        if op == "matches" and isinstance(argument, dict):
            value = substitute(argument.get("value"), values)
            if value is UNKNOWN:
                return UNKNOWN
            return re.fullmatch(str(argument.get("pattern") or ""), to_text(value)) is not None
    return truth(substitute(statement, values))


def _branch_ok(filters: Any, branch: str) -> bool:
    """A job's `filters.branches` (`only` is applied before `ignore`); none: every branch."""
    branches = filters.get("branches") if isinstance(filters, dict) else None
    if not isinstance(branches, dict):
        return True
    only, ignore = branches.get("only"), branches.get("ignore")
    if only is not None and not any(
        compiled_filter(str(p)).fullmatch(branch) for p in as_list(only)
    ):
        return False
    return not any(compiled_filter(str(p)).fullmatch(branch) for p in as_list(ignore))


def _cells(matrix: dict[str, Any]) -> list[dict[str, Any]]:
    parameters = matrix.get("parameters")
    if not isinstance(parameters, dict) or not parameters:
        raise ConfigError("a matrix without parameters")
    names = list(parameters)
    axes = [as_list(parameters[n]) for n in names]
    total = 1
    for axis in axes:
        total *= len(axis)
    if total > MAX_MATRIX:
        raise ConfigError(f"a matrix of {total:,} jobs (more than {MAX_MATRIX:,})")
    excluded = [e for e in as_list(matrix.get("exclude")) if isinstance(e, dict)]
    cells = []
    for values in itertools.product(*axes):
        cell = dict(zip(names, values, strict=True))
        if any(all(cell.get(k) == v for k, v in e.items()) for e in excluded):
            continue
        cells.append(cell)
    return cells


def _entries(workflow: dict[str, Any], values: dict[str, Any], branch: str) -> list[_Entry]:
    entries = []
    for item in as_list(workflow.get("jobs")):
        args: dict[str, Any]
        if isinstance(item, str):
            job, args = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            ((job, args),) = item.items()
            args = args if isinstance(args, dict) else {}
        else:
            raise ConfigError(f"a workflow entry that is not a job: {str(item)[:80]!r}")
        job = str(job)
        matrix = args.get("matrix")
        cells = _cells(matrix) if isinstance(matrix, dict) else [{}]
        alias = str(matrix.get("alias") or job) if isinstance(matrix, dict) else None
        for cell in cells:
            cell_values = {**values, **{f"matrix.{k}": v for k, v in cell.items()}}
            if args.get("name") is not None:
                name = substitute(str(args["name"]), cell_values)
            elif cell:
                name = "-".join([job, *(to_text(cell[k]) for k in sorted(cell))])
            else:
                name = job
            known = name is not UNKNOWN
            name = str(args.get("name") or job) if not known else str(name)
            requires = []
            for requirement in as_list(args.get("requires")):
                if isinstance(requirement, dict) and len(requirement) == 1:
                    requirement = next(iter(requirement))  # `- job: [success, failed]`
                resolved = substitute(str(requirement), cell_values)
                requires.append(str(requirement) if resolved is UNKNOWN else str(resolved))
            entries.append(
                _Entry(
                    job=job,
                    name=name,
                    name_known=known,
                    refers_as={name} | ({alias} if alias else set()),
                    requires=requires,
                    branch_ok=_branch_ok(args.get("filters"), branch),
                    approval=args.get("type") == "approval",
                )
            )
    return entries


def _resolve(
    entries: list[_Entry], problems: list[str], where: str
) -> tuple[list[bool], list[bool]]:
    """Which entries run on this branch, and which of those wait for a person's approval."""
    by_reference: dict[str, list[int]] = {}
    for index, entry in enumerate(entries):
        for reference in entry.refers_as:
            by_reference.setdefault(reference, []).append(index)
    runs: dict[int, bool] = {}
    held: dict[int, bool] = {}
    visiting: set[int] = set()

    def visit(index: int) -> bool:
        if index in runs:
            return runs[index]
        if index in visiting:
            raise ConfigError(f"{where}: jobs require each other in a cycle")
        visiting.add(index)
        entry = entries[index]
        targets = []
        for requirement in entry.requires:
            found = by_reference.get(requirement)
            if found is None:
                note = f"{where}: {entry.name!r} requires {requirement!r}, not in the workflow"
                if note not in problems:
                    problems.append(note)
                continue
            targets += found
        running = [t for t in targets if visit(t)]
        runs[index] = entry.branch_ok and (not entry.requires or bool(running))
        held[index] = entry.approval or any(held[t] for t in running)
        entry.needs = sorted({entries[t].name for t in running if not entries[t].approval})
        visiting.discard(index)
        return runs[index]

    for index in range(len(entries)):
        visit(index)
    return [runs[i] for i in range(len(entries))], [held[i] for i in range(len(entries))]


def expected_jobs(
    source: str | bytes, context: Context, path: str = CIRCLECI_CONFIG
) -> Expectation:
    """The jobs `.circleci/config.yml` runs in `context`. A file that cannot be understood
    is a ConfigError (the caller records why)."""
    out = Expectation()
    if context.event == "pull_request" and not context.fork:
        return out  # CircleCI builds the branch's push, not the pull request
    document = yamlload.load(source)
    if not isinstance(document, dict):
        raise ConfigError("the configuration is not a mapping")
    values = _pipeline_values(document, context)
    branch = _branch(context)
    maybe_all = ""
    if not context.certain:
        maybe_all = f"CI may not have run for {context.describe()}"
    elif context.event == "pull_request":
        maybe_all = "CircleCI builds pull requests from forks only when the project allows it"
    elif context.superseded and branch != context.default_branch:
        maybe_all = "a newer commit was pushed: CircleCI may have cancelled this build"
    if document.get("setup") is True:
        out.notes.append(
            f"{path}: dynamic configuration: the jobs of the pipeline it continues with are "
            "decided at run time"
        )
    workflows = document.get("workflows")
    if workflows is None:  # 2.0 without workflows: the job `build` runs
        if isinstance(document.get("jobs"), dict) and "build" in document["jobs"]:
            out.jobs.append(_expected("build", "build", path, maybe_all, []))
        return out
    if not isinstance(workflows, dict):
        raise ConfigError("`workflows` is not a mapping")
    for key, workflow in workflows.items():
        if key == "version" or not isinstance(workflow, dict):
            continue
        if workflow.get("triggers"):
            continue  # scheduled: not run by a push
        condition: Any = True
        if "when" in workflow:
            condition = logic(workflow["when"], values)
        if "unless" in workflow and condition is not False:
            unless = logic(workflow["unless"], values)
            condition = UNKNOWN if UNKNOWN in (unless, condition) else not unless
        if condition is False:
            continue
        where = f"{path}: workflow {key}"
        entries = _entries(workflow, values, branch)
        runs, held = _resolve(entries, out.problems, where)
        for entry, running, waiting in zip(entries, runs, held, strict=True):
            if not running or entry.approval:
                continue
            reason = maybe_all
            if not reason and condition is UNKNOWN:
                reason = f"workflow {key} runs only when its when/unless condition holds"
            if not reason and waiting:
                reason = "it waits for a person's approval"
            if not reason and not entry.name_known:
                reason = "its name depends on a value known only when the pipeline runs"
            out.jobs.append(_expected(entry.name, str(key), path, reason, entry.needs))
    out.jobs = dedupe(out.jobs)
    return out


def _expected(name: str, workflow: str, path: str, maybe: str, needs: list[str]) -> ExpectedJob:
    return ExpectedJob(
        provider=CIRCLECI,
        name=name,
        workflow=workflow,
        path=path,
        certain=not maybe,
        reason=maybe or f"workflow {workflow} of {path}",
        needs=needs,
    )
