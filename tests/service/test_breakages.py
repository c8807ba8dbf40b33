"""Breakages of the default branch: merge bases on real git histories, inferred runs,
reverts, editing with history, and attribution of pull request failures."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from citriage.ci import recording
from citriage.ci.models import Commit, JobAttempt, Repository
from citriage.github import report_text
from citriage.patterns import library, scanning
from citriage.triage import breakages, inference, mergebase, refresh, reverts
from citriage.triage.models import (
    BreakageEdit,
    CommitSummary,
    JobVerdict,
    MergeBase,
    PendingSummary,
    Verdict,
)
from tests import factories

pytestmark = pytest.mark.django_db

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Ada",
    "GIT_AUTHOR_EMAIL": "ada@example.invalid",
    "GIT_COMMITTER_NAME": "Ada",
    "GIT_COMMITTER_EMAIL": "ada@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


class Git:
    """A real repository built by the test."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ticks = 0
        path.mkdir()
        self("init", "--quiet", "--initial-branch=main")

    def __call__(self, *args: str) -> str:
        self.ticks += 1
        env = {**GIT_ENV, "GIT_COMMITTER_DATE": f"{1_700_000_000 + self.ticks} +0000"}
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"]
        done = subprocess.run(
            ["git", "-C", str(self.path), *args],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        return done.stdout.strip()

    def commit(self, message: str) -> str:
        self("commit", "--quiet", "--allow-empty", "-m", message)
        return self("rev-parse", "HEAD")

    def merge(self, other: str, message: str) -> str:
        self("merge", "--quiet", "--no-ff", "--allow-unrelated-histories", "-m", message, other)
        return self("rev-parse", "HEAD")

    def merge_base(self, a: str, b: str) -> str:
        return self("merge-base", a, b)

    def record(self, repository: Repository, *, skip: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        """Tell citriage about every commit (but `skip`) and the main branch's order."""
        for line in self("rev-list", "--all", "--parents").splitlines():
            sha, *parents = line.split()
            if sha in skip:
                continue
            message = self("log", "-1", "--format=%B", sha)
            recording.record_commit(repository, sha, parents=parents, message=message)
        order = self("rev-list", "--first-parent", "--reverse", "main").split()
        recording.record_default_branch(repository, order)


@pytest.fixture
def git(tmp_path: Path) -> Git:
    return Git(tmp_path / "repo")


@pytest.fixture
def repo(settings: object, tmp_path: Path) -> Repository:
    settings.DATA_DIR = tmp_path / "data"  # type: ignore[attr-defined]  # mirrors go here
    return factories.repository("acme/rocket")


def base_of(repository: Repository, sha: str) -> tuple[str | None, str]:
    base = mergebase.merge_base(repository, sha)
    row = MergeBase.objects.filter(repository=repository, sha=sha).first()
    return (base.sha if base else None), (row.source if row else "")


def use_mirror(repository: Repository, git: Git) -> None:
    repository.settings = {"git_url": str(git.path)}
    repository.save()


# --- merge bases on real histories -----------------------------------------------------


def test_merge_base_on_a_linear_history(repo: Repository, git: Git) -> None:
    main = [git.commit(f"main {i}") for i in range(5)]
    git("checkout", "--quiet", "-b", "feature", main[1])
    p1, p2 = git.commit("feature 1"), git.commit("feature 2")
    git("checkout", "--quiet", "main")
    git.record(repo)
    assert git.merge_base("main", p2) == main[1]
    assert base_of(repo, p2) == (main[1], "recorded parents")
    assert base_of(repo, main[3]) == (main[3], "")  # a branch commit is its own base

    # With a commit on the way unknown to citriage, the recorded parents cannot tell;
    # the local mirror of the repository can.
    MergeBase.objects.all().delete()
    Commit.objects.filter(sha=p1).delete()
    assert base_of(repo, p2) == (None, "")  # nothing cached for an unknown answer
    use_mirror(repo, git)
    assert base_of(repo, p2) == (main[1], "git mirror")
    assert (mergebase.mirror_path(repo) / "HEAD").exists()

    # main moves forward onto a branch (a fast-forward): the cached answer, though still a
    # branch commit, is stale because the head moved
    git("checkout", "--quiet", "-b", "ff", main[4])
    x, on_x = git.commit("X"), git.commit("on top of X")
    git.record(repo)
    assert base_of(repo, on_x)[0] == main[4]
    git("checkout", "--quiet", "main")
    git("merge", "--quiet", "--ff-only", x)
    git.record(repo)
    assert git.merge_base("main", on_x) == x
    assert base_of(repo, on_x) == (x, "git mirror")


def test_merge_base_through_merge_commits(repo: Repository, git: Git) -> None:
    a, b = git.commit("A"), git.commit("B")
    git("checkout", "--quiet", "-b", "side", b)
    s1, s2 = git.commit("side 1"), git.commit("side 2")
    git("checkout", "--quiet", "main")
    c = git.commit("C")
    d = git.merge("side", "Merge side into main")  # D's second parent is s2
    e = git.commit("E")
    # a change based on a side-branch commit that reached main only through the merge
    git("checkout", "--quiet", "-b", "from-side", s1)
    from_side = git.commit("from side")
    # a change that merged main into itself after starting at B
    git("checkout", "--quiet", "-b", "merger", b)
    m1 = git.commit("merger 1")
    merged_main = git.merge(d, "Merge main into merger")
    git("checkout", "--quiet", "main")
    git.record(repo)
    assert [
        c.sha
        for c in Commit.objects.filter(branch_position__isnull=False).order_by("branch_position")
    ] == [a, b, c, d, e]
    # git's merge base is s1 itself (not on the first-parent order): the newest
    # first-parent commit it descends from is B
    assert git.merge_base("main", from_side) == s1
    assert base_of(repo, from_side) == (b, "recorded parents")
    assert git.merge_base("main", merged_main) == d
    assert base_of(repo, merged_main) == (d, "recorded parents")

    # A push event does not carry parents: citriage assumes each pushed commit follows
    # the previous one, so the merge's second parent (main) is lost and the recorded
    # parents answer B. The mirror, when there is one, is the truth.
    MergeBase.objects.all().delete()
    Commit.objects.filter(sha=merged_main).update(parents=[m1])
    assert base_of(repo, merged_main) == (b, "recorded parents")
    MergeBase.objects.all().delete()
    use_mirror(repo, git)
    assert base_of(repo, from_side) == (b, "git mirror")
    assert base_of(repo, merged_main) == (d, "git mirror")
    # and where git cannot answer (no mirror, its source gone), the recorded parents do
    MergeBase.objects.all().delete()
    shutil.rmtree(mergebase.mirror_path(repo))
    repo.settings = {"git_url": str(git.path.parent / "gone")}
    repo.save()
    assert base_of(repo, from_side) == (b, "recorded parents")
    assert s2 not in {c.sha for c in Commit.objects.filter(branch_position__isnull=False)}


def test_merge_base_after_a_force_push(repo: Repository, git: Git) -> None:
    _a, b, c, d = (git.commit(x) for x in "ABCD")
    git("checkout", "--quiet", "-b", "feature", c)
    p = git.commit("feature")
    git("checkout", "--quiet", "main")
    git.record(repo)
    assert base_of(repo, p) == (c, "recorded parents")

    # main is rewritten from B: C and D are gone from it
    git("reset", "--quiet", "--hard", b)
    c2, d2 = git.commit("C again"), git.commit("D again")
    git.record(repo)
    assert Commit.objects.get(sha=c).branch_position is None
    # the cache was computed for the old head: it is stale, the answer is now B
    assert MergeBase.objects.get(sha=p).branch_head == d
    assert base_of(repo, p) == (b, "recorded parents")
    assert MergeBase.objects.get(sha=p).branch_head == d2
    assert git.merge_base("main", p) == b and c2 != c

    # the mirror, cloned before the force push and fetched again after it, agrees
    git("reset", "--quiet", "--hard", d)
    git.record(repo)
    MergeBase.objects.all().delete()
    use_mirror(repo, git)
    assert base_of(repo, p) == (c, "git mirror")
    git("reset", "--quiet", "--hard", d2)
    git.record(repo)
    assert base_of(repo, p) == (b, "git mirror")


# --- annotated breakages: validation, history, attribution -----------------------------


def linear_main(repository: Repository, count: int) -> list[Commit]:
    shas = [f"{i:040x}" for i in range(1, count + 1)]
    for i, sha in enumerate(shas):
        recording.record_commit(
            repository, sha, parents=[shas[i - 1]] if i else [], message=f"change {i}"
        )
    recording.record_default_branch(repository, shas)
    return list(Commit.objects.filter(sha__in=shas).order_by("branch_position"))


def pr_commit(repository: Repository, base: Commit, name: str, number: int = 7) -> str:
    sha = (name.encode().hex() + "f" * 40)[:40]
    recording.record_commit(repository, sha, parents=[base.sha], message=name)
    recording.record_pull_request(repository, number, head_sha=sha, title=name, author_login="octo")
    return sha


def test_breakage_validation_and_history(repo: Repository) -> None:
    main = linear_main(repo, 6)
    with pytest.raises(ValidationError) as error:
        breakages.create_breakage(repo, cause=main[3], fix=main[1], jobs=["lint"])
    assert "must come after" in str(error.value)
    with pytest.raises(ValidationError, match="not one of"):
        breakages.create_breakage(repo, cause=main[1], category="gremlins")
    off_branch = recording.record_commit(repo, "e" * 40, parents=[main[2].sha])
    with pytest.raises(ValidationError, match="not on the default branch"):
        breakages.create_breakage(repo, cause=off_branch)
    assert not repo.breakages.exists()

    breakage = breakages.create_breakage(
        repo, cause=main[1], jobs=["lint", "lint"], description="ruff upgrade", reporter="ada"
    )
    assert breakage.jobs == ["lint"] and breakage.ongoing
    with pytest.raises(ValidationError):
        breakages.update_breakage(breakage, editor="bob", fix=main[0])
    breakage.refresh_from_db()
    assert breakage.fix is None  # nothing of the bad edit was stored
    breakages.update_breakage(
        breakage, editor="bob", fix=main[4], jobs=["lint", "docs"], category="infra"
    )
    history = list(BreakageEdit.objects.filter(breakage=breakage))
    assert [(h.action, h.editor) for h in history] == [("created", "ada"), ("edited", "bob")]
    assert history[1].changes == {
        "fix": [None, main[4].sha],
        "jobs": [["lint"], ["docs", "lint"]],
        "category": ["code", "infra"],
    }


@pytest.fixture
def compile_error(log_store: Path) -> None:
    library.create_pattern(
        r"(\S+):(\d+):\d+: error:", is_regex=True, tags=["compile"], specificity=4
    )


def failing(repository: Repository, sha: str, name: str, log: str) -> None:
    factories.failed_log(factories.job(repository, name=name, sha=sha), log)


def verdict_of(sha: str, name: str) -> JobVerdict:
    """The job's verdict once the changes made so far have been taken in."""
    factories.settle()
    return JobVerdict.objects.get(sha=sha, job__name=name)


def test_annotated_breakage_at_the_merge_base_is_a_known_problem(
    repo: Repository, compile_error: None
) -> None:
    main = linear_main(repo, 6)
    pr = pr_commit(repo, main[2], "feature")
    failing(repo, pr, "build", "cc -c a.c\na.c:3:9: error: unknown type name\n")
    failing(repo, pr, "lint", "ruff\nsrc/x.py:1:1: error: E501\n")
    scanning.scan_backlog()
    assert verdict_of(pr, "build").verdict == Verdict.NEW

    # annotating recomputes the verdicts it touches (no explicit recompute here)
    breakage = breakages.create_breakage(
        repo, cause=main[1], jobs=["build"], description="compiler upgrade", reporter="ada"
    )
    build = verdict_of(pr, "build")
    assert build.verdict == Verdict.KNOWN_PROBLEM and build.breakage == breakage
    assert "merge base" in build.reasons[0] and main[2].sha[:10] in build.reasons[0]
    assert build.fixed_on_branch == ""
    assert verdict_of(pr, "lint").verdict == Verdict.NEW  # another job: not covered
    assert not CommitSummary.objects.get(sha=pr).all_excused

    # fixed after the merge base: still known, and the comment says to rebase
    breakages.update_breakage(breakage, editor="ada", fix=main[4])
    build = verdict_of(pr, "build")
    assert build.verdict == Verdict.KNOWN_PROBLEM and build.fixed_on_branch == main[4].sha
    summary = CommitSummary.objects.get(sha=pr)
    body = report_text.report(
        summary,
        JobVerdict.objects.filter(sha=pr).select_related("job", "breakage"),
        [],
        for_comment=True,
    )
    assert f"/breakages/{breakage.pk}/" in body and "compiler upgrade" in body
    assert "git rebase origin/main" in body and main[4].sha[:10] in body

    # fixed before the merge base: the failure is the change's own
    breakages.update_breakage(breakage, editor="ada", fix=main[2])
    assert verdict_of(pr, "build").verdict == Verdict.NEW
    # every job, when the list is empty; deleting it takes the excuse away again
    breakages.update_breakage(breakage, editor="ada", fix=None, jobs=[])
    assert verdict_of(pr, "lint").verdict == Verdict.KNOWN_PROBLEM
    breakage.delete()
    assert verdict_of(pr, "lint").verdict == Verdict.NEW
    assert verdict_of(pr, "build").verdict == Verdict.NEW


def test_annotated_breakage_on_the_branch_itself(repo: Repository, compile_error: None) -> None:
    main = linear_main(repo, 5)
    for commit in main[1:4]:
        failing(repo, commit.sha, "build", "a.c:3:9: error: boom\n")
    scanning.scan_backlog()
    breakages.create_breakage(repo, cause=main[1], fix=main[3], jobs=["build"])
    got = [verdict_of(c.sha, "build") for c in main[1:4]]
    assert [v.verdict for v in got] == [Verdict.KNOWN_PROBLEM, Verdict.KNOWN_PROBLEM, Verdict.NEW]
    assert got[0].fixed_on_branch == ""  # no rebase advice for the branch itself


# --- inferred breakages ----------------------------------------------------------------

COMPILE = "cc -c a.c\na.c:3:9: error: unknown type name 'sizet'\n"
OTHER = "cc -c b.c\nb.c:7:1: error: expected ';'\n"


def test_inferred_run_of_two_excuses_a_pull_request_one_commit_does_not(
    repo: Repository, compile_error: None
) -> None:
    main = linear_main(repo, 9)
    outcome = {1: COMPILE, 2: COMPILE, 3: COMPILE, 6: OTHER}  # index -> failing log
    for i, commit in enumerate(main):
        if i in outcome:
            failing(repo, commit.sha, "build", outcome[i])
        else:
            factories.job(repo, name="build", sha=commit.sha, conclusion="success")
    inside = pr_commit(repo, main[2], "inside", 1)
    lonely = pr_commit(repo, main[6], "lonely", 2)
    different = pr_commit(repo, main[3], "different", 3)
    failing(repo, inside, "build", COMPILE)
    failing(repo, lonely, "build", OTHER)
    failing(repo, different, "build", OTHER)
    scanning.scan_backlog()

    spans = inference.infer_spans(repo, low=1, high=9)
    assert [(s.first.sha, s.last.sha, s.commits, s.weak) for s in spans] == [
        (main[6].sha, main[6].sha, 1, True),
        (main[1].sha, main[3].sha, 3, False),
    ]
    assert spans[1].fix == main[4] and not spans[1].ongoing
    assert "b.c" in spans[0].signature.label and "a.c" in spans[1].signature.label

    known = verdict_of(inside, "build")
    assert known.verdict == Verdict.KNOWN_PROBLEM and known.breakage is None
    assert "inferred breakage" in known.reasons[0] and known.fixed_on_branch == main[4].sha
    assert CommitSummary.objects.get(sha=inside).all_excused
    # a run of one commit is weak evidence; a different failure is not the same problem
    assert verdict_of(lonely, "build").verdict == Verdict.NEW
    assert verdict_of(different, "build").verdict == Verdict.NEW


def test_a_new_failure_on_the_branch_updates_pull_requests_based_there(
    repo: Repository, compile_error: None
) -> None:
    main = linear_main(repo, 5)
    failing(repo, main[2].sha, "build", COMPILE)
    pr = pr_commit(repo, main[2], "feature")
    failing(repo, pr, "build", COMPILE)
    scanning.scan_backlog()
    assert verdict_of(pr, "build").verdict == Verdict.NEW  # one commit: weak
    failing(repo, main[3].sha, "build", COMPILE)  # the run grows to two
    scanning.scan_backlog()
    assert verdict_of(pr, "build").verdict == Verdict.KNOWN_PROBLEM
    factories.job(repo, name="build", sha=main[3].sha, conclusion="success", attempt=2)
    assert verdict_of(pr, "build").verdict == Verdict.NEW  # main[3] was flaky after all


def test_a_branch_commit_summarized_again_looks_around_its_new_jobs_only(
    repo: Repository,
) -> None:
    main = linear_main(repo, 3)
    sha = main[1].sha
    for n in range(30):  # a commit of many jobs, coming in over several summaries
        factories.job(repo, name=f"test {n}", sha=sha, conclusion="success")
    factories.settle()
    JobAttempt.objects.update(updated=timezone.now() - timedelta(minutes=5))  # long known

    def summarized_again() -> int:
        refresh.touch(repo.pk, [sha], live=False)
        PendingSummary.objects.update(refresh_at=timezone.now())
        with CaptureQueriesContext(connection) as queries:
            factories.settle()
        return len(queries)

    # nothing new: none of the 30 jobs asks for the runs inferred around it (3 queries each)
    quiet = summarized_again()
    factories.job(repo, name="test 30", sha=sha, conclusion="success")
    one_new = summarized_again()
    assert quiet < 60 and one_new <= quiet + 6, (quiet, one_new)


@pytest.mark.parametrize("seed", range(6))
def test_span_inference_on_generated_histories(repo: Repository, seed: int) -> None:
    """Runs computed by infer_spans equal those read off the generator's own plan."""
    rng = random.Random(seed)
    count = 40
    main = linear_main(repo, count)
    jobs = ["lint", "build", "test-1", "test-2"]
    plan: dict[str, list[str | None]] = {}  # per job, per commit: None = not built
    for name in jobs:
        states: list[str | None] = []
        broken_with = None
        for _ in range(count):
            if broken_with is None and rng.random() < 0.15:
                broken_with = rng.choice(["Run tests", "Build", "Checkout code x"])
            elif broken_with is not None and rng.random() < 0.3:
                broken_with = None if rng.random() < 0.7 else rng.choice(["Run tests", "Build"])
            was_built = rng.random() > 0.15
            states.append(None if not was_built else (broken_with or "pass"))
        plan[name] = states
    for name, states in plan.items():
        for commit, state in zip(main, states, strict=True):
            if state is None:
                continue
            if state == "pass":
                factories.job(repo, name=name, sha=commit.sha, conclusion="success")
                continue
            factories.job(repo, name=name, sha=commit.sha, step=state)
            if rng.random() < 0.1:  # a rerun that passed: flaky, not broken
                factories.job(repo, name=name, sha=commit.sha, conclusion="success", attempt=2)
                plan[name][main.index(commit)] = "pass"

    expected = []
    for name, states in plan.items():
        run: list[int] = []
        step = None
        built = [(i, s) for i, s in enumerate(states) if s is not None]
        for index, state in [*built, (count, "end")]:
            if run and state != step:
                fix = main[index].sha if state == "pass" else None
                expected.append((name, run[0], run[-1], len(run), f"step:{step}", fix))
                run = []
            if state not in ("pass", "end"):
                run.append(index)
                step = state
    got = [
        (
            s.job,
            main.index(s.first),
            main.index(s.last),
            s.commits,
            s.signature.key,
            s.fix.sha if s.fix else None,
        )
        for s in inference.infer_spans(repo, low=1, high=count)
    ]
    assert sorted(got) == sorted(expected)
    assert expected  # the generator made some breakages


# --- reverts ---------------------------------------------------------------------------


def test_revert_messages() -> None:
    sha = "8f3e2a1b" * 5
    assert reverts.parse_revert(f'Revert "Speed up cache"\n\nThis reverts commit {sha}.') == (
        sha,
        "Speed up cache",
    )
    assert reverts.parse_revert('Revert "Speed up cache (#12)" (#40)') == (
        "",
        "Speed up cache (#12)",
    )
    assert reverts.parse_revert('Revert "Revert "x""') == ("", 'Revert "x"')
    assert reverts.parse_revert("Revert the parser to the old API") is None
    assert reverts.parse_revert("Fix revert handling") is None


def test_reverts_link_their_commit_and_close_a_breakage(repo: Repository) -> None:
    shas = [f"{i:040x}" for i in range(1, 7)]
    messages = [
        "Start",
        "Speed up cache (#12)",
        "Unrelated",
        f'Revert "Speed up cache (#12)"\n\nThis reverts commit {shas[1]}.',
        'Revert "Unrelated" (#99)',
        "After",
    ]
    for i, sha in enumerate(shas):
        recording.record_commit(repo, sha, parents=[shas[i - 1]] if i else [], message=messages[i])
    recording.record_default_branch(repo, shas)
    commits = list(Commit.objects.order_by("branch_position"))
    found = reverts.find_reverts(repo, commits)
    assert [(r.commit.sha, r.reverted.sha if r.reverted else None) for r in found] == [
        (shas[3], shas[1]),
        (shas[4], shas[2]),  # found by its title
    ]
    breakage = breakages.create_breakage(repo, cause=commits[1], jobs=["build"])
    closing = reverts.reverts_closing(breakage)
    # both revert a commit inside the (ongoing) span; the revert of the cause comes first
    assert [r.commit.sha for r in closing] == [shas[3], shas[4]]
    breakages.close_by_revert(breakage, closing[0].commit, editor="ada")
    breakage.refresh_from_db()
    assert breakage.fix == commits[3]
    assert breakage.history.last().action == f"closed by revert {shas[3][:10]}"  # type: ignore[union-attr]
