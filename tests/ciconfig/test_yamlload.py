"""Safe YAML reading: every real configuration of the corpus reads (the two PyYAML
refuses included), and hostile or broken input ends in a ConfigError that says why."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from citriage.ciconfig import yamlload
from citriage.ciconfig.yamlload import ConfigError


def test_every_corpus_configuration_loads(configs: Path) -> None:
    files = sorted(p for p in configs.rglob("*") if p.suffix in (".yml", ".yaml"))
    assert len(files) == 146  # 14 CircleCI files, 132 workflow files
    for path in files:
        document = yamlload.load(path.read_bytes())
        assert isinstance(document, dict), path


def test_a_tab_inside_a_plain_scalar_is_text(configs: Path) -> None:
    """React's config has `echo "<< pipeline.git.revision<TAB>>>"`: YAML 1.2 reads the
    TAB as part of the text; PyYAML's own loader refuses the line."""
    source = (configs / "circleci/facebook__react__6bf1117.config.yml").read_text()
    with pytest.raises(yaml.YAMLError):
        yaml.load(source, Loader=yaml.SafeLoader)
    document = yamlload.load(source)
    runs = [
        step["run"]
        for job in document["jobs"].values()
        for step in job.get("steps", [])
        if isinstance(step, dict) and "run" in step and isinstance(step["run"], str)
    ]
    assert 'echo "<< pipeline.git.revision\t>>" >> build2/COMMIT_SHA' in runs
    assert yamlload.load("a: b\tc  \t\n  d\n") == {"a": "b\tc d"}


def test_a_redefined_anchor_serves_the_aliases_after_it(configs: Path) -> None:
    """Solidity defines `base_ubuntu_clang_small_env` twice (PyYAML refuses the file)."""
    source = (configs / "circleci/ethereum__solidity__a83ea40.config.yml").read_text()
    with pytest.raises(yaml.YAMLError, match="duplicate anchor"):
        yaml.safe_load(source)
    document = yamlload.load(source)
    defaults = {k: v for item in document["defaults"] for k, v in item.items()}
    assert defaults["base_ubuntu_clang_small"]["environment"]["CPUs"] == 2
    assert defaults["base_ubuntu_clang_large"]["environment"]["CPUs"] == 5
    assert yamlload.load("a: &x 1\nb: *x\nc: &x 2\nd: *x\n") == {"a": 1, "b": 1, "c": 2, "d": 2}


def test_an_alias_bomb_is_refused_before_anything_walks_it() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 10)}]")
    bomb = "\n".join(lines) + "\n"
    assert len(bomb) < 1000
    with pytest.raises(ConfigError, match="expands to more than 1,000,000 nodes"):
        yamlload.load(bomb)


def test_merge_keys_do_not_grow_without_bound() -> None:
    lines = ["m0: &m0 {k0: 1, k1: 2}"]
    for level in range(1, 40):
        lines.append(f"m{level}: &m{level} {{<<: [*m{level - 1}, *m{level - 1}], x{level}: 1}}")
    document = yamlload.load("\n".join(lines))
    assert len(document["m39"]) == 41  # each key once, however often it was merged


def test_recursive_deep_huge_and_broken_input_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="recursive alias"):
        yamlload.load("a: &a [1, *a]")
    with pytest.raises(ConfigError, match="nested too deeply"):
        yamlload.load("[" * 50_000 + "]" * 50_000)
    with pytest.raises(ConfigError, match="more than the 2,097,152 read"):
        yamlload.load(b"a: 1\n" * 500_000)
    with pytest.raises(ConfigError, match="not UTF-8"):
        yamlload.load(b"name: \xff\xfe\n")
    with pytest.raises(ConfigError, match=r"not valid YAML: .*\(line 3, column 2\)"):
        yamlload.load("jobs:\n  a: b\n c: d\n")
