"""Preflight against the live Slurm cluster: what the spec asks for, checked before submitting.

The spec's own validation knows option *formats*; only the cluster knows its partitions, the
accounts and QOS the user may charge, and which GPUs its nodes have. `read_facts` asks three
commands, each once and with a timeout (``sinfo`` for partitions and their GRES, ``sacctmgr``
for the user's associations, ``scontrol show config`` for the limits), and `check_options`
turns a mismatch into a located error at the option's value with a did-you-mean
(``partition: gpuu`` → "did you mean 'gpu'?"). What cannot be read is not guessed: without
accounting (``sacctmgr`` refuses), accounts and QOS are left to ``sbatch``.

`start_estimates` runs ``sbatch --test-only`` on each compiled script, exactly as it would be
submitted but without dependencies (the parents do not exist yet): Slurm's own answer to
"would you take this, and when would it start".
"""

from __future__ import annotations

import getpass
import re
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nemorun.errors import KeyPath, did_you_mean
from nemorun.launchers.base import LaunchError
from nemorun.launchers.slurm_states import command_message

if TYPE_CHECKING:
    from nemorun.compiler.targets.checks import OptionChecks
    from nemorun.errors import SpecError
    from nemorun.schemas.spec import Spec

Runner = Callable[[list[str]], "subprocess.CompletedProcess[str]"]
"""Runs one Slurm command with the target's environment and timeout (`SlurmTarget._run`)."""

GPU_OPTIONS = ("gpus", "gpus_per_node", "gpus_per_task")
TIMEOUT = 15.0
"""Seconds each query may take (``sbatch --test-only`` has the usual limit)."""


@dataclass(frozen=True)
class Gres:
    """One generic resource of a node group, as ``sinfo %G`` prints it (``gpu:a100:2``)."""

    name: str
    type: str | None
    count: int


@dataclass(frozen=True)
class Partition:
    name: str
    up: bool
    gres: tuple[Gres, ...]
    """Every node group's resources (a partition may list several groups)."""

    def gpu_types(self) -> set[str]:
        return {g.type for g in self.gres if g.name == "gpu" and g.type}

    def max_gpus(self) -> int:
        return max((g.count for g in self.gres if g.name == "gpu"), default=0)


@dataclass(frozen=True)
class Association:
    """An account the user may charge, on which partition ("" = all), with which QOS."""

    account: str
    partition: str
    qos: tuple[str, ...]


@dataclass(frozen=True)
class ClusterFacts:
    partitions: tuple[Partition, ...]
    default: str | None
    associations: tuple[Association, ...] | None
    """None when the accounting database cannot be read (no slurmdbd): not checked then."""
    max_array_size: int | None
    max_job_count: int | None

    def partition(self, name: str) -> Partition | None:
        return next((p for p in self.partitions if p.name == name), None)

    def usable(self, partitions: Iterable[str]) -> list[Association] | None:
        """The user's associations valid on ``partitions`` (None: accounting unreadable)."""
        if self.associations is None:
            return None
        wanted = set(partitions)
        return [a for a in self.associations if not a.partition or a.partition in wanted]


def read_facts(run: Runner) -> ClusterFacts:
    """The cluster as this user sees it; `LaunchError` when the controller does not answer."""
    result = run(["sinfo", "-h", "-o", "%P|%a|%G"])
    if result.returncode != 0:
        raise LaunchError(f"sinfo does not answer: {command_message(result)}")
    partitions, default = parse_sinfo(result.stdout)
    config = _optional(run, ["scontrol", "show", "config"])
    limits = parse_config(config) if config is not None else {}
    user = getpass.getuser()
    assoc = _optional(run, ["sacctmgr", "-nP", "show", "assoc", f"user={user}", ASSOC_FORMAT])
    associations = parse_assoc(assoc) if assoc is not None else None
    return ClusterFacts(
        partitions,
        default,
        associations or None,
        _int(limits.get("MaxArraySize")),
        _int(limits.get("MaxJobCount")),
    )


ASSOC_FORMAT = "format=account,partition,qos"


def _optional(run: Runner, argv: list[str]) -> str | None:
    """A query whose answer only sharpens the checks: a refusal or a slow accounting
    database leaves those checks to ``sbatch`` instead of failing the launch."""
    try:
        result = run(argv)
    except LaunchError:
        return None
    return result.stdout if result.returncode == 0 else None


def parse_sinfo(text: str) -> tuple[tuple[Partition, ...], str | None]:
    """``sinfo -h -o '%P|%a|%G'`` → partitions (one line per node group) and the default."""
    gres: dict[str, list[Gres]] = {}
    up: dict[str, bool] = {}
    default = None
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 3 or not fields[0]:
            continue
        name, avail, resources = fields
        if name.endswith("*"):
            name = name[:-1]
            default = name
        up[name] = up.get(name, False) or avail == "up"
        gres.setdefault(name, []).extend(parse_gres(resources))
    return tuple(Partition(n, up[n], tuple(dict.fromkeys(g))) for n, g in gres.items()), default


def parse_gres(text: str) -> list[Gres]:
    """``gpu:a100:2(S:0-1),shard:4`` → its resources; ``(null)`` → none."""
    found = []
    for item in text.split(","):
        parts = item.split("(", 1)[0].strip().split(":")
        if not parts[0] or parts[0] == "null":
            continue
        count = parts[-1] if len(parts) > 1 else "1"
        kind = parts[1] if len(parts) == 3 else None
        if count.isdigit():
            found.append(Gres(parts[0], kind, int(count)))
    return found


def parse_assoc(text: str) -> tuple[Association, ...]:
    rows = []
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) == 3 and fields[0]:
            qos = tuple(q for q in fields[2].split(",") if q)
            rows.append(Association(fields[0], fields[1], qos))
    return tuple(rows)


