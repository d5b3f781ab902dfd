"""``Run.cancel`` asks the states, and saves them, with the target state its ``cancel`` noted
(Slurm notes that the user cancelled the run, so a job cancelled while it waited for another
reads cancelled, not "dependency never satisfied"). The run is a real local one; its target is
the real local target, wrapped to note something new in the state when it cancels."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import nemorun
from nemorun.launchers.base import JobState, RunHandle
from nemorun.launchers.local import LocalTarget
from nemorun.launchers.records import STATE


class NotingTarget(LocalTarget):
    """The local target; its cancel also notes a key of its own, and status reads it."""

    seen: list[Any] = []

    def cancel(self, run: RunHandle) -> None:
        super().cancel(run)
        run.state["noted"] = "cancelled by the user"

    def status(self, run: RunHandle) -> Any:
        self.seen.append(run.state.get("noted"))
        return super().status(run)


def test_cancel_saves_what_the_target_noted(home: Path, tmp_path: Path) -> None:
    (tmp_path / "idler.py").write_text("import time\n\ndef nap() -> None:\n    time.sleep(60)\n")
    spec = tmp_path / "sleepy.yaml"
    spec.write_text("nemorun: 1\nname: sleepy\npythonpath: [.]\ntask: {_target_: idler:nap}\n")
    run = nemorun.launch(spec)
    opened = nemorun.open_run(run.id)
    deadline = time.monotonic() + 60
    while opened.status()[0].state is not JobState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.1)
    opened.target = NotingTarget()
    assert [s.state for s in opened.cancel()] == [JobState.CANCELLED]
    assert NotingTarget.seen == ["cancelled by the user"]
    saved = json.loads((run.record.dir / STATE).read_text(encoding="utf-8"))
    assert saved["target_state"]["noted"] == "cancelled by the user"
