"""``nemorun compile --target docker``: bash scripts of ``docker run``, run on a real engine.

- every example config compiles for docker (with an image given by override), parses with
  ``bash -n`` and is byte-identical when compiled twice, across hash seeds;
- docker options become flags, and mistakes in them are located errors;
- on the test engine (``tests/infra/docker.sh start``, root: a private dockerd on
  ``unix:///run/nemorun-docker/docker.sock`` with the local image ``nemorun-test-python:1``,
  found by its mark: see tests/conftest.py), compiled scripts run for real: a 2-point sweep
  (each point its own values), failing tasks (non-zero exits), the options in effect inside
  the container, the container's name and labels, and hostile strings (hypothesis) reaching
  the task byte-exact through an env value, an argument, a path, the run name and a mount.
  Without the engine or the image these tests skip, saying how to start it.

Golden files (``tests/compiler/golden/*-docker.sh``) hold representative artifacts, with the
checkout's path replaced by ``<ROOT>``. Regenerate them with::

    NEMORUN_UPDATE_GOLDEN=1 .venv/bin/pytest tests/compiler -k golden
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, assert_golden, nemorun
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nemorun.api import load_for_target
from nemorun.compiler.driver import compile_spec
from nemorun.compiler.render import shell_quote
from nemorun.compiler.targets.docker import DOCKER_CONTAINER_NAME, container_name
from nemorun.compiler.torchrun import RUN_ENTRY
from nemorun.errors import SpecErrors

CONFIGS = sorted(p for p in (ROOT / "configs").iterdir() if p.suffix in (".yaml", ".toml"))
FIXTURES = Path(__file__).resolve().parent
IMAGE = "nemorun-test-python:1"
WITH_IMAGE = f"++executor.container.image={IMAGE}"


def compile_docker(spec: Path, *overrides: str) -> str:
    """Compile in-process (faster than the CLI for many small specs)."""
    loaded, warnings = load_for_target(spec, overrides, "docker")
    return compile_spec(loaded, warnings=warnings).main.text


def write_spec(path: Path, tree: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(tree, allow_unicode=False), encoding="utf-8")
    return path


def bash_n(text: str, tmp_path: Path) -> None:
    script = tmp_path / "parse-me.sh"
    script.write_text(text, encoding="utf-8")
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    script.unlink()
    assert proc.returncode == 0, proc.stderr


# --- compile ------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_example_compiles_parses_and_is_deterministic(config: Path, tmp_path: Path) -> None:
    args = ("compile", str(config), "--target", "docker", WITH_IMAGE)
    first = nemorun(*args, cwd=tmp_path, PYTHONHASHSEED="1")
    second = nemorun(*args, cwd=tmp_path, PYTHONHASHSEED="2")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert list(tmp_path.iterdir()) == []  # compiling wrote nothing
    bash_n(first.stdout, tmp_path)
    assert f"        {IMAGE} \\\n" in first.stdout
    assert f' -c {shell_quote(RUN_ENTRY)} "$NEMORUN_ENTRY"\n' in first.stdout


GOLDEN_CASES = [
    ("quickstart-docker.sh", ["configs/quickstart.yaml", "--target", "docker", WITH_IMAGE]),
    (
        "pretrain-sweep-docker.sh",
        [
            "configs/pretrain.yaml",
            "seed=1,2",
            "--target",
            "docker",
            WITH_IMAGE,
            "++executor.container.mounts=[/srv/data:/data:ro,/srv/out:/out]",
            "++executor.env.DATA_DIR=${oc.env:DATA_DIR,/data}",
            "++executor.env.WANDB_NOTES='it\\'s a \"test\" $(not run)'",
            "++executor.workdir=/out",
            "++executor.setup=['pip list > /out/pip.txt']",
            "++executor.gpus=all",
            "++executor.shm_size=16g",
            "++executor.ipc=host",
            "++executor.network=none",
            "++executor.user=1000:1000",
            "++executor.labels={team: ml, project: demo}",
        ],
    ),
]


@pytest.mark.parametrize(("name", "args"), GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES])
def test_golden_artifacts(name: str, args: list[str], tmp_path: Path) -> None:
    proc = nemorun("compile", *args)
    assert proc.returncode == 0, proc.stderr
    bash_n(proc.stdout, tmp_path)
    assert_golden(name, proc.stdout)


def test_options_become_docker_run_flags(tmp_path: Path) -> None:
    proc = nemorun("compile", *GOLDEN_CASES[1][1])
    assert proc.returncode == 0, proc.stderr
    run = proc.stdout[proc.stdout.index("run_point() {") :]
    flags = [line.strip().rstrip(" \\") for line in run.splitlines()[1:20]]
    examples = str(ROOT / "examples")
    assert flags == [
        "docker run --rm",
        '--name nemorun-pretrain-"$1"',
        "--label nemorun.run-name=pretrain",
        '--label nemorun.point="$1"',
        "--label team=ml",
        "--label project=demo",
        "--gpus all",
        "--shm-size 16g",
        "--ipc host",
        "--network none",
        "--user 1000:1000",
        f"--volume {examples}:{examples}:ro",
        "--volume /srv/data:/data:ro",
        "--volume /srv/out:/out",
        '--volume "$NEMORUN_ENTRY:$NEMORUN_ENTRY:ro"',
        "--workdir /out",
        "--env OMP_NUM_THREADS=1",
        '--env DATA_DIR="$env_DATA_DIR"',
        "--env 'WANDB_NOTES=it'\"'\"'s a \"test\" $(not run)'",
    ]
    assert "\nenv_DATA_DIR=${DATA_DIR-/data}\n" in proc.stdout
    assert 'sh -c "$NEMORUN_SETUP" nemorun-setup' in proc.stdout
    assert f'\nexport PYTHONPATH={examples}"${{PYTHONPATH:+:$PYTHONPATH}}"\n' in proc.stdout


def test_without_an_image_a_plain_python_image_is_used_and_named(tmp_path: Path) -> None:
    spec = tmp_path / "job.yaml"
    spec.write_text(
        f"nemorun: 1\npythonpath: [{json.dumps(str(ROOT / 'examples'))}]\n"
        "task: {_target_: trainlib:train, model: {}, optim: {}}\n"
        "executor:\n  target: docker\n  gpus: 1\n",
        encoding="utf-8",
    )
    proc = nemorun("compile", str(spec), cwd=tmp_path)
    no_executor = nemorun("compile", "configs/quickstart.yaml", "--target", "docker")

    for result in (proc, no_executor):
        assert result.returncode == 0
        assert "warning: no executor.container.image: using python:3.11-slim" in result.stderr
        assert "python:3.11-slim" in result.stdout


def test_docker_option_mistakes_are_located_errors(workdir: Path) -> None:
    spec = workdir / "bad.yaml"
    spec.write_text(
        "nemorun: 1\nname: bad\n"
        f"pythonpath: [{json.dumps(str(ROOT / 'examples'))}]\n"
        "task: {_target_: trainlib:train, model: {}, optim: {}}\n"
        "executor:\n"
        "  target: docker\n"
        "  container:\n"
        "    image: --privileged\n"
        '    mounts: ["/a:/b", "/d:e", "/f:/g:rx", "/h:/b/", "a:b:c:d", "./x:/y"]\n'
        "  workdir: rel\n"
        "  shm_size: 16 gigs\n"
        "  ipc: hots\n"
        '  network: "a b"\n'
        '  user: "root me"\n'
        "  name: -bad\n"
        '  labels: {nemorun.point: "1", "a=b": x, ok.key: fine}\n'
        "  partiton: debug\n",
        encoding="utf-8",
    )
    with pytest.raises(SpecErrors) as unknown:
        load_for_target(spec, (), "docker")
    # The formats declared on DockerOptions' fields (nemorun's own labels too) are checked
    # with the types, at load.
    assert [e.format() for e in unknown.value.errors] == [
        "bad.yaml:11:13: executor.shm_size: not a size: expected a number with a unit, like 64m "
        "or 16g, found '16 gigs'; e.g. '16g'",
        "bad.yaml:12:8: executor.ipc: not an IPC mode: expected none, private, shareable, host "
        "or container:NAME, found 'hots'; did you mean 'host'?",
        "bad.yaml:13:12: executor.network: not a network: expected none, host, bridge, a "
        "network's name or container:NAME, found 'a b'",
        "bad.yaml:14:9: executor.user: not a user: expected NAME or UID, optionally followed by "
        ":GROUP or :GID, found 'root me'",
        "bad.yaml:15:9: executor.name: not a container name: expected letters, digits, '_', '.' "
        "and '-', starting with a letter or digit, found '-bad'",
        "bad.yaml:16:12: executor.labels.nemorun.point: nemorun sets the label 'nemorun.point' "
        "itself",
        "bad.yaml:16:32: executor.labels.a=b: not a label key: expected letters, digits, '.', "
        "'_', '/' and '-', like com.example.team, found 'a=b'",
        "bad.yaml:17:3: executor.partiton: unknown argument of DockerOptions",
    ]
    text = spec.read_text()
    for line in (
        "  shm_size: 16 gigs\n",
        "  ipc: hots\n",
        '  network: "a b"\n',
        '  user: "root me"\n',
    ):
        text = text.replace(line, "")
    text = text.replace("  name: -bad\n", "").replace('nemorun.point: "1", "a=b": x, ', "")
    spec.write_text(text.replace("  partiton: debug\n", ""), encoding="utf-8")
    loaded, _ = load_for_target(spec, (), "docker")
    with pytest.raises(SpecErrors) as info:
        compile_spec(loaded)
    # docker's rules for the fields every target shares: in plan.
    errors = [e.format() for e in info.value.errors]
    assert errors == [
        "bad.yaml:8:12: executor.container.image: not an image reference: expected a name like "
        "'python:3.11-slim' or 'registry/repo@sha256:…', found '--privileged'",
        "bad.yaml:9:23: executor.container.mounts[1]: the container side of a mount must be "
        "absolute: found '/d:e'",
        "bad.yaml:9:31: executor.container.mounts[2]: not a mount mode: expected ro or rw, "
        "found 'rx'",
        "bad.yaml:9:43: executor.container.mounts[3]: the container path /b/ is mounted twice; "
        "see executor.container.mounts[0]",
        "bad.yaml:9:53: executor.container.mounts[4]: not a mount: expected host:container or "
        "host:container:ro|rw, with absolute paths, found 'a:b:c:d'",
        "bad.yaml:9:64: executor.container.mounts[5]: the host side of a mount must be an "
        "absolute path or a volume name: expected host:container or host:container:ro|rw, with "
        "absolute paths, found './x:/y'",
        "bad.yaml:10:12: executor.workdir: docker needs an absolute working directory: expected "
        "a path in the container starting with '/', found 'rel'",
    ]


def test_options_of_other_targets_are_named_in_a_warning() -> None:
    proc = nemorun(
        "compile", "configs/quickstart.yaml", "--target", "docker", WITH_IMAGE, "+executor.time=5"
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning: executor.time is an option of slurm; target docker does not use it" in (
        proc.stderr
    )


def test_torchrun_without_shared_memory_is_warned_about() -> None:
    args = ("compile", "configs/quickstart.yaml", "--target", "docker", WITH_IMAGE)
    torchrun = ("+launcher.kind=torchrun", "+launcher.nproc_per_node=4")
    bare = nemorun(*args, *torchrun)
    host_ipc = nemorun(*args, *torchrun, "++executor.ipc=host")

    assert bare.returncode == 0, bare.stderr
    assert "warning: torchrun workers share memory through /dev/shm" in bare.stderr
    assert (
        "        torchrun --nnodes=1 --nproc-per-node=4 --node-rank=0 --rdzv-backend=c10d "
        "--rdzv-endpoint=localhost:29500 --rdzv-id=nemorun-quickstart --no-python "
        f'python3 -u -c {shell_quote(RUN_ENTRY)} "$NEMORUN_ENTRY"\n'
    ) in bare.stdout
    assert host_ipc.returncode == 0 and "warning" not in host_ipc.stderr


@pytest.mark.parametrize(
    ("run_name", "expected"),
    [
        ("quickstart", "nemorun-quickstart"),
        ("lr sweep/1", "nemorun-lr_sweep_1-fb502149"),
        ("x" * 80, "nemorun-" + "x" * 63 + "-d929cdee"),
    ],
)
def test_container_names_are_valid_and_derived_from_the_run_name(
    run_name: str, expected: str
) -> None:
    assert container_name(run_name) == expected
    assert DOCKER_CONTAINER_NAME.problem(expected) is None


def test_a_code_directory_that_is_mounted_already_is_not_mounted_twice(tmp_path: Path) -> None:
    examples = str(ROOT / "examples")
    text = compile_docker(
        ROOT / "configs/quickstart.yaml",
        WITH_IMAGE,
        f"++executor.container.mounts=[{examples}:{examples}:rw]",
    )
    assert text.count("--volume ") == 2  # the directory, and the entry's file
    assert f"--volume {examples}:{examples}:rw" in text


# --- the real engine ----------------------------------------------------------------------------


class EngineEnv(dict[str, str]):
    """The environment of a process that reaches the engine (short in hypothesis reports)."""

    def __repr__(self) -> str:
        return f"EngineEnv(DOCKER_HOST={self['DOCKER_HOST']!r})"


@pytest.fixture(scope="session")
def engine(docker_engine: dict[str, str]) -> dict[str, str]:
    """The environment that reaches the test engine (``docker_engine`` skips without it)."""
    return EngineEnv(docker_engine)


def run_script(
    text: str, *args: str, cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    script = cwd / "job.sh"
    script.write_text(text, encoding="utf-8")
    return subprocess.run(
        ["bash", str(script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_a_docker_sweep_runs_each_point_in_its_own_container(
    engine: dict[str, str], tmp_path: Path
) -> None:
    proc = nemorun(
        "compile",
        "configs/quickstart.yaml",
        "optim.lr=0.01,0.02",
        "steps=3",
        "--target",
        "docker",
        WITH_IMAGE,
        "++executor.network=none",
    )
    assert proc.returncode == 0, proc.stderr

    everything = run_script(proc.stdout, cwd=tmp_path, env=engine)
    only_one = run_script(proc.stdout, "1", cwd=tmp_path, env=engine)
    beyond = run_script(proc.stdout, "2", cwd=tmp_path, env=engine)

    assert everything.returncode == 0, everything.stderr
    starts = [line for line in everything.stdout.splitlines() if "point=" in line]
    assert starts == [
        f"[train] point={i} model=32x2 RELU optim=sgd lr={lr} data=/tmp/data"
        for i, lr in enumerate(["0.01", "0.02"])
    ]
    assert everything.stdout.count("step 3 loss") == 2
    assert only_one.returncode == 0, only_one.stderr
    assert "point=1 " in only_one.stdout and "lr=0.02" in only_one.stdout
    assert "point=0" not in only_one.stdout
    assert beyond.returncode == 2 and "the points are 0 to 1" in beyond.stderr


def test_failing_tasks_fail_the_docker_script(engine: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    spec = write_spec(
        tmp_path / "fail.yaml",
        {
            "nemorun": 1,
            "name": "fail",
            "pythonpath": [str(FIXTURES)],
            "task": {"_target_": "fixtures_entry:echo", "out": "/out/x", "text": "hi"},
            "executor": {"container": {"image": IMAGE, "mounts": [f"{out}:/out"]}},
            # point 1 cannot write its output: /out is a directory
            "sweep": {"out": ["/out/one.jsonl", "/out", "/out/two.jsonl"]},
        },
    )
    command = write_spec(
        tmp_path / "command.yaml",
        {
            "nemorun": 1,
            "name": "command",
            "task": {"command": "echo before; exit 7"},
            "executor": {"target": "docker", "container": {"image": IMAGE}, "network": "none"},
        },
    )
    text = compile_docker(spec)

    sweep = run_script(text, cwd=tmp_path, env=engine)
    point = run_script(text, "1", cwd=tmp_path, env=engine)
    exits = run_script(compile_docker(command), cwd=tmp_path, env=engine)

    assert sweep.returncode == 1
    assert "IsADirectoryError" in sweep.stderr
    assert (out / "one.jsonl").exists() and (out / "two.jsonl").exists()
    assert point.returncode == 1
    assert exits.returncode == 7 and exits.stdout == "before\n"


def test_options_take_effect_in_the_container(engine: dict[str, str], tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path / "opts.yaml",
        {
            "nemorun": 1,
            "name": "opts",
            "task": {
                "command": [
                    "sh",
                    "-c",
                    'echo "user=$(id -u):$(id -g) pwd=$(pwd) point=$NEMORUN_POINT"; '
                    'echo "name=$NEMORUN_RUN_NAME from=$FROM_SHELL"; '
                    "df -k /dev/shm | tail -n 1; cat /proc/net/dev | grep -c :",
                ]
            },
            "executor": {
                "target": "docker",
                "container": {"image": IMAGE},
                "env": {"FROM_SHELL": "${oc.env:NEMORUN_TEST_VALUE,unset here}"},
                "workdir": "/tmp",
                "setup": ['echo "setup ran in $(pwd) as $(id -u)"'],
                "user": "1234:2345",
                "shm_size": "32m",
                "ipc": "private",
                "network": "none",
            },
        },
    )
    text = compile_docker(spec)

    proc = run_script(text, cwd=tmp_path, env={**engine, "NEMORUN_TEST_VALUE": "a 'b' $(c)"})
    default = run_script(text, cwd=tmp_path, env=engine)

    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:3] == [
        "setup ran in /tmp as 1234",
        "user=1234:2345 pwd=/tmp point=0",
        "name=opts from=a 'b' $(c)",
    ]
    assert lines[3].split()[1] == str(32 * 1024)  # /dev/shm size in KiB
    assert lines[4] == "1"  # only the loopback interface: --network none
    assert default.stdout.splitlines()[2] == "name=opts from=unset here"


FAKE_TORCHRUN = """#!/bin/sh
# Stands in for torchrun (the test image has no torch): shows its options, runs the program.
for word in "$@"; do
    [ "$word" = --no-python ] && break
    echo "torchrun $word"
