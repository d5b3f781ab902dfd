"""``executor.container`` on Slurm: ``runtime: pyxis | apptainer | none``, compiled.

Golden files hold one script per runtime (regenerate with ``NEMORUN_UPDATE_GOLDEN=1
.venv/bin/pytest tests/compiler -k golden``); each is checked by ``bash -n``. What the job
receives through the rendered Apptainer step: ``tests/launchers/test_slurm_container_runs.py``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, assert_golden, nemorun

from nemorun.compiler.targets.slurm_containers import apptainer_image

DDP_APPTAINER = (
    "+executor.container={image: 'nvcr.io#nvidia/pytorch:24.01-py3', runtime: apptainer, "
    "mounts: ['/data:/data:ro'], env: {WANDB_MODE: offline}}"
)
GOLDEN_CASES = [
    ("ddp-apptainer.sbatch", ["configs/ddp.yaml", DDP_APPTAINER, "+executor.gpus_per_node=2"]),
    (
        "quickstart-apptainer-sif.sbatch",
        [
            "configs/quickstart.yaml",
            "--target",
            "slurm",
            "steps=1,2",
            "+executor.container={image: /images/train.sif, runtime: apptainer}",
            "+executor.workdir=/scratch/run",
        ],
    ),
    (
        "quickstart-pyxis.sbatch",
        [
            "configs/quickstart.yaml",
            "--target",
            "slurm",
            "+executor.container={image: nvcr.io/nvidia/pytorch:24.01-py3, "
            "mounts: ['/data:/data'], env: {HF_HOME: /data/hf}}",
            "+executor.workdir=/workspace",
        ],
    ),
]


@pytest.mark.parametrize(("name", "args"), GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES])
def test_golden_container_scripts(name: str, args: list[str], tmp_path: Path) -> None:
    proc = nemorun("compile", *args)
    assert proc.returncode == 0, proc.stderr
    assert_golden(name, proc.stdout)
    script = tmp_path / name
    script.write_text(proc.stdout, encoding="utf-8")
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr


def test_runtime_none_is_the_script_without_a_container() -> None:
    """The node's own environment, and so nemorun's own interpreter, as without ``container:``."""
    args = ["configs/quickstart.yaml", "--target", "slurm"]
    proc = nemorun("compile", *args, "+executor.container={runtime: none}")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.replace("# Overrides: +executor.container={runtime: none}\n", "")
    assert_golden("quickstart.sbatch", text)
    assert sys.executable in proc.stdout


def test_the_default_runtime_is_pyxis() -> None:
    """A spec written before the choice existed keeps its meaning."""
    image = "+executor.container={image: img}"
    plain = nemorun("compile", "configs/quickstart.yaml", "--target", "slurm", image)
    pyxis = nemorun(
        "compile", "configs/quickstart.yaml", "--target", "slurm", image,
        "+executor.container.runtime=pyxis",
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert "--container-image=img " in plain.stdout
    assert plain.stdout == pyxis.stdout.replace(" +executor.container.runtime=pyxis", "")


@pytest.mark.parametrize(
    ("options", "nv"),
    [
        ({}, False),
        ({"gpus_per_node": 0}, False),
        ({"gpus_per_node": "a100:0"}, False),
        ({"gpus_per_node": 8}, True),
        ({"gpus": "a100:2"}, True),
        ({"gres": "gpu:1"}, True),
        ({"ntasks": 2, "gpus_per_task": 1}, True),
    ],
)
def test_nv_only_when_the_job_asks_for_gpus(
    options: dict[str, Any], nv: bool, compile_spec: Callable[..., Any]
) -> None:
    result = compile_spec({"image": "img", "runtime": "apptainer"}, **options)
    assert result.code == 0, result.err
    step = step_line(result.out)
    assert step.startswith("srun apptainer exec ")
    assert (" --nv " in step) is nv


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("nvcr.io/nvidia/pytorch:24.01-py3", "docker://nvcr.io/nvidia/pytorch:24.01-py3"),
        ("nvcr.io#nvidia/pytorch:24.01-py3", "docker://nvcr.io/nvidia/pytorch:24.01-py3"),
        ("python:3.11", "docker://python:3.11"),
        ("/images/train.sif", "/images/train.sif"),
        ("train.sif", "train.sif"),
        ("./sandbox", "./sandbox"),
        ("library://alice/default/train:1", "library://alice/default/train:1"),
        ("oras://ghcr.io/a/b:1", "oras://ghcr.io/a/b:1"),
        ("docker-archive:/tmp/a.tar", "docker-archive:/tmp/a.tar"),
    ],
)
def test_apptainer_names_the_image(image: str, expected: str) -> None:
    assert apptainer_image(image) == expected


def test_apptainer_binds_the_entry_and_the_mounts_and_sets_env(
    compile_spec: Callable[..., Any],
) -> None:
    container = {"image": "img", "runtime": "apptainer", "mounts": ["/a b:/in:ro", "/c:/d"]}
    result = compile_spec({**container, "env": {"TOKEN": "it's $x"}}, workdir="/w d")
    assert result.code == 0, result.err
    # for the step only, never exported in the batch shell
    assert "export APPTAINERENV" not in result.out
    assert "\nenv 'APPTAINERENV_TOKEN=it'\"'\"'s $x' srun apptainer exec " in result.out
    assert step_line(result.out).startswith(
        'srun apptainer exec --pwd \'/w d\' --bind "$NEMORUN_ENTRY":"$NEMORUN_ENTRY":ro '
        f"--bind {ROOT}/examples:{ROOT}/examples:ro --bind '/a b:/in:ro' --bind /c:/d "
        "docker://img python3 -c "
    )


def test_pyxis_names_the_variables_that_win_over_the_image(
    compile_spec: Callable[..., Any],
) -> None:
    result = compile_spec({"image": "img", "env": {"A": "1", "B": "two words"}})
    # set for the step only: a PATH meant for the container must not reach the batch shell
    assert "export A=" not in result.out
    assert "\nenv A=1 'B=two words' srun --container-image=img " in result.out
    assert " --container-env=A,B " in step_line(result.out)


ERRORS = [
    (
        {"image": "img", "runtime": "apptainr"},
        "job.yaml:14:14: executor.container.runtime: not an allowed value: expected one of "
        "'pyxis', 'apptainer', 'none', found 'apptainr' (a string); did you mean 'apptainer'?",
    ),
    (
        {"image": "img", "runtime": "none"},
        "job.yaml:13:12: executor.container.image: runtime none runs the job in the node's own "
        "environment: no image; remove image, or set runtime: pyxis or apptainer",
    ),
    (
        {"runtime": "none", "env": {"A": "1"}},
        "job.yaml:15:7: executor.container.env: runtime none runs the job in the node's own "
        "environment: no env; set the variables in executor.env",
    ),
    (
        {"runtime": "apptainer"},
        "job.yaml:13:5: executor.container: runtime apptainer needs an image: expected "
        "container.image, like nvcr.io/nvidia/pytorch:24.01-py3; set image, or runtime: none "
        "to run without a container",
    ),
    (
        {"image": "img", "mounts": ["data:/data"]},
        "job.yaml:15:7: executor.container.mounts[0]: a relative host path: each node would read "
        "it from the job's own directory: expected an absolute host path, found 'data:/data'",
    ),
    (
        {"image": "img", "mounts": ["/data"]},
        "job.yaml:15:7: executor.container.mounts[0]: not a mount: expected HOST:CONTAINER or "
        "HOST:CONTAINER:ro, found '/data'",
    ),
    (
        {"image": "img", "runtime": "apptainer", "mounts": ["/a:/b:rx"]},
        "job.yaml:16:7: executor.container.mounts[0]: not a bind option of Apptainer: expected "
        "ro or rw, found '/a:/b:rx'",
    ),
    (
        {"image": "-x", "runtime": "apptainer"},
        "job.yaml:13:12: executor.container.image: an image cannot start with '-': found -x",
    ),
]


@pytest.mark.parametrize(("container", "error"), ERRORS)
def test_a_bad_container_is_refused_where_written(
    container: dict[str, Any], error: str, compile_spec: Callable[..., Any]
) -> None:
    result = compile_spec(container)
    assert result.code == 2
    assert result.error_lines == [error]


@pytest.fixture
def compile_spec(workdir: Path, cli: Callable[..., Any]) -> Callable[..., Any]:
    """``compile_spec(container, **options)``: the CLI's result for a Slurm spec with them."""

    def run(container: dict[str, Any], **options: Any) -> Any:
        tree = {
            "nemorun": 1,
            "name": "box",
            "pythonpath": [str(ROOT / "examples")],
            "task": {"_target_": "trainlib:train", "model": {}, "optim": {}, "steps": 1},
            "executor": {"target": "slurm", "container": container, **options},
        }
        text = yaml.safe_dump(tree, sort_keys=False)
        (workdir / "job.yaml").write_text(text, encoding="utf-8")
        return cli("compile", "job.yaml", "--target", "slurm")

    return run


def step_line(script: str) -> str:
    """The script's srun step."""
    return next(
        line[line.index("srun ") :]
        for line in script.split("\n")
        if line.startswith(("srun ", "env "))
    )


def test_the_json_schema_takes_the_runtimes(
    workdir: Path, compile_spec: Callable[..., Any]
) -> None:
    """``nemorun schema``: the editor's schema accepts each runtime and ``env``, not a typo."""
    import jsonschema

    from nemorun.api import load
    from nemorun.schemas.jsonschema import spec_schema

    compile_spec({"image": "img", "runtime": "apptainer", "env": {"A": "1"}})
    tree = yaml.safe_load((workdir / "job.yaml").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(spec_schema(load(workdir / "job.yaml")))
    for runtime in ("pyxis", "apptainer", "none"):
        tree["executor"]["container"]["runtime"] = runtime
        assert list(validator.iter_errors(tree)) == [], runtime
    tree["executor"]["container"]["runtime"] = "apptainr"
    assert list(validator.iter_errors(tree)) != []
