"""Shell completion, driven through the real shells: bash with the printed script sourced and
its function called with ``COMP_WORDS``/``COMP_CWORD`` set (``COMPREPLY`` read back); zsh with
``words``/``CURRENT`` set and ``compadd`` recorded (a completion widget cannot run without a
terminal); fish with ``complete -C``. zsh and fish are skipped when not installed
(``tests/run.sh`` installs them as root)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nemorun.cli import complete_keys
from nemorun.cli.complete import Mode, complete, dequote, file_names
from nemorun.cli.completion import script
from tests.conftest import EXAMPLES, ROOT, CliResult

HOSTILE = ("my spec.yaml", "it's.yaml", "$HOME.toml", 'a"b.json', "tab\there.yml")
RUNS = (
    "20261121-101500-pretrain-0a1b2c",
    "20261121-103000-pretrain-3d4e5f",
    "20261122-090000-sft-777777",
)

SPEC = """\
nemorun: 1
name: quick
pythonpath: [{examples}]
task:
  _target_: trainlib:train
  optim:
    lr: 0.05
  steps: 60
"""

ROWS = [
    # (kind, words after 'nemorun', the word being completed, expected candidates)
    ("command", [], "va", ["validate"]),
    (
        "command (all)",
        [],
        "c",
        ["cancel", "check", "cluster", "compare", "compile", "completion"],
    ),
    ("flag", ["launch", "exp.yaml"], "--w", ["--wait"]),
    ("flag of another command", ["logs", "pretrain"], "--f", ["--follow"]),
    ("choice", ["ls", "--status"], "c", ["cancelled", "completed"]),
    ("shell", ["completion"], "", ["bash", "fish", "zsh"]),
    ("target", ["compile", "exp.yaml", "--target"], "s", ["skypilot", "slurm"]),
    ("target, short flag", ["validate", "exp.yaml", "-t"], "d", ["docker"]),
    ("spec file", ["validate"], "ex", ["exp.yaml"]),
    ("spec file in a directory", ["run"], "conf/", ["conf/base.toml"]),
    ("run id", ["status"], "20261121-10", list(RUNS[:2])),
    ("run name", ["logs"], "s", ["sft"]),
    ("run for rerun", ["rerun"], "pre", ["pretrain"]),
    ("run or spec for diff", ["diff"], "e", ["exp.yaml"]),
    ("override key of rerun (its resolved spec)", ["rerun", "pretrain"], "optim.", ["optim.lr"]),
    ("override key", ["run", "exp.yaml"], "opt", ["optim."]),
    ("nested override key", ["validate", "exp.yaml"], "optim.w", ["optim.weight_decay"]),
    ("override key after +", ["run", "exp.yaml"], "+st", ["+steps"]),
    ("override key after ~", ["run", "exp.yaml"], "~optim.l", ["~optim.lr"]),
    ("override key after ++", ["launch", "exp.yaml", "--wait"], "++optim.l", ["++optim.lr"]),
    ("no value after =", ["run", "exp.yaml"], "steps=", []),
    ("another spec where overrides go", ["validate", "exp.yaml"], "conf/", ["conf/base.toml"]),
    ("unknown command", ["frobnicate"], "", []),
    ("spec file of fmt", ["fmt", "--check"], "ex", ["exp.yaml"]),
    ("override key of check", ["check", "exp.yaml"], "optim.w", ["optim.weight_decay"]),
]


@pytest.fixture
def line(
    workdir: Path,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """A working directory with specs, hostile file names and recorded runs (by name only)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    (workdir / "exp.yaml").write_text(SPEC.format(examples=EXAMPLES), encoding="utf-8")
    (workdir / "conf").mkdir()
    (workdir / "conf" / "base.toml").write_text("nemorun = 1\n", encoding="utf-8")
    (workdir / "notes.txt").write_text("", encoding="utf-8")
    for name in HOSTILE:
        (workdir / name).write_text("nemorun: 1\n", encoding="utf-8")
    for run_id in RUNS:
        (home / "nemorun-runs" / run_id).mkdir(parents=True)
    resolved = "nemorun: 1\ntask:\n  _target_: trainlib:train\n  optim:\n    lr: 0.1\n"
    (home / "nemorun-runs" / RUNS[1] / "resolved.yaml").write_text(resolved, encoding="utf-8")
    # Warm here (the task's code is imported once per test process): a cold TAB would start
    # a background process per test. The cold path has tests of its own.
    complete_keys.warm(workdir / "exp.yaml")
    return workdir