done
while [ "$1" != --no-python ]; do shift; done
shift
exec "$@"
"""


def test_torchrun_runs_in_the_container_with_a_rendezvous_per_point(
    engine: dict[str, str], tmp_path: Path
) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "torchrun").write_text(FAKE_TORCHRUN, encoding="utf-8")
    (fake / "torchrun").chmod(0o755)
    proc = nemorun(
        "compile",
        "configs/quickstart.yaml",
        "steps=1",
        "seed=1,2",
        "--target",
        "docker",
        WITH_IMAGE,
        "+launcher.kind=torchrun",
        "+launcher.nproc_per_node=2",
        "++executor.network=none",
        "++executor.shm_size=256m",
        f"++executor.container.mounts=[{fake}:/fake:ro]",
        "++executor.setup=['export PATH=/fake:$PATH']",
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr

    run = run_script(proc.stdout, cwd=tmp_path, env=engine)

    assert run.returncode == 0, run.stderr
    for point in (0, 1):
        options = [
            "--nnodes=1",
            "--nproc-per-node=2",
            "--node-rank=0",
            "--rdzv-backend=c10d",
            "--rdzv-endpoint=localhost:29500",
            f"--rdzv-id=nemorun-quickstart-{point}",
        ]
        assert "\n".join(f"torchrun {o}" for o in options) in run.stdout
        assert f"[train] point={point} model=32x2" in run.stdout


@pytest.fixture
def reap(engine: dict[str, str]) -> Iterator[list[str]]:
    """Names of containers to remove after the test, whatever happened."""
    names: list[str] = []
    yield names
    for name in names:
        subprocess.run(["docker", "rm", "-f", name], env=engine, capture_output=True)


def test_containers_carry_their_name_and_labels(
    engine: dict[str, str], reap: list[str], tmp_path: Path
) -> None:
    spec = write_spec(
        tmp_path / "named.yaml",
        {
            "nemorun": 1,
            "name": "named run",
            "task": {"command": ["sleep", "60"]},
            "executor": {
                "target": "docker",
                "container": {"image": IMAGE},
                "network": "none",
                "labels": {"com.example.team": "ml ops"},
            },
        },
    )
    name = container_name("named run")
    reap.append(name)
    script = tmp_path / "named.sh"
    script.write_text(compile_docker(spec), encoding="utf-8")
    job = subprocess.Popen(
        ["bash", str(script)], env=engine, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        shown = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            shown = subprocess.run(
                ["docker", "ps", "--filter", "label=nemorun.run-name=named run", "--format",
                 '{{.Names}}|{{.Label "nemorun.point"}}|{{.Label "com.example.team"}}'],
                env=engine, capture_output=True, text=True,
            ).stdout.strip()  # fmt: skip
            if shown:
                break
            time.sleep(0.05)
        assert shown == f"{name}|0|ml ops"
        subprocess.run(["docker", "kill", name], env=engine, capture_output=True, timeout=30)
        assert job.wait(timeout=30) == 137  # killed: the script fails with the container
    finally:
        job.kill()
        job.wait()


HOSTILE = st.one_of(
    st.sampled_from(
        ["", "-n", "--help", "*", "$(touch pwned)", "`touch pwned`", "a'b\"c", "x\ny", "\\", "!!"]
    ),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        max_size=30,
    ),
    st.text(alphabet=" \t\n\r'\"$`\\*?[]{}();&|<>~#!-=%,", max_size=30),
)
# A directory name on the host side of a mount: no '/' (one level), no ':' (docker's separator).
DIRNAME = st.one_of(
    st.sampled_from(["a b", "-v", "$(touch pwned)", "x\ny", "it's", "a,b=c"]),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00/:"),
        min_size=1,
        max_size=20,
    ),
).filter(lambda name: name not in (".", "..") and len(name.encode()) < 200)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=HOSTILE, value=HOSTILE, dirname=DIRNAME)
def test_hostile_strings_reach_the_container_byte_exact(
    engine: dict[str, str], tmp_path: Path, text: str, value: str, dirname: str
) -> None:
    # ``${`` starts an interpolation in the spec language itself: not a shell matter.
    assume("${" not in text and "${" not in value)
    work = tmp_path / f"run{time.monotonic_ns()}"
    out = work / dirname
    out.mkdir(parents=True)
    spec = write_spec(
        work / "spec.yaml",
        {
            "nemorun": 1,
            "name": _printable(value) or "x",
            "pythonpath": [str(FIXTURES)],
            "task": {"_target_": "fixtures_entry:echo", "out": "/out/o.jsonl", "text": text,
                     "where": text},
            "executor": {
                "target": "docker",
                "container": {"image": IMAGE, "mounts": [f"{out}:/out"]},
                "env": {"HOSTILE": value},
                "network": "none",
                "labels": {"test.hostile": value},
            },
        },
    )  # fmt: skip

    proc = run_script(compile_docker(spec), cwd=work, env=engine)

    assert proc.returncode == 0, proc.stderr
    assert not (work / "pwned").exists() and not (out / "pwned").exists()
    report = json.loads((out / "o.jsonl").read_text(encoding="utf-8"))
    assert report == {
        "text": text,
        "where": str(Path(text)),
        "env": value,
        "run_name": _printable(value) or "x",
        "point": "0",
    }


def _printable(text: str) -> str:
    """A run name may not hold control characters (validation refuses them): they become "_";
    the rest of the hostile text stays, quotes, ``$()``, backticks and leading dashes included."""
    return "".join(c if ord(c) >= 32 and ord(c) != 127 else "_" for c in text)


PATH_TASK = """\
import json, os


