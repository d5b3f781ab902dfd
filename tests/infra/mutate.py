"""A small mutation tester: which single-point changes to a module do the given tests miss?

    python tests/infra/mutate.py nemorun/compiler/targets/slurm.py --report out.jsonl \\
        -- tests/compiler/test_slurm_injection.py -k hostile_value

Each mutant changes one node of the module's syntax tree (a comparison or boolean operator
flipped, a condition negated, a ``not`` dropped, a number or string changed, a statement
replaced by ``pass``), is written into a copy of the checkout (never this one) and the pytest
arguments after ``--`` run against it with ``-x``: a failing run kills the mutant. The module
is written back by ``ast.unparse``, so the unmutated module is unparsed and tested first.
Docstrings, annotations, imports, the literal text of f-strings and the members of set
literals (lists of names such as sbatch's options) are left alone. ``--only FILE`` re-runs
only the survivors in an earlier report. (mutmut needs click>=8.4.2, which SkyPilot's pin
click<8.2 keeps out of the venv.)
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLIPS: dict[type, type] = {
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE,
    ast.LtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot,
    ast.IsNot: ast.Is, ast.And: ast.Or, ast.Or: ast.And, ast.Add: ast.Sub, ast.Sub: ast.Add,
}  # fmt: skip


def skipped(tree: ast.Module) -> set[int]:
    """ids of nodes never mutated: docstrings, annotations, imports, set members."""
    out: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        for statement in body if isinstance(body, list) else ():
            text = isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
            if text and isinstance(statement.value.value, str):  # docstrings, of attributes too
                out |= {id(n) for n in ast.walk(statement)}
        parts: list[ast.AST] = []
        if isinstance(node, (ast.AnnAssign, ast.arg)) and node.annotation is not None:
            parts.append(node.annotation)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns:
            parts.append(node.returns)
        if isinstance(node, ast.JoinedStr):  # the literal text of f-strings: messages
            parts.extend(v for v in node.values if isinstance(v, ast.Constant))
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.Set, ast.If)):
            is_typing = isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            if not isinstance(node, ast.If) or is_typing:
                parts.append(node)
        for part in parts:
            out |= {id(n) for n in ast.walk(part)}
    return out


def mutations(node: ast.AST) -> Iterator[tuple[str, ast.AST]]:
    """(description, replacement) for one node."""
    if isinstance(node, (ast.Compare, ast.BoolOp, ast.BinOp)):
        ops = node.ops if isinstance(node, ast.Compare) else [node.op]
        for i, op in enumerate(ops):
            if type(op) in FLIPS:
                new = copy.deepcopy(node)
                flipped = FLIPS[type(op)]()
                if isinstance(new, ast.Compare):
                    new.ops[i] = flipped
                else:
                    new.op = flipped  # type: ignore[assignment]
                yield f"{type(op).__name__} -> {type(flipped).__name__}", new
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "drop not", node.operand
    if isinstance(node, (ast.If, ast.While, ast.IfExp)):
        new = copy.deepcopy(node)
        new.test = ast.UnaryOp(ast.Not(), node.test)
        yield "negate condition", new
    if isinstance(node, ast.Constant) and not isinstance(node.value, bool):
        if isinstance(node.value, int):
            yield f"{node.value} -> {node.value + 1}", ast.Constant(node.value + 1)
        elif isinstance(node.value, str) and node.value:
            yield f"{node.value[:30]!r} -> 'XX…'", ast.Constant("XX" + node.value)
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield f"{node.value} -> {not node.value}", ast.Constant(not node.value)
    if isinstance(node, (ast.Expr, ast.Assign, ast.AugAssign, ast.Return, ast.Raise)):
        yield "statement -> pass", ast.Pass()


def mutants(source: str) -> Iterator[tuple[int, str, str]]:
    """(line, description, mutated source) for every mutant of ``source``."""
    tree = ast.parse(source)
    never = skipped(tree)
    targets = [n for n in ast.walk(tree) if id(n) not in never]
    for index, node in enumerate(targets):
        for what, replacement in mutations(node):
            mutated = ast.parse(source)
            left_alone = skipped(mutated)
            original = [n for n in ast.walk(mutated) if id(n) not in left_alone][index]
            Replace(original, replacement).visit(mutated)
            ast.fix_missing_locations(mutated)
            yield getattr(node, "lineno", 0), what, ast.unparse(mutated)


class Replace(ast.NodeTransformer):
    def __init__(self, old: ast.AST, new: ast.AST) -> None:
        self.old, self.new = old, new

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if node is self.old:
            return ast.copy_location(self.new, node) if hasattr(node, "lineno") else self.new
        return super().generic_visit(node)


def run_tests(copy_root: Path, module: Path, text: str, pytest_args: list[str]) -> bool:
    """True if the tests fail (the mutant is killed). They run in a child forked from this
    process, which has imported pytest and nemorun once: the child swaps the mutated code into
    the loaded module (and the file, for tests that start nemorun as a process)."""
    (copy_root / module).write_text(text, encoding="utf-8")
    shutil.rmtree(copy_root / module.parent / "__pycache__", ignore_errors=True)
    pid = os.fork()
    if pid == 0:  # the child
        code = 3
        try:
            loaded = importlib.import_module(".".join(module.with_suffix("").parts))
            exec(compile(text, str(copy_root / module), "exec"), loaded.__dict__)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            code = int(pytest.main(["-x", "-q", "--tb=no", "-p", "no:cacheprovider", *pytest_args]))
        finally:
            os._exit(code)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) != 0
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("module", type=Path)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--only", type=Path, help="re-run the survivors of this report")
    parser.add_argument("--no-strings", action="store_true", help="leave string constants alone")
    parser.add_argument("--shard", default="0/1", help="I/N: every Nth mutant from the Ith")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args, pytest_args = parser.parse_args(argv[:cut]), argv[cut + 1 :]
    source = (ROOT / args.module).read_text(encoding="utf-8")
    keep = None
    if args.only is not None:
        rows = [json.loads(line) for line in args.only.read_text().splitlines()]
        keep = {(r["line"], r["what"], r["n"]) for r in rows if not r["killed"]}
    with tempfile.TemporaryDirectory(prefix="mutate-") as tmp:
        copy_root = Path(tmp) / "checkout"
        files = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
            text=True, check=True,
        ).stdout.split()  # fmt: skip
        for name in files:
            if (ROOT / name).is_file():
                (copy_root / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, copy_root / name)
        os.chdir(copy_root)
        sys.path.insert(0, str(copy_root))
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
        importlib.import_module("nemorun.cli")  # what every child would import again
        if run_tests(copy_root, args.module, ast.unparse(ast.parse(source)), pytest_args):
            print("the tests fail on the unmutated module: fix that first", file=sys.stderr)
            return 1
        killed = total = 0
        with args.report.open("w", encoding="utf-8") as report:
            shard, shards = (int(x) for x in args.shard.split("/"))
            for n, (line, what, text) in enumerate(mutants(source)):
                if keep is not None and (line, what, n) not in keep:
                    continue
                if n % shards != shard or (args.no_strings and "'XX…'" in what):
                    continue
                dead = run_tests(copy_root, args.module, text, pytest_args)
                total, killed = total + 1, killed + dead
                row = {"n": n, "line": line, "what": what, "killed": dead}
                report.write(json.dumps(row) + "\n")
                report.flush()
                print(f"{'killed  ' if dead else 'SURVIVED'} {args.module}:{line} {what}")
    print(f"{total} mutants, {killed} killed, {total - killed} survived")
    return 0


if __name__ == "__main__":
    sys.exit(main())
