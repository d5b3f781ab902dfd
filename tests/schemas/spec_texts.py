"""Hypothesis strategies for spec *texts*, written the many ways people write them: any
indentation, block and flow collections, plain, single- and double-quoted and literal-block
strings, hostile and unicode text, comment lines and end-of-line comments, anchors and aliases,
and the plain scalars whose reading differs between YAML 1.1 and 1.2 (``007``, ``yes``, ``1e3``).

Every comment carries a unique marker (``c<n>``), so a test can check that each one survives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

PLAIN = [
    *("007", "1e3", "1E3", "1_000", "0x1F", "0o17", "+1", "-0.0", "1.0e-3", ".5", "5."),
    *("yes", "no", "on", "off", "true", "False", "~", "null", "NULL", ".inf", "-.Inf", ".nan"),
    *("2026-01-01", "1:30", "12:30:45", "0b101", "1,000", "3", "0", "-7", "0.1"),
    *("adam", "m:f", "a b c", "ünïcödé", "日本語", "x=1", "${oc.env:HOME}", "a.b.c", "v1.2"),
]
"""Plain scalars (flow-safe: no ``,[]{}#``… except where flow style is not used for them)."""

FLOW_SAFE = [p for p in PLAIN if "," not in p]

KEYS = ["a", "b", "lr", "steps", "name", "model", "optim", "_target_", "yes", "007", "1.5", "x y"]

text_chars = st.characters(blacklist_categories=("Cs",))
comment_chars = st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"))


@dataclass
class Writer:
    """Renders a drawn tree as YAML text, drawing every stylistic choice."""

    draw: Any
    step: int = 2
    comments: list[str] = field(default_factory=list)
    anchors: list[str] = field(default_factory=list)

    def comment(self) -> str:
        text = self.draw(st.text(comment_chars, max_size=12)).strip()
        marker = f"c{len(self.comments)} {text}".rstrip()
        self.comments.append(marker)
        return f"# {marker}"

    def maybe_comment_line(self, indent: str) -> list[str]:
        return [indent + self.comment()] if self.draw(st.integers(0, 4)) == 0 else []

    def eol(self) -> str:
        return "  " + self.comment() if self.draw(st.integers(0, 4)) == 0 else ""

    def scalar(self, flow: bool) -> str:
        kind = self.draw(st.sampled_from(["plain", "plain", "double", "single"]))
        if kind == "plain":
            return self.draw(st.sampled_from(FLOW_SAFE if flow else PLAIN))
        text = self.draw(st.text(text_chars, max_size=15))
        if kind == "double":
            return json.dumps(text, ensure_ascii=self.draw(st.booleans()))
        return "'" + "".join(c for c in text if c.isprintable()).replace("'", "''") + "'"

    def key(self) -> str:
        if self.draw(st.integers(0, 5)) == 0:
            return json.dumps(self.draw(st.text(text_chars, min_size=1, max_size=8)))
        return self.draw(st.sampled_from(KEYS))

    def flow(self, depth: int) -> str:
        if depth <= 0 or self.draw(st.booleans()):
            return self.scalar(flow=True)
        if self.draw(st.booleans()):
            items = [self.flow(depth - 1) for _ in range(self.draw(st.integers(0, 3)))]
            return "[" + ", ".join(items) + "]"
        keys = self.draw(st.lists(st.sampled_from(KEYS), max_size=3, unique=True))
        return "{" + ", ".join(f"{k}: {self.flow(depth - 1)}" for k in keys) + "}"

    def value(self, indent: str, depth: int) -> tuple[str, list[str]]:
        """(what follows ``key:`` on its line, the lines below it)."""
        choice = self.draw(st.integers(0, 9))
        if choice == 0 and self.anchors:
            return " *" + self.draw(st.sampled_from(self.anchors)) + self.eol(), []
        if choice == 1:
            lines = self.draw(st.lists(st.text(comment_chars, max_size=10), min_size=1, max_size=3))
            style = self.draw(st.sampled_from(["|", "|-", ">", "|+"]))
            inner = indent + " " * self.step
            return f" {style}", [inner + line.rstrip() if line.strip() else "" for line in lines]
        if choice in (2, 3) and depth > 0:
            anchor = ""
            if self.draw(st.integers(0, 3)) == 0:
                name = f"n{len(self.anchors)}"
                anchor = f" &{name}"
            inner = indent + " " * self.step
            if choice == 2:
                body = self.mapping(inner, depth - 1)
            else:
                body = self.sequence(self.draw(st.sampled_from([indent, inner])), depth - 1)
            if anchor:
                self.anchors.append(anchor[2:])
            return anchor + self.eol(), body
        if choice == 4:
            return " " + self.flow(2) + self.eol(), []
        return " " + self.scalar(flow=False) + self.eol(), []

    def mapping(self, indent: str, depth: int, top: bool = False) -> list[str]:
        keys = self.draw(st.lists(st.builds(self.key), min_size=1, max_size=4, unique=True))
        if top:
            keys = [k for k in keys if k != "nemorun"]
            keys.insert(self.draw(st.integers(0, len(keys))), "nemorun")
        lines: list[str] = []
        for key in keys:
            lines += self.maybe_comment_line(indent)
            if key == "nemorun":
                lines.append(f"{indent}nemorun: 1{self.eol()}")
                continue
            head, body = self.value(indent, depth)
            lines.append(f"{indent}{key}:{head}")
            lines += body
        return lines

    def sequence(self, indent: str, depth: int) -> list[str]:
        lines: list[str] = []
        for _ in range(self.draw(st.integers(1, 3))):
            lines += self.maybe_comment_line(indent)
            if depth > 0 and self.draw(st.integers(0, 3)) == 0:
                lines.append(f"{indent}-")
                lines += self.mapping(indent + " " * self.step, depth - 1)
            else:
                lines.append(f"{indent}- {self.flow(1)}{self.eol()}")
        return lines


@st.composite
def yaml_specs(draw: Any) -> tuple[str, list[str]]:
    """(a YAML spec text, the comment markers written in it)."""
    writer = Writer(draw, step=draw(st.integers(1, 4)))
    head = [writer.comment() for _ in range(draw(st.integers(0, 2)))]
    lines = head + writer.mapping("", depth=3, top=True)
    return "\n".join(lines) + "\n" * draw(st.integers(0, 2)), writer.comments


@st.composite
def task_specs(draw: Any, target: str, pythonpath: str) -> tuple[str, list[str]]:
    """(a YAML spec whose task's arguments are drawn as `yaml_specs` draws a file, the comment
    markers): for checking that the *resolved* spec is the same after formatting."""
    writer = Writer(draw, step=draw(st.integers(1, 4)))
    head = [f"nemorun: 1{writer.eol()}", f"pythonpath: ['{pythonpath}']", "task:"]
    indent = " " * writer.step
    lines = [*head, f"{indent}_target_: {target}", *writer.mapping(indent, depth=2)]
    return "\n".join(lines) + "\n", writer.comments


@st.composite
def toml_specs(draw: Any) -> str:
    """A TOML spec with random indentation, spacing around ``=``, blank lines and comments."""

    def pad() -> str:
        return draw(st.sampled_from(["", " ", "  ", "\t"]))

    def value() -> str:
        return draw(
            st.one_of(
                st.integers(-(10**6), 10**6).map(str),
                st.sampled_from(["1_000", "+1", "1e3", "1E-3", "0x1F", "inf", "-0.0", "true"]),
                st.text(text_chars, max_size=10).map(lambda s: json.dumps(s, ensure_ascii=False)),
                st.just("[1, 2,\n  3]"),
            )
        )

    def entries() -> list[str]:
        keys = draw(st.lists(st.sampled_from(KEYS[:8]), max_size=4, unique=True))
        out = []
        for key in keys:
            if draw(st.booleans()):
                out.append(pad() + "# " + draw(st.text(comment_chars, max_size=10)))
            out.append(f"{pad()}{key}{pad()}={pad()}{value()}")
            out += [""] * draw(st.integers(0, 2))
        return out

    top = entries()
    top.insert(draw(st.integers(0, len(top))), f"{pad()}nemorun = 1")
    lines = top
    for name in draw(st.lists(st.sampled_from(["task", "task.model", "executor"]), unique=True)):
        lines += [f"{pad()}[{name}]", *entries()]
    return "\n".join(lines) + "\n"
