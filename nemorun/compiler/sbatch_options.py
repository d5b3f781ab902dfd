"""Which long options ``sbatch`` accepts: text → data, no commands run here.

Slurm versions differ (``--segment`` and ``--tres-per-task`` are newer than 22.05), so the
list comes from the cluster's own ``sbatch --help`` when nemorun is told it (`from_help`, fed by
`nemorun.compiler.machine`), else from nemorun's built-in list (`BUILTIN`, sbatch 22.05).
``--help`` leaves a few real options out (`HELP_LEAVES_OUT`); they are added to what it lists.
Each list says where it comes from, so an error can say which list refused an option.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Long options of sbatch 22.05 (`sbatch --help`, and those its help leaves out).
# fmt: off
BUILTIN_NAMES = frozenset(
    {
        "account", "acctg-freq", "array", "batch", "bb", "bbf", "begin", "chdir",
        "cluster-constraint", "clusters", "comment", "constraint", "container", "contiguous",
        "core-spec", "cores-per-socket", "cpu-freq", "cpus-per-gpu", "cpus-per-task", "deadline",
        "delay-boot", "dependency", "distribution", "error", "exclude", "exclusive", "export",
        "export-file", "extra-node-info", "get-user-env", "gid", "gpu-bind", "gpu-freq", "gpus",
        "gpus-per-node", "gpus-per-socket", "gpus-per-task", "gres", "gres-flags", "hint", "hold",
        "ignore-pbs", "input", "job-name", "kill-on-invalid-dep", "licenses", "mail-type",
        "mail-user", "mcs-label", "mem", "mem-bind", "mem-per-cpu", "mem-per-gpu", "mincpus",
        "network", "nice", "no-kill", "no-requeue", "nodefile", "nodelist", "nodes", "ntasks",
        "ntasks-per-core", "ntasks-per-gpu", "ntasks-per-node", "ntasks-per-socket", "open-mode",
        "output", "overcommit", "oversubscribe", "parsable", "partition", "power", "prefer",
        "priority", "profile", "propagate", "qos", "quiet", "reboot", "requeue", "reservation",
        "signal", "sockets-per-node", "spread-job", "switches", "thread-spec", "threads-per-core",
        "time", "time-min", "tmp", "uid", "use-min-nodes", "verbose", "wait", "wait-all-nodes",
        "wckey", "wrap",
    }
)
# fmt: on
BUILTIN_VERSION = "22.05"
HELP_LEAVES_OUT = frozenset(
    {
        "acctg-freq", "batch", "hint", "kill-on-invalid-dep", "mem-bind", "network",
        "ntasks-per-gpu", "open-mode", "prefer", "wait-all-nodes",
    }
)  # fmt: skip
"""Options of sbatch 22.05 that its ``--help`` does not list."""
NOT_JOB_OPTIONS = frozenset({"help", "usage", "version"})

# `  -A, --account=name`, `      --bb=<spec>`, `  -B  --extra-node-info=S[:C[:T]]`
_HELP_LINE = re.compile(r"^\s{1,8}(?:-[A-Za-z],?\s+)?--([a-z][a-z0-9-]*)", re.MULTILINE)
_VERSION = re.compile(r"\b(\d+\.\d+(?:\.\d+)?)\b")


@dataclass(frozen=True)
class SbatchOptions:
    """The long options one sbatch accepts, and which list they are."""

    names: frozenset[str]
    version: str
    from_machine: bool
    """True for this machine's own sbatch, False for nemorun's built-in list."""

    def refusal(self) -> str:
        """How an error says that an option is not in this list."""
        if self.from_machine:
            return f"not an option of sbatch {self.version} on this machine"
        return f"not in nemorun's built-in list of sbatch {self.version} options"


BUILTIN = SbatchOptions(BUILTIN_NAMES, BUILTIN_VERSION, from_machine=False)


def from_help(version_text: str, help_text: str) -> SbatchOptions | None:
    """The options an sbatch lists in its ``--help`` (``--version`` printed ``version_text``),
    or None when the text does not look like sbatch's help."""
    listed = frozenset(_HELP_LINE.findall(help_text)) - NOT_JOB_OPTIONS
    version = _VERSION.search(version_text)
    if len(listed) < 10 or version is None:
        return None
    return SbatchOptions(listed | HELP_LEAVES_OUT, version.group(1), from_machine=True)
