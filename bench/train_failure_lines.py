"""Learn the failure-line finder's weights from the labeled logs of the shared corpus.

    python -m bench.train_failure_lines            # writes citriage/scanner/failure_model.json
    python -m bench.train_failure_lines --check    # only prints what it would write

The model is linear: a line's score is the sum of the weights of its features
(`citriage.scanner.failure_rules.FEATURES`). It is fitted as a conditional
logit over each log's candidate lines: the probability that the finder's first
line is a labeled one, `softmax(scores)` summed over the labeled candidates, is
maximised over all logs (each log counts once), with an L2 penalty. The
optimiser (L-BFGS from all-zero weights) is deterministic, so two runs write
the same file. The penalty and the margin of the "earliest nearly as good line"
are chosen by cross-validation with folds by project (never the same project
in training and evaluation); `python -m bench.accuracy` reports the
cross-validated accuracy of exactly this procedure.

scipy is needed here (the `test` extra), never at run time: the package only
reads the weights.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.optimize import minimize, minimize_scalar

from bench.accuracy import GROUPS, LabeledLog, Score, labeled_logs
from citriage.scanner import failure_lines, failure_rules

ROOT = Path(__file__).resolve().parents[1]
MODEL_PATH = ROOT / "citriage" / "scanner" / failure_lines.MODEL_FILE
PENALTIES = (0.3, 1.0, 3.0)  # L2 strengths tried (pulling towards the priors)
INNER_FOLDS = 5  # folds of projects for choosing them
DEFAULT_PENALTY = 1.0
N_FEATURES = len(failure_rules.FEATURES)


@dataclass
class Example:
    """One labeled log, its candidates judged once (features do not depend on weights)."""

    item: LabeledLog
    lines: list[failure_lines.ScoredLine]
    with_baseline: list[failure_lines.ScoredLine]  # the same with the passing log's signatures

    def candidates(self, baseline: bool) -> list[failure_lines.ScoredLine]:
        return self.with_baseline if baseline else self.lines

    def matrix(self, baseline: bool) -> tuple[np.ndarray, np.ndarray]:
        """Features (one row per candidate) and which candidates are labeled lines."""
        key = f"_matrix_{baseline}"
        if key not in self.__dict__:
            lines = self.candidates(baseline)
            labeled = [line.line in self.item.expected for line in lines]
            self.__dict__[key] = (_matrix(lines), np.array(labeled, dtype=bool))
        cached: tuple[np.ndarray, np.ndarray] = self.__dict__[key]
        return cached


def examples(logs: Iterable[LabeledLog]) -> list[Example]:
    """Judge every labeled log."""
    found = []
    for item in logs:
        lines = failure_lines.candidate_lines(item.log)
        with_baseline = lines
        if item.passing is not None:
            baseline = failure_lines.Baseline.of(item.passing)
            with_baseline = failure_lines.candidate_lines(item.log, baseline=baseline)
        found.append(Example(item, lines, with_baseline))
    return found


def _matrix(lines: Sequence[failure_lines.ScoredLine]) -> np.ndarray:
    x = np.zeros((len(lines), N_FEATURES))
    for row, line in enumerate(lines):
        for index, value in (*line.judged.features, *line.context):
            x[row, index] = value
    return x


def fit(train: Sequence[Example], penalty: float, baseline: bool = True) -> np.ndarray:
    """Weights maximising the mean log-probability that the top line is a labeled one,
    pulled towards the priors (`failure_rules.PRIORS`) times a fitted scale."""
    matrices, positives = [], []
    for example in train:
        x, positive = example.matrix(baseline)
        if positive.any() and not positive.all():
            matrices.append(x)
            positives.append(positive)
    prior = np.array(failure_rules.PRIOR_WEIGHTS)
    if not matrices:
        return prior
    x = sparse.csr_matrix(np.vstack(matrices))
    xt = x.T.tocsr()
    positive = np.concatenate(positives)
    starts = np.cumsum([0] + [len(m) for m in matrices[:-1]])
    logs = len(matrices)
    owner = np.repeat(np.arange(logs), [len(m) for m in matrices])

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = x @ w
        top = np.maximum.reduceat(s, starts)
        e = np.exp(s - top[owner])
        z_all = np.add.reduceat(e, starts)
        z_pos = np.add.reduceat(e * positive, starts)
        value = float(np.sum(np.log(z_all) - np.log(z_pos))) / logs
        # d/ds: softmax over all candidates minus softmax over the labeled ones
        ds = e / z_all[owner] - e * positive / z_pos[owner]
        return value, (xt @ ds) / logs

    scale = minimize_scalar(lambda k: loss(k * prior)[0], bounds=(0.0, 3.0), method="bounded").x
    center = scale * prior

    def regularised(w: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = loss(w)
        gap = w - center
        return value + 0.5 * penalty * float(gap @ gap), grad + penalty * gap

    result = minimize(regularised, center, jac=True, method="L-BFGS-B")
    weights: np.ndarray = np.round(result.x, 4)
    return weights


def model_of(weights: np.ndarray) -> failure_lines.Model:
    return failure_lines.Model(tuple(float(w) for w in weights))


def ranked(example: Example, model: failure_lines.Model, baseline: bool) -> list[int]:
    return [c.line for c in failure_lines.rerank(example.candidates(baseline), model)]


def evaluate(
    tested: Sequence[Example], model_for: Callable[[Example], failure_lines.Model], baseline: bool
) -> dict[str, Score]:
    scores = {group: Score() for group in GROUPS}
    for example in tested:
        top = ranked(example, model_for(example), baseline)
        for group, members in GROUPS.items():
            if example.item.source in members:
                scores[group].add(top, example.item.expected)
    return scores


def folds(data: Sequence[Example], by: str, count: int | None = None) -> list[list[Example]]:
    """Folds of whole projects (`by="project"`) or whole sources (`by="source"`): one per
    key, or `count` folds dealing the sorted keys round-robin."""
    keys = sorted({getattr(e.item, by) for e in data})
    count = count or len(keys)
    fold_of = {key: i % count for i, key in enumerate(keys)}
    return [
        [e for e in data if fold_of[getattr(e.item, by)] == fold]
        for fold in range(min(count, len(keys)))
    ]


def cross_validated_models(
    data: Sequence[Example],
    by: str,
    choose: bool = True,
    baseline: bool = True,
    penalty: float = DEFAULT_PENALTY,
) -> dict[int, failure_lines.Model]:
    """For each log, the model trained (its penalty chosen too, when `choose`) without its
    fold: the held-out predictions of the whole procedure."""
    models: dict[int, failure_lines.Model] = {}
    for held_out in folds(data, by):
        train = [e for e in data if e not in held_out]
        chosen = choose_penalty(train, baseline) if choose else penalty
        model = model_of(fit(train, chosen, baseline))
        for example in held_out:
            models[id(example)] = model
    return models


def choose_penalty(train: Sequence[Example], baseline: bool) -> float:
    """The penalty with the best top-1 (then top-5) over inner folds of projects."""
    inner = folds(train, "project", INNER_FOLDS)
    best: tuple[tuple[int, int], float] | None = None
    for penalty in PENALTIES:
        models = {}
        for held_out in inner:
            model = model_of(fit([e for e in train if e not in held_out], penalty, baseline))
            for example in held_out:
                models[id(example)] = model
        overall = evaluate(train, lambda e, m=models: m[id(e)], baseline)["overall"]
        key = (overall.top1, overall.top5)
        if best is None or key > best[0]:
            best = (key, penalty)
    assert best is not None
    return best[1]


def train(data: Sequence[Example]) -> tuple[failure_lines.Model, float]:
    penalty = choose_penalty(data, baseline=True)
    return model_of(fit(data, penalty)), penalty


def write(model: failure_lines.Model, penalty: float, logs: int, path: Path = MODEL_PATH) -> str:
    content = model.to_mapping()
    content["trained"] = {
        "by": "python -m bench.train_failure_lines",
        "logs": logs,
        "l2_penalty": penalty,
    }
    text = json.dumps(content, indent=1) + "\n"
    path.write_text(text, encoding="utf-8")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="print the model, write nothing")
    args = parser.parse_args()
    data = examples(labeled_logs())
    model, penalty = train(data)
    in_sample = evaluate(data, lambda e: model, baseline=True)["overall"]
    print(
        f"{len(data)} logs, L2 penalty {penalty}: in-sample "
        f"top-1 {in_sample.pct(in_sample.top1):.1f}%, top-5 {in_sample.pct(in_sample.top5):.1f}%"
    )
    for name, weight in sorted(
        zip(failure_rules.FEATURES, model.weights, strict=True), key=lambda nw: -abs(nw[1])
    ):
        print(f"  {name:24} {weight:+.3f}")
    if args.check:
        return
    write(model, penalty, len(data))
    print(f"wrote {MODEL_PATH.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