def run(out: str) -> None:
    import pp_extra  # found only through executor.env.PYTHONPATH

    with open(out, "w") as f:
        json.dump({"pythonpath": os.environ["PYTHONPATH"], "extra": pp_extra.WHERE}, f)
"""


@pytest.mark.parametrize("target", ["local", "docker"])
def test_env_pythonpath_adds_to_the_code_directories_on_every_target(
    target: str, engine: dict[str, str], tmp_path: Path
) -> None:
    # The task's module is in the spec's pythonpath, a module it imports only in the
    # directory that executor.env.PYTHONPATH names: the job needs both, in that order.
    code, extra, out = tmp_path / "code", tmp_path / "extra", tmp_path / "out"
    for directory in (code, extra, out):
        directory.mkdir()
    (code / "pp_task.py").write_text(PATH_TASK, encoding="utf-8")
    (extra / "pp_extra.py").write_text("WHERE = 'extra'\n", encoding="utf-8")
    executor: dict[str, object] = {"target": target, "env": {"PYTHONPATH": str(extra)}}
    if target == "docker":
        executor["container"] = {"image": IMAGE, "mounts": [f"{extra}:{extra}:ro", f"{out}:{out}"]}
        executor["network"] = "none"
    else:
        executor["python"] = sys.executable
    spec = write_spec(
        tmp_path / "pp.yaml",
        {
            "nemorun": 1,
            "name": "pp",
            "pythonpath": [str(code)],
            "task": {"_target_": "pp_task:run", "out": str(out / "o.json")},
            "executor": executor,
        },
    )
    loaded, warnings = load_for_target(spec, (), target)

    proc = run_script(compile_spec(loaded, warnings=warnings).main.text, cwd=tmp_path, env=engine)

    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "o.json").read_text(encoding="utf-8"))
    assert report == {"pythonpath": f"{code}:{extra}", "extra": "extra"}


def test_the_images_own_pythonpath_follows_the_code_directories(
    engine: dict[str, str], tmp_path: Path
) -> None:
    # Images such as NVIDIA's set PYTHONPATH themselves; an automatic --env used to hide it.
    (tmp_path / "image").mkdir()
    (tmp_path / "image" / "Dockerfile").write_text(f"FROM {IMAGE}\nENV PYTHONPATH=/from-image\n")
    image = "nemorun-test-pythonpath:1"
    built = subprocess.run(
        ["docker", "build", "-q", "-t", image, str(tmp_path / "image")],
        env=engine,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    code = tmp_path / "code"
    code.mkdir()
    (code / "ppimage.py").write_text(
        "import os\n\n\ndef run() -> None:\n    print('PYTHONPATH=' + os.environ['PYTHONPATH'])\n"
    )
    spec = write_spec(
        tmp_path / "img.yaml",
        {
            "nemorun": 1,
            "name": "img",
            "pythonpath": [str(code)],
            "task": {"_target_": "ppimage:run"},
            "executor": {"target": "docker", "container": {"image": image}, "network": "none"},
        },
    )

    proc = run_script(compile_docker(spec), cwd=tmp_path, env=engine)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"PYTHONPATH={code}:/from-image\n"