def shell_env() -> dict[str, str]:
    """This environment, importing nemorun from this checkout."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}


BASH_CALL = """
COMP_WORDS=(nemorun "$@"); COMP_CWORD=$#; COMPREPLY=()
_nemorun
printf '%s\\0' "${COMPREPLY[@]}"
"""

ZSH_CALL = """
compadd() { local i=${@[(i)--]}; (( $# > i )) && printf '%s\\0' "${(@)@[i+1,-1]}"; return 0 }
compdef() { : }
source ./completion.zsh
words=(nemorun "$@"); CURRENT=${#words}; PREFIX=${words[CURRENT]}
_nemorun
"""


def bash_reply(workdir: Path, words: list[str], current: str) -> list[str]:
    """COMPREPLY for ``nemorun WORDS… CURRENT`` (each word as bash would hold it)."""
    (workdir / "completion.bash").write_text(script("bash"), encoding="utf-8")
    call = "source ./completion.bash\n" + BASH_CALL
    return _run(["bash", "--norc", "-c", call, "bash", *words, current], workdir)


def zsh_reply(workdir: Path, words: list[str], current: str) -> list[str]:
    (workdir / "completion.zsh").write_text(script("zsh"), encoding="utf-8")
    return _run(["zsh", "-f", "-c", ZSH_CALL, "zsh", *words, current], workdir)


def fish_reply(workdir: Path, words: list[str], current: str) -> list[str]:
    (workdir / "completion.fish").write_text(script("fish"), encoding="utf-8")
    typed = " ".join(["nemorun", *words, current])
    call = f"source ./completion.fish\ncomplete -C{_fish_quote(typed)}"
    found = _run(["fish", "--no-config", "-c", call], workdir, sep="\n")
    return [c.split("\t")[0] for c in found]  # fish shows a description after a tab


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _run(argv: list[str], cwd: Path, sep: str = "\0") -> list[str]:
    done = subprocess.run(
        argv, cwd=cwd, env=shell_env(), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return sorted(c for c in done.stdout.split(sep) if c)


SHELLS = {"bash": bash_reply, "zsh": zsh_reply, "fish": fish_reply}


def needs(shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed (tests/run.sh installs it as root)")


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(("kind", "words", "current", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_each_kind_completes_in_each_shell(
    line: Path, shell: str, kind: str, words: list[str], current: str, expected: list[str]
) -> None:
    needs(shell)
    if shell == "fish" and current.endswith("="):
        expected = []  # fish then offers nothing itself either
    assert SHELLS[shell](line, words, current) == sorted(expected)


BASH_SPLIT = [
    # bash splits a word at '=' (COMP_WORDBREAKS): these are its words for what was typed
    ("--target=s", ["compile", "exp.yaml", "--target", "="], "s", ["skypilot", "slurm"]),
    (
        "--status=",
        ["ls", "--status"],
        "=",
        ["cancelled", "completed", "failed", "pending", "running", "unknown"],
    ),
    ("steps=", ["run", "exp.yaml", "steps"], "=", []),
    ("steps=6", ["run", "exp.yaml", "steps", "="], "6", []),
    ("steps=6 st", ["run", "exp.yaml", "steps", "=", "6"], "st", ["steps"]),
]


@pytest.mark.parametrize(
    ("typed", "words", "current", "expected"), BASH_SPLIT, ids=[r[0] for r in BASH_SPLIT]
)
def test_bash_words_split_at_equals(
    line: Path, typed: str, words: list[str], current: str, expected: list[str]
) -> None:
    assert bash_reply(line, words, current) == expected


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_an_option_value_after_equals_in_one_word(line: Path, shell: str) -> None:
    needs(shell)
    found = SHELLS[shell](line, ["compile", "exp.yaml"], "--target=s")
    assert found == ["--target=skypilot", "--target=slurm"]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("my\\ ", "my spec.yaml"),
        ("'my sp", "my spec.yaml"),
        ("it\\'", "it's.yaml"),
        ('"it', "it's.yaml"),
        ("\\$H", "$HOME.toml"),
        ('a\\"', 'a"b.json'),
        ("'a\"", 'a"b.json'),
    ],
)
def test_hostile_file_names_complete_in_bash(line: Path, typed: str, expected: str) -> None:
    """Words as bash holds them while the user types them (quotes and backslashes included)."""
    assert bash_reply(line, ["validate"], typed) == [expected]


def test_every_spec_file_is_offered_and_nothing_else(line: Path) -> None:
    offered = bash_reply(line, ["validate"], "")
    assert offered == sorted(["conf", "exp.yaml", "home", *HOSTILE])  # bash adds the slashes


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_hostile_file_names_complete_in_zsh_and_fish(line: Path, shell: str) -> None:
    needs(shell)
    names = [
        n for n in HOSTILE if shell != "fish" or "\t" not in n
    ]  # fish: a tab starts a description
    assert SHELLS[shell](line, ["validate"], "") == sorted(["conf/", "exp.yaml", "home/", *names])
    if shell == "fish":
        assert fish_reply(line, ["validate"], "it\\'") == ["it's.yaml"]


def test_a_spec_with_a_hostile_name_gives_its_override_keys(line: Path) -> None:
    (line / "my spec.yaml").write_text("nemorun: 1\ntask:\n  depth: 3\n", encoding="utf-8")
    assert bash_reply(line, ["run", "my\\ spec.yaml"], "de") == ["depth"]
    assert bash_reply(line, ["run", "'my spec.yaml'"], "de") == ["depth"]


def test_override_keys_come_from_the_schema_once_cached(line: Path) -> None:
    """Cold: the keys the spec writes (a cold TAB: the next test); once warm, the schema's
    (the task's other arguments, the executor's options)."""
    spec = line / "exp.yaml"
    assert complete_keys.written_keys(spec.read_bytes(), ".yaml") == (
        "name",
        "optim",
        "optim.lr",
        "pythonpath",
        "steps",
    )
    complete_keys.warm(spec)
    warm = complete(["run", "exp.yaml"], "optim.")
    assert warm.mode is Mode.NOSPACE
    assert warm.candidates == ("optim.betas", "optim.lr", "optim.name", "optim.weight_decay")
    assert "executor.partition" in complete_keys.override_keys(spec)
    assert bash_reply(line, ["run", "exp.yaml"], "optim.w") == ["optim.weight_decay"]


def test_the_cache_heals_when_the_spec_or_its_code_changes(line: Path) -> None:
    spec = line / "exp.yaml"
    entry = complete_keys.cache_file(spec)
    complete_keys.warm(spec)
    assert complete_keys.fresh_keys(entry, spec.read_bytes()) is not None
    assert complete_keys.fresh_keys(entry, spec.read_bytes() + b"# edited\n") is None
    recorded = json.loads(entry.read_text(encoding="utf-8"))["files"]
    assert str(EXAMPLES / "trainlib" / "loop.py") in recorded
    module = next(iter(recorded))
    recorded[module] -= 1  # as if the module had been edited since
    entry.write_text(json.dumps({**json.loads(entry.read_text()), "files": recorded}))
    assert complete_keys.fresh_keys(entry, spec.read_bytes()) is None
    assert oct(entry.parent.stat().st_mode & 0o777) == "0o700"


def test_a_cold_tab_builds_the_cache_in_the_background(line: Path) -> None:
    """The real path: the first TAB answers at once with the written keys and starts the
    process that caches the schema; a later TAB gets the schema's keys."""
    complete_keys.cache_file(line / "exp.yaml").unlink()
    assert bash_reply(line, ["run", "exp.yaml"], "optim.") == ["optim.lr"]
    spec = line / "exp.yaml"
    entry = complete_keys.cache_file(spec)
    deadline = time.monotonic() + 120  # a bound on waiting, not a measurement
    while complete_keys.fresh_keys(entry, spec.read_bytes()) is None:
        assert time.monotonic() < deadline, "the background process wrote no cache entry"
        time.sleep(0.1)
    assert not entry.with_suffix(".lock").exists()
    assert "optim.weight_decay" in bash_reply(line, ["run", "exp.yaml"], "optim.")


def test_the_completion_path_imports_nothing_heavy(line: Path) -> None:
    heavy = ("fiddle", "libcst", "hydra", "omegaconf", "jinja2", "torch", "yaml", "trainlib")
    for words in (["run", "exp.yaml", "optim."], ["status", ""], ["validate", ""], ["ls", "-"]):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "nemorun.cli", "__complete", "bash", *words],
            cwd=line,
            env=shell_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        imported = {row.split("|")[-1].strip() for row in done.stderr.splitlines() if "|" in row}
        assert not {m for m in imported if m.split(".")[0] in heavy}, words


def test_every_command_completes_its_own_options() -> None:
    """Derived from each command's parser: a command added later completes with no change."""
    from nemorun.cli import COMMAND_MODULES, command

    for name in COMMAND_MODULES:
        options = {s for a in command(name)[0]()._actions for s in a.option_strings}
        offered = set(complete([name], "-").candidates)
        assert "--help" in offered and offered <= options, name


def test_the_hidden_entry_is_not_listed() -> None:
    from nemorun.cli import COMMAND_MODULES, OVERVIEW

    assert "__complete" not in OVERVIEW and "__complete" not in COMMAND_MODULES
    assert "completion" in COMMAND_MODULES


def test_completion_prints_each_script(cli: Callable[..., CliResult]) -> None:
    for shell, first in (("bash", "# nemorun"), ("zsh", "#compdef nemorun"), ("fish", "# nemorun")):
        result = cli("completion", shell)
        assert result.code == 0 and result.out.startswith(first)
        assert shlex.quote(sys.executable) in result.out
    assert cli("completion", "tcsh").code == 2


@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")))
def test_dequote_undoes_the_shells_quoting(text: str) -> None:
    assert dequote(shlex.quote(text)) == text
    escaped = "".join("\\" + c if not c.isalnum() else c for c in text)
    assert dequote(escaped) == text
    if shlex.quote(text).endswith("'"):  # the closing quote not typed yet
        assert dequote(shlex.quote(text)[:-1]) == text


@given(st.sampled_from(HOSTILE), st.integers(0, 12))
def test_a_typed_prefix_of_a_hostile_name_finds_it(
    tmp_path_factory: pytest.TempPathFactory, name: str, cut: int
) -> None:
    folder = tmp_path_factory.mktemp("names")
    (folder / name).write_text("", encoding="utf-8")
    typed = f"{folder}/{name[:cut]}"
    assert f"{folder}/{name}" in file_names(dequote(shlex.quote(typed)), None, "zsh")


KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,8}", fullmatch=True)
LEAVES = st.one_of(
    st.integers(), st.text(max_size=20), st.lists(st.integers(), max_size=3), st.none()
)
TREES = st.recursive(LEAVES, lambda inner: st.dictionaries(KEYS, inner, max_size=4), max_leaves=20)


@given(st.dictionaries(KEYS, TREES, min_size=1, max_size=5))
def test_the_cold_yaml_reading_finds_the_keys_yaml_does(tree: dict[str, object]) -> None:
    """The line reader of a cold TAB against PyYAML, on what PyYAML writes in block style
    (strings with line breaks, colons and '#' included)."""
    import yaml

    text = yaml.safe_dump(tree, default_flow_style=False, sort_keys=False)

    def paths(node: object, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
        if not isinstance(node, dict) or not node:
            return set()
        return {(*path, k) for k in node} | {
            p for k, v in node.items() for p in paths(v, (*path, k))
        }

    assert paths(complete_keys.yaml_mappings(text)) == paths(yaml.safe_load(text))