def parse_config(text: str) -> dict[str, str]:
    """``scontrol show config``'s ``Name = value`` lines."""
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


# --- checks -----------------------------------------------------------------------------------


def check_options(spec: Spec, facts: ClusterFacts) -> list[SpecError]:
    """Located errors for every Slurm executor of the spec (the top one, and each task's own)
    that the cluster cannot honour."""
    from nemorun.compiler.targets.checks import OptionChecks

    checks = OptionChecks(spec)
    executors: dict[KeyPath, object] = {}
    for task in spec.tasks.values():
        if task.executor is not None:
            if task.target == "slurm":
                where: KeyPath = (*task.path[:-1], "executor")
                executors[where] = task.executor
        elif spec.target == "slurm":
            executors[("executor",)] = spec.executor
    for path, options in executors.items():
        _Checker(checks, path, options, facts).run()
    return checks.errors


@dataclass
class _Checker:
    """The checks of one executor's options, located under ``path``."""

    checks: OptionChecks
    path: KeyPath
    options: object
    facts: ClusterFacts

    def error(self, key: str, message: str, expected: str | None, found: str, hint: str) -> None:
        self.checks.error_at((*self.path, key), message, expected, found, hint)

    def run(self) -> None:
        chosen = self.partitions()
        usable = self.facts.usable(chosen)
        account = getattr(self.options, "account", None)
        if account and usable is not None:
            accounts = sorted({a.account for a in usable})
            if account not in accounts:
                self.error(
                    "account",
                    f"you cannot charge account '{account}' on this cluster",
                    "one of: " + ", ".join(accounts),
                    account,
                    did_you_mean(account, accounts) or "ask: sacctmgr show assoc user=$USER",
                )
        qos = getattr(self.options, "qos", None)
        if qos and usable is not None:
            mine = [a for a in usable if not account or a.account == account]
            allowed = sorted({q for a in mine for q in a.qos})
            if allowed and qos not in allowed:
                self.error(
                    "qos",
                    f"QOS '{qos}' is not allowed for you here",
                    "one of: " + ", ".join(allowed),
                    qos,
                    did_you_mean(qos, allowed) or "drop qos to use the default",
                )
        self.gpus([p for p in map(self.facts.partition, chosen) if p is not None])

    def partitions(self) -> list[str]:
        """The partitions the job may run in (named, else the default); errors for unknown."""
        value = getattr(self.options, "partition", None)
        names = [p.name for p in self.facts.partitions]
        if not isinstance(value, str) or not value:
            return [self.facts.default] if self.facts.default else []
        chosen = []
        for name in (n.strip() for n in value.split(",")):
            if name in names:
                chosen.append(name)
                continue
            self.error(
                "partition",
                f"partition '{name}' does not exist on this cluster",
                "one of: " + ", ".join(names),
                name,
                did_you_mean(name, names) or "list them: sinfo -s",
            )
        return chosen

    def gpus(self, partitions: list[Partition]) -> None:
        """A GPU request must fit some chosen partition: GPUs at all, the type, the count."""
        if not partitions:
            return
        where = ", ".join(p.name for p in partitions)
        most = max(p.max_gpus() for p in partitions)
        types = sorted(set().union(*(p.gpu_types() for p in partitions)))
        for key, kind, count in gpu_requests(self.options):
            if not most:
                self.error(key, f"partition {where} has no GPUs", None, key, "use a GPU partition")
            elif kind is not None and kind not in types:
                self.error(
                    key,
                    f"no node of partition {where} has GPUs of type '{kind}'",
                    "one of: " + ", ".join(types) if types else "no type",
                    kind,
                    did_you_mean(kind, types) or "drop the type to take any GPU",
                )
            if most and count is not None and key != "gpus" and count > most:
                self.error(
                    key,
                    f"nodes of partition {where} have at most {most} GPUs",
                    None,
                    str(count),
                    f"ask for at most {most} per node, or more nodes",
                )


def gpu_requests(options: object) -> list[tuple[str, str | None, int | None]]:
    """Each GPU request of the options: (option, type or None, count or None)."""
    found = []
    for key in GPU_OPTIONS:
        value = getattr(options, key, None)
        if value is None:
            continue
        words = str(value).split(":")
        kind = words[-2] if len(words) > 1 else None
        found.append((key, kind, int(words[-1]) if words[-1].isdigit() else None))
    gres = getattr(options, "gres", None)
    for item in (gres or "").split(","):
        parts = item.strip().split(":")
        if parts[0] == "gpu":
            count = parts[-1] if len(parts) > 1 else "1"
            kind = (
                parts[1] if len(parts) == 3 or (len(parts) == 2 and not count.isdigit()) else None
            )
            found.append(("gres", kind, int(count) if count.isdigit() else None))
    return found


# --- sbatch --test-only -----------------------------------------------------------------------


def start_estimates(
    run: Callable[..., subprocess.CompletedProcess[str]], scripts: Iterable[Path], cwd: Path
) -> list[str]:
    """Slurm's answer for each script: ``Job 12 to start at … on nodes … in partition …``.
    `LaunchError` with sbatch's message when Slurm would refuse a script."""
    estimates = []
    for script in scripts:
        result = run(["sbatch", "--test-only", str(script)], cwd=cwd)
        message = command_message(result)
        if result.returncode != 0:
            raise LaunchError(f"sbatch --test-only refused {script.name}: {message}")
        # "Job 12 to start at T using …": the id is a test-only one no job will have.
        found = re.search(r"to start at (\S+) (.*)", message)
        said = f"would start at {found[1]}, {found[2]}" if found else message
        estimates.append(f"{script.name}: {said}")
    return estimates
