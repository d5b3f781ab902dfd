"""TensorBoard: a log directory per run (``DIR/RUN_ID``, the job's ``TENSORBOARD_LOGDIR``), where
nemorun writes its own event file beside the job's.

nemorun's events are text summaries (TensorBoard's Text tab): ``nemorun/run`` (run id, target,
git commit and dirty flag), ``nemorun/spec`` (the resolved spec as a key/value table), one
``nemorun/artifact/NAME`` per compiled file, and ``nemorun/status`` at each state mirrored.
They are written with ``tensorboard``'s own event writer and protocol buffers (no TensorFlow).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from nemorun.launchers.tracking import Details, Opened, TrackedRun
from nemorun.schemas.tracking import TensorboardTracking

STEPS = {"running": 1, "completed": 2, "failed": 2, "cancelled": 2}


def open_run(options: TensorboardTracking, run: TrackedRun) -> Opened:
    logdir = Path(options.dir).expanduser().absolute() / run.id
    logdir.mkdir(parents=True, exist_ok=True)
    return Opened({"logdir": str(logdir)}, (("TENSORBOARD_LOGDIR", str(logdir)),))


def describe(ref: Mapping[str, str], details: Details) -> list[str]:
    texts = {
        "nemorun/run": _table(details.tags),
        "nemorun/spec": _table(details.params),
        "nemorun/status": "pending",
    }
    for file in sorted(p for p in details.artifacts.rglob("*") if p.is_file()):
        name = file.relative_to(details.artifacts).as_posix()
        code = file.read_text(encoding="utf-8", errors="replace")
        texts[f"nemorun/artifact/{name}"] = "```\n" + code + "\n```"
    _write(Path(ref["logdir"]), texts, step=0)
    return []


def mirror(ref: Mapping[str, str], state: str) -> None:
    _write(Path(ref["logdir"]), {"nemorun/status": state}, STEPS[state])


def _write(logdir: Path, texts: Mapping[str, str], step: int) -> None:
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    text_plugin = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="text"))
    shape = TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)])
    values = [
        Summary.Value(
            tag=tag,
            metadata=text_plugin,
            tensor=TensorProto(dtype=7, tensor_shape=shape, string_val=[text.encode()]),
        )
        for tag, text in texts.items()
    ]  # dtype 7: DT_STRING
    writer = EventFileWriter(str(logdir), filename_suffix=".nemorun")
    try:
        writer.add_event(Event(wall_time=time.time(), step=step, summary=Summary(value=values)))
    finally:
        writer.close()


def _table(rows: Mapping[str, str]) -> str:
    """A Markdown table (TensorBoard renders it), with ``|`` in values escaped."""
    lines = ["| key | value |", "|---|---|"]
    lines += [f"| {k} | {_escaped(str(v))} |" for k, v in rows.items()]
    return "\n".join(lines)


def _escaped(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
