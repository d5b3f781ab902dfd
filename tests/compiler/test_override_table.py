"""The override language, row by row, proved by what the job receives.

Each row is a list of command-line overrides on one spec and either the arguments the task
receives at every sweep point (as a patch of the spec's own values) or the error. The job is
the real generated entry point, run in a fresh interpreter for each point, printing its
arguments as JSON (`tablelib.job`), so a row holds only if the value reaches the job.

Rows follow Hydra's documented override grammar and semantics (basic override syntax,
extended override syntax, sweeps), with the differences the README lists.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nemorun.api import load
from nemorun.compiler.entry import entry_point
from nemorun.errors import SpecErrors

HERE = Path(__file__).resolve().parent
SPEC = """\
nemorun: 1
name: exp
pythonpath: [{here}]
task:
  _target_: tablelib:job
  cfg:
    a: 1
    b: {{c: 2, d: [1, 2, 3]}}
    s: text
    z: null
    l: [x, y]
    m: {{}}
  tag: base
  lr: 0.5
  n: 3
"""
BASE = {
    "cfg": {
        "a": 1,
        "b": {"c": 2, "d": [1, 2, 3]},
        "s": "text",
        "z": None,
        "l": ["x", "y"],
        "m": {},
    },
    "tag": "base",
    "lr": 0.5,
    "n": 3,
    "flag": False,
}
ENV = {"NEMORUN_TABLE_VAR": "from-env", "NEMORUN_TABLE_NUM": "7"}
DEL = object()


@dataclass(frozen=True)
class Err:
    """The row is refused, with this text in the located message."""

    text: str


def pts(*patches: dict[str, Any]) -> list[dict[str, Any]]:
    return list(patches)


R = list[tuple[str, list[str], Any]]
ROWS: R = [
    # --- set: key=value ---------------------------------------------------------------------
    ("set-int", ["cfg.a=5"], pts({"cfg.a": 5})),
    ("set-text", ["cfg.a=text"], pts({"cfg.a": "text"})),
    ("set-nested", ["cfg.b.c=7"], pts({"cfg.b.c": 7})),
    ("set-dict-merges", ["cfg.b={c:9}"], pts({"cfg.b.c": 9})),
    ("set-dict-adds", ["cfg.b={e:1}"], pts({"cfg.b.e": 1})),
    ("set-dict-nested-merge", ["cfg={b:{c:4}}"], pts({"cfg.b.c": 4})),
    ("set-task-merge", ["task={cfg:{b:{c:4}}}"], pts({"cfg.b.c": 4})),
    ("set-dict-deep-new", ["cfg={b:{new:{x:1}}}"], pts({"cfg.b.new": {"x": 1}})),
    ("set-dict-over-scalar", ["cfg.a={x:[1,{y:2}]}"], pts({"cfg.a": {"x": [1, {"y": 2}]}})),
    ("set-list-replaces", ["cfg.l=[q]"], pts({"cfg.l": ["q"]})),
    ("set-list-empty", ["cfg.l=[]"], pts({"cfg.l": []})),
    ("set-list-index", ["cfg.l.0=q"], pts({"cfg.l": ["q", "y"]})),
    ("set-list-index-null", ["cfg.l.1=null"], pts({"cfg.l": ["x", None]})),
    ("set-nested-list-index", ["cfg.b.d.2=9"], pts({"cfg.b.d": [1, 2, 9]})),
    ("set-list-out-of-range", ["cfg.l.5=1"], Err("list index out of range")),
    ("set-list-text-index", ["cfg.l.x=1"], Err("list")),
    ("set-creates-key", ["cfg.new=1"], pts({"cfg.new": 1})),
    ("set-creates-nested", ["cfg.new.deep=1"], pts({"cfg.new": {"deep": 1}})),
    ("set-inside-scalar", ["cfg.a.x=1"], Err("not a mapping")),
    ("set-inside-null", ["cfg.z.k=1"], Err("not a mapping")),
    ("set-null-to-value", ["cfg.z=5"], pts({"cfg.z": 5})),
    ("set-to-null", ["cfg.a=null"], pts({"cfg.a": None})),
    ("set-empty-dict-merge", ["cfg.m={a:1}"], pts({"cfg.m": {"a": 1}})),
    ("set-empty-dict", ["cfg.a={}"], pts({"cfg.a": {}})),
    ("set-nested-list", ["cfg.a=[1,[2,3]]"], pts({"cfg.a": [1, [2, 3]]})),
    ("set-mixed-list", ["cfg.a=[a,'b c',{d:e}]"], pts({"cfg.a": ["a", "b c", {"d": "e"}]})),
    ("set-unknown-argument", ["nope=1"], Err("nope")),
    ("set-unknown-nested-argument", ["nope.x=1"], Err("nope")),
    ("set-no-equals", ["cfg.a"], Err("key=value")),
    ("set-package", ["cfg.a@pkg=1"], Err("@package")),
    ("set-version", ["nemorun=2"], Err("cannot be overridden")),
    ("set-extends", ["extends=[x.yaml]"], Err("cannot be overridden")),
    # --- typed arguments: the text as typed, or a located refusal -----------------------------
    ("str-zeros", ["tag=007"], pts({"tag": "007"})),
    ("str-bool-text", ["tag=true"], pts({"tag": "true"})),
    ("str-float-text", ["tag=1.50"], pts({"tag": "1.50"})),
    ("str-null", ["tag=null"], Err("a string")),
    ("str-empty", ["tag=''"], pts({"tag": ""})),
    ("float-exp", ["lr=1e-3"], pts({"lr": 0.001})),
    ("float-from-int", ["lr=1"], pts({"lr": 1.0})),
    ("float-negative", ["lr=-1.5e-3"], pts({"lr": -0.0015})),
    ("float-text", ["lr=abc"], Err("a number")),
    ("float-quoted", ["lr='0.5'"], Err("remove the quotes")),
    ("int", ["n=5"], pts({"n": 5})),
    ("int-underscore", ["n=1_000"], pts({"n": 1000})),
    ("int-plus", ["n=+5"], pts({"n": 5})),
    ("int-float", ["n=2.0"], Err("an integer")),
    ("int-quoted", ["n='2'"], Err("remove the quotes")),
    ("bool-true", ["flag=true"], pts({"flag": True})),
    ("bool-capital", ["flag=True"], pts({"flag": True})),
    ("bool-yes", ["flag=yes"], Err("true or false")),
    ("any-leading-zeros", ["cfg.a=007"], pts({"cfg.a": "007"})),
    ("any-int", ["cfg.a=42"], pts({"cfg.a": 42})),
    ("any-inf", ["cfg.a=inf"], pts({"cfg.a": float("inf")})),
    ("any-path", ["cfg.a=/abs/path"], pts({"cfg.a": "/abs/path"})),
    ("any-dotted", ["cfg.a=a.b.c"], pts({"cfg.a": "a.b.c"})),
    ("any-unicode-unquoted", ["cfg.a=héllo"], Err("quote it")),
    ("any-unicode-quoted", ["cfg.a='héllo'"], pts({"cfg.a": "héllo"})),
    # --- quoting and escapes ----------------------------------------------------------------
    ("quote-space", ["cfg.s='a b'"], pts({"cfg.s": "a b"})),
    ("quote-double-apostrophe", ['cfg.s="it\'s"'], pts({"cfg.s": "it's"})),
    ("quote-escaped-apostrophe", ["cfg.s='it\\'s'"], pts({"cfg.s": "it's"})),
    ("quote-escaped-double", ['cfg.s="q\\"x"'], pts({"cfg.s": 'q"x'})),
    ("quote-comma", ["cfg.a='a,b'"], pts({"cfg.a": "a,b"})),
    ("quote-list-text", ["cfg.a='[1,2]'"], pts({"cfg.a": "[1,2]"})),
    ("quote-dict-text", ["cfg.a='{x:1}'"], pts({"cfg.a": "{x:1}"})),
    ("quote-null-text", ["cfg.a='null'"], pts({"cfg.a": "null"})),
    ("quote-number-text", ["cfg.a='1'"], pts({"cfg.a": "1"})),
    ("quote-padded", ["cfg.a=' pad '"], pts({"cfg.a": " pad "})),
    ("escape-comma", ["cfg.a=x\\,y"], pts({"cfg.a": "x,y"})),
    ("escape-space", ["cfg.a=x\\ y"], pts({"cfg.a": "x y"})),
    # --- interpolation ----------------------------------------------------------------------
    ("interp-whole", ["cfg.a=${task.n}"], pts({"cfg.a": 3})),
    ("interp-in-text", ["cfg.a=x_${task.n}"], pts({"cfg.a": "x_3"})),
    ("interp-quoted", ["cfg.a='${task.n}'"], pts({"cfg.a": 3})),
    ("interp-top", ["tag=${name}"], pts({"tag": "exp"})),
    ("interp-in-dict", ["cfg.b={c:1,d:${task.n}}"], pts({"cfg.b": {"c": 1, "d": 3}})),
    ("interp-in-list", ["cfg.a=[${task.n},x]"], pts({"cfg.a": [3, "x"]})),
    ("interp-to-float", ["lr=${task.n}"], pts({"lr": 3.0})),
    ("interp-missing", ["tag=${missing.key}"], Err("cannot resolve")),
    ("interp-decode-list", ["cfg.a=${oc.decode:'[1,2]'}"], pts({"cfg.a": [1, 2]})),
    ("interp-decode-dict", ["cfg.a='${oc.decode:\"{x: 1}\"}'"], pts({"cfg.a": {"x": 1}})),
    ("env-whole", ["tag=${oc.env:NEMORUN_TABLE_VAR}"], pts({"tag": "from-env"})),
    ("env-default", ["tag=${oc.env:NEMORUN_TABLE_UNSET,dflt}"], pts({"tag": "dflt"})),
    ("env-int", ["n=${oc.env:NEMORUN_TABLE_NUM}"], pts({"n": 7})),
    ("env-default-quoted", ["tag=${oc.env:NEMORUN_TABLE_UNSET,'a b'}"], pts({"tag": "a b"})),
    ("env-default-comma", ['tag=${oc.env:NEMORUN_TABLE_UNSET,"a,b"}'], pts({"tag": "a,b"})),
    ("env-in-text", ["tag=x_${oc.env:NEMORUN_TABLE_VAR}"], pts({"tag": "x_from-env"})),
    ("env-any", ["cfg.a=${oc.env:NEMORUN_TABLE_VAR}"], pts({"cfg.a": "from-env"})),
    ("env-any-nested", ["cfg.b={c:'${oc.env:NEMORUN_TABLE_VAR}'}"], pts({"cfg.b.c": "from-env"})),
    ("env-any-in-list", ["cfg.l=['${oc.env:NEMORUN_TABLE_VAR}']"], pts({"cfg.l": ["from-env"]})),
    # --- add: +key=value --------------------------------------------------------------------
    ("add-new", ["+cfg.new=1"], pts({"cfg.new": 1})),
    ("add-set", ["+cfg.a=2"], Err("already set")),
    ("add-dict-merges", ["+cfg.b={e:1}"], pts({"cfg.b.e": 1})),
    ("add-list-replaces", ["+cfg.l=[9]"], pts({"cfg.l": [9]})),
    ("add-fills-null", ["+cfg.z=4"], pts({"cfg.z": 4})),
    ("add-digit-key", ["+cfg.x.0=1"], pts({"cfg.x": {"0": 1}})),
    ("add-list-element", ["+cfg.b.d.0=5"], Err("already set")),
    ("add-into-empty", ["+cfg.m.k=v"], pts({"cfg.m": {"k": "v"}})),
    ("add-nested-new", ["+cfg.p.q.r=1"], pts({"cfg.p": {"q": {"r": 1}}})),
    ("add-argument", ["+flag=true"], pts({"flag": True})),
    ("add-set-argument", ["+tag=x"], Err("already set")),
    # --- force-add: ++key=value -------------------------------------------------------------
    ("force-set", ["++cfg.a=2"], pts({"cfg.a": 2})),
    ("force-new", ["++cfg.new=1"], pts({"cfg.new": 1})),
    ("force-dict-merges", ["++cfg.b={c:0}"], pts({"cfg.b.c": 0})),
    ("force-list-index", ["++cfg.l.0=z"], pts({"cfg.l": ["z", "y"]})),
    ("force-argument", ["++tag=t"], pts({"tag": "t"})),
    # --- delete: ~key, ~key=value -----------------------------------------------------------
    ("del", ["~cfg.a"], pts({"cfg.a": DEL})),
    ("del-matching", ["~cfg.a=1"], pts({"cfg.a": DEL})),
    ("del-differing", ["~cfg.a=2"], Err("current value differs")),
    ("del-missing", ["~cfg.nope"], Err("nothing to delete")),
    ("del-missing-parent", ["~cfg.nope.x"], Err("no such key")),
    ("del-list", ["~cfg.b.d"], pts({"cfg.b.d": DEL})),
    ("del-list-element", ["~cfg.l.0"], pts({"cfg.l": ["y"]})),
    ("del-under-null", ["~cfg.z.k"], Err("is null")),
    ("del-null", ["~cfg.z"], pts({"cfg.z": DEL})),
    ("del-null-matching", ["~cfg.z=null"], pts({"cfg.z": DEL})),
    ("del-dict-matching", ["~cfg.b={c:2,d:[1,2,3]}"], pts({"cfg.b": DEL})),
    ("del-nested-matching", ["~cfg.b.c=2"], pts({"cfg.b.c": DEL})),
    ("del-argument-default", ["~tag"], pts({"tag": ""})),
    ("del-float-default", ["~lr"], pts({"lr": 0.0})),
    ("del-whole-config", ["~cfg"], pts({"cfg": None})),
    ("del-top-level", ["~nemorun"], Err("cannot be overridden")),
    # --- order: the last override of a key wins ---------------------------------------------
    ("order-last-wins", ["cfg.a=1", "cfg.a=2"], pts({"cfg.a": 2})),
    ("order-set-after-sweep", ["cfg.a=1,2", "cfg.a=3"], pts({"cfg.a": 3})),
    ("order-sweep-after-set", ["cfg.a=3", "cfg.a=1,2"], pts({"cfg.a": 1}, {"cfg.a": 2})),
    ("order-delete-after-sweep", ["cfg.a=1,2", "~cfg.a"], pts({"cfg.a": DEL})),
    ("order-delete-then-add", ["~cfg.a", "+cfg.a=5"], pts({"cfg.a": 5})),
    ("order-add-then-delete", ["+cfg.q=1", "~cfg.q"], pts({})),
    ("order-merge-then-set", ["cfg.b={c:5}", "cfg.b.d=[]"], pts({"cfg.b": {"c": 5, "d": []}})),
    ("order-set-then-merge", ["cfg.b.d=[]", "cfg.b={c:5}"], pts({"cfg.b": {"c": 5, "d": []}})),
    # --- sweeps -----------------------------------------------------------------------------
    ("sweep-two", ["cfg.a=1,2"], pts({"cfg.a": 1}, {"cfg.a": 2})),
    ("sweep-three", ["n=1,2,3"], pts({"n": 1}, {"n": 2}, {"n": 3})),
    ("sweep-duplicates", ["n=1,1"], pts({"n": 1}, {"n": 1})),
    ("sweep-choice", ["cfg.a=choice(1,2)"], pts({"cfg.a": 1}, {"cfg.a": 2})),
    ("sweep-choice-spaces", ["cfg.a=choice(1, 2)"], pts({"cfg.a": 1}, {"cfg.a": 2})),
    ("sweep-range-stop", ["n=range(3)"], pts({"n": 0}, {"n": 1}, {"n": 2})),
    ("sweep-range", ["n=range(1,4)"], pts({"n": 1}, {"n": 2}, {"n": 3})),
    ("sweep-range-step", ["n=range(0,10,3)"], pts({"n": 0}, {"n": 3}, {"n": 6}, {"n": 9})),
    ("sweep-range-down", ["n=range(5,0,-2)"], pts({"n": 5}, {"n": 3}, {"n": 1})),
    ("sweep-range-kw", ["n=range(start=1,stop=3)"], pts({"n": 1}, {"n": 2})),
    (
        "sweep-range-float",
        ["lr=range(0,1,0.25)"],
        pts({"lr": 0.0}, {"lr": 0.25}, {"lr": 0.5}, {"lr": 0.75}),
    ),
    ("sweep-range-tenths", ["lr=range(0,0.3,0.1)"], pts({"lr": 0.0}, {"lr": 0.1}, {"lr": 0.2})),
    ("sweep-range-float-int-step", ["lr=range(0.5,2.5)"], pts({"lr": 0.5}, {"lr": 1.5})),
    (
        "sweep-range-float-down",
        ["lr=range(1,0,-0.1)"],
        pts(*({"lr": x / 10} for x in range(10, 0, -1))),
    ),
    ("sweep-range-to-float", ["lr=range(1,3)"], pts({"lr": 1.0}, {"lr": 2.0})),
    (
        "sweep-sort-range-reverse",
        ["n=sort(range(0,5,2),reverse=true)"],
        pts({"n": 4}, {"n": 2}, {"n": 0}),
    ),
    ("sweep-sort-range-down", ["n=sort(range(5,0,-2))"], pts({"n": 1}, {"n": 3}, {"n": 5})),
    (
        "sweep-sort-float-range",
        ["lr=sort(range(1,0,-0.1))"],
        pts(*({"lr": x / 10} for x in range(1, 11))),
    ),
    ("sweep-sort-values", ["n=sort(3,1,2)"], pts({"n": 1}, {"n": 2}, {"n": 3})),
    ("sweep-sort-reverse", ["n=sort(3,1,2,reverse=true)"], pts({"n": 3}, {"n": 2}, {"n": 1})),
    ("sweep-sort-choice", ["n=sort(choice(2,1))"], pts({"n": 1}, {"n": 2})),
    ("sweep-range-empty", ["n=range(0)"], Err("no values")),
    ("sweep-range-backwards", ["n=range(5,1)"], Err("no values")),
    ("sweep-range-zero-step", ["n=range(0,5,0)"], Err("")),
    ("sweep-range-huge", ["n=range(0,1000000000)"], Err("more than 100,000")),
    ("sweep-shuffle-values", ["n=shuffle(1,2)"], Err("shuffle")),
    ("sweep-shuffle-range", ["n=shuffle(range(3))"], Err("shuffle")),
    ("sweep-shuffle-choice", ["n=shuffle(choice(1,2))"], Err("shuffle")),
    ("sweep-sort-shuffled", ["n=sort(shuffle(range(3)))"], Err("shuffle")),
    ("sweep-interval", ["lr=interval(0,1)"], Err("discrete")),
    ("sweep-glob", ["cfg.a=glob(*)"], Err("glob")),
    ("sweep-tag", ["n=tag(t,choice(1,2))"], pts({"n": 1}, {"n": 2})),
    ("sweep-quoted", ["cfg.a='x','y'"], pts({"cfg.a": "x"}, {"cfg.a": "y"})),
    ("sweep-quoted-space", ["tag='a b',c"], pts({"tag": "a b"}, {"tag": "c"})),
    ("sweep-quoted-literal", ["cfg.s='sgd','adam'"], pts({"cfg.s": "sgd"}, {"cfg.s": "adam"})),
    ("sweep-quoted-escape", ['tag="q\\"x",y'], pts({"tag": 'q"x'}, {"tag": "y"})),
    ("sweep-quoted-comma", ["tag='a,b',c"], pts({"tag": "a,b"}, {"tag": "c"})),
    ("sweep-escaped-comma", ["cfg.a=x\\,y,z"], pts({"cfg.a": "x,y"}, {"cfg.a": "z"})),
    (
        "sweep-lists",
        ["cfg.a=choice([1,2,3],['a','b'])"],
        pts({"cfg.a": [1, 2, 3]}, {"cfg.a": ["a", "b"]}),
    ),
    ("sweep-list-simple", ["cfg.a=[1,2],[3]"], pts({"cfg.a": [1, 2]}, {"cfg.a": [3]})),
    (
        "sweep-dicts-replace-scalar",
        ["cfg.a={x:1},{x:2}"],
        pts({"cfg.a": {"x": 1}}, {"cfg.a": {"x": 2}}),
    ),
    ("sweep-dicts-merge", ["cfg.b={c:5},{c:6}"], pts({"cfg.b.c": 5}, {"cfg.b.c": 6})),
    (
        "sweep-dicts-quoted",
        ["cfg.a={x:'a b'},{x:c}"],
        pts({"cfg.a": {"x": "a b"}}, {"cfg.a": {"x": "c"}}),
    ),
    # A computed sweep (sort, range) has no text per value: a number for a str is refused.
    ("sweep-sort-str-floats", ["tag=sort(2.50,1.50)"], Err("expected a string")),
    ("sweep-str-zeros", ["tag=007,008"], pts({"tag": "007"}, {"tag": "008"})),
    ("sweep-str-floats", ["tag=1.0,2.50"], pts({"tag": "1.0"}, {"tag": "2.50"})),
    ("sweep-str-bools", ["tag=true,no"], pts({"tag": "true"}, {"tag": "no"})),
    ("sweep-str-choice-zeros", ["tag=choice(007,x)"], pts({"tag": "007"}, {"tag": "x"})),
    ("sweep-null", ["cfg.a=null,1"], pts({"cfg.a": None}, {"cfg.a": 1})),
    ("sweep-bools", ["flag=true,false"], pts({"flag": True}, {"flag": False})),
    ("sweep-bad-value", ["n=1,x"], Err("an integer")),
    ("sweep-list-element", ["cfg.l.0=p,q"], pts({"cfg.l": ["p", "y"]}, {"cfg.l": ["q", "y"]})),
    (
        "sweep-nested-list-element",
        ["cfg.b.d.1=7,8"],
        pts({"cfg.b.d": [1, 7, 3]}, {"cfg.b.d": [1, 8, 3]}),
    ),
    ("sweep-add-new", ["+cfg.new=1,2"], pts({"cfg.new": 1}, {"cfg.new": 2})),
    ("sweep-add-set", ["+cfg.a=1,2"], Err("already set")),
    ("sweep-force", ["++cfg.a=1,2"], pts({"cfg.a": 1}, {"cfg.a": 2})),
    ("sweep-creates-key", ["cfg.new=a,b"], pts({"cfg.new": "a"}, {"cfg.new": "b"})),
    (
        "sweep-product-order",
        ["n=1,2", "lr=0.1,0.2"],
        pts(
            {"n": 1, "lr": 0.1},
            {"n": 1, "lr": 0.2},
            {"n": 2, "lr": 0.1},
            {"n": 2, "lr": 0.2},
        ),
    ),
    (
        "sweep-product-order-swapped",
        ["lr=0.1,0.2", "n=1,2"],
        pts(
            {"n": 1, "lr": 0.1},
            {"n": 2, "lr": 0.1},
            {"n": 1, "lr": 0.2},
            {"n": 2, "lr": 0.2},
        ),
    ),
    # --- sweeps and interpolation: every point resolves against its own values -------------
    (
        "sweep-interp-follows",
        ["tag=lr_${task.lr}", "lr=0.1,0.2"],
        pts({"tag": "lr_0.1", "lr": 0.1}, {"tag": "lr_0.2", "lr": 0.2}),
    ),
    (
        "sweep-interp-follows-after",
        ["lr=0.1,0.2", "tag=lr_${task.lr}"],
        pts({"tag": "lr_0.1", "lr": 0.1}, {"tag": "lr_0.2", "lr": 0.2}),
    ),
    (
        "sweep-interp-nested-follows",
        ["cfg.a=1,2", "cfg.b.c=${task.cfg.a}"],
        pts({"cfg.a": 1, "cfg.b.c": 1}, {"cfg.a": 2, "cfg.b.c": 2}),
    ),
    (
        "sweep-interp-two-axes",
        ["n=1,2", "lr=0.5,0.25", "tag=${task.n}_${task.lr}"],
        pts(
            {"n": 1, "lr": 0.5, "tag": "1_0.5"},
            {"n": 1, "lr": 0.25, "tag": "1_0.25"},
            {"n": 2, "lr": 0.5, "tag": "2_0.5"},
            {"n": 2, "lr": 0.25, "tag": "2_0.25"},
        ),
    ),
    (
        "sweep-value-interp",
        ["cfg.a=${task.n},9", "n=4,5"],
        pts(
            {"cfg.a": 4, "n": 4},
            {"cfg.a": 5, "n": 5},
            {"cfg.a": 9, "n": 4},
            {"cfg.a": 9, "n": 5},
        ),
    ),
    ("sweep-value-interp-top", ["tag=${name},b"], pts({"tag": "exp"}, {"tag": "b"})),
    ("sweep-value-interp-typed", ["lr=${task.n},0.5"], pts({"lr": 3.0}, {"lr": 0.5})),
    ("sweep-value-interp-quoted", ["tag='${task.n}',b"], pts({"tag": "3"}, {"tag": "b"})),
    (
        "sweep-range-interp-text",
        ["cfg.a=range(2)", "cfg.s=${task.cfg.a}x"],
        pts({"cfg.a": 0, "cfg.s": "0x"}, {"cfg.a": 1, "cfg.s": "1x"}),
    ),
    (
        "sweep-env-values",
        ["tag=${oc.env:NEMORUN_TABLE_VAR},b"],
        pts({"tag": "from-env"}, {"tag": "b"}),
    ),
    (
        "sweep-interp-in-dict-value",
        ["cfg.a=1,2", "cfg.m={k:${task.cfg.a}}"],
        pts({"cfg.a": 1, "cfg.m": {"k": 1}}, {"cfg.a": 2, "cfg.m": {"k": 2}}),
    ),
    (
        "sweep-interp-unchanged",
        ["n=1,2", "tag=${name}"],
        pts({"n": 1, "tag": "exp"}, {"n": 2, "tag": "exp"}),
    ),
    ("sweep-empty-choice", ["n=choice()"], Err("")),
    ("sweep-the-sweep", ["++sweep=0.1,0.2"], Err("'sweep' itself cannot be swept")),
]


def _expected(patch: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(BASE)
    for dotted, value in patch.items():
        *parents, last = dotted.split(".")
        node = out
        for part in parents:
            node = node[part]
        if value is DEL:
            del node[last]
        else:
            node[last] = value
    return out


def _job_outputs(spec_path: Path, overrides: list[str], tmp_path: Path) -> list[dict[str, Any]]:
    """Compile the entry point and run it once per point, each in its own interpreter."""
    spec = load(spec_path, overrides)
    entry = entry_point(spec)
    module = tmp_path / "entry.py"
    module.write_text(entry.source, encoding="utf-8")
    driver = textwrap.dedent(
        """
        import os, runpy, sys
        for point in range(int(sys.argv[2])):
            os.environ["NEMORUN_POINT"] = str(point)
            runpy.run_path(sys.argv[1], run_name="__main__")
        """
    )
    env = {**os.environ, **ENV, "PYTHONPATH": str(HERE)}
    env.pop("NEMORUN_TABLE_UNSET", None)
    done = subprocess.run(
        [sys.executable, "-c", driver, str(module), str(len(entry.points))],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_the_table_is_large_and_has_unique_names() -> None:
    names = [row[0] for row in ROWS]
    assert len(names) == len(set(names))
    assert len(ROWS) >= 150


@pytest.mark.parametrize(("overrides", "expected"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_override_row(
    overrides: list[str], expected: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ENV:  # compile never reads the environment: the job does
        monkeypatch.delenv(key, raising=False)
    spec_path = tmp_path / "exp.yaml"
    spec_path.write_text(SPEC.format(here=HERE), encoding="utf-8")
    if isinstance(expected, Err):
        with pytest.raises(SpecErrors) as info:
            entry_point(load(spec_path, overrides))
        messages = "\n".join(e.format() for e in info.value.errors)
        assert expected.text in messages
        assert "Traceback" not in messages and "QuotedString" not in messages
        return
    outputs = _job_outputs(spec_path, overrides, tmp_path)
    assert outputs == [_expected(patch) for patch in expected]
