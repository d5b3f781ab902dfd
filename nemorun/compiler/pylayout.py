"""The layout of the Python export's code: one argument per line, each with its provenance
comment; short comment-free calls, lists and dicts on one line.

It works on the libcst tree of Fiddle's generated code (`Layout`, a transformer), and also
writes back the keyword arguments that are not Python identifiers, renamed before codegen, as
``**{'a-b': …}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import libcst as cst

INDENT = "    "
ONE_LINE_LIMIT = 72


_Bracketed = cst.List | cst.Tuple | cst.Set | cst.Dict


class Layout(cst.CSTTransformer):
    """One argument per line with its provenance comment; short comment-free calls inline.

    Lists, tuples, sets and dicts stay on one line unless an item spans lines (a config) or the
    line would be long; then each item gets its own line, like the arguments of a call.
    """

    def __init__(self, renamed: dict[str, str] | None = None) -> None:
        self.depth = 0
        self.renamed = renamed or {}

    def _enter(self, node: cst.CSTNode) -> bool:
        self.depth += 1
        return True

    visit_Call = visit_List = visit_Tuple = visit_Set = visit_Dict = _enter

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        depth = self.depth
        self.depth -= 1
        updated = updated.with_changes(
            args=[_keyword_arg(arg, self.renamed) for arg in updated.args]
        )
        comments = [_comment_of(arg) for arg in updated.args]
        inline = _inline(updated)
        if not any(comments) and _fits(inline):
            return inline
        args = [
            arg.with_changes(
                comma=_line_end(depth, i == len(updated.args) - 1, comment),
                whitespace_after_arg=cst.SimpleWhitespace(""),
            )
            for i, (arg, comment) in enumerate(zip(updated.args, comments))
        ]
        return updated.with_changes(args=args, whitespace_before_args=_line_start(depth))

    def _leave_bracketed(self, original: _Bracketed, updated: _Bracketed) -> cst.BaseExpression:
        depth = self.depth
        self.depth -= 1
        elements: Sequence[Any] = updated.elements
        if not elements or _fits(updated):
            return updated
        exploded = [
            element.with_changes(comma=_line_end(depth, i == len(elements) - 1))
            for i, element in enumerate(elements)
        ]
        if isinstance(updated, cst.List):
            opener: Any = {"lbracket": cst.LeftSquareBracket(whitespace_after=_line_start(depth))}
        elif isinstance(updated, cst.Tuple):
            opener = {"lpar": [cst.LeftParen(whitespace_after=_line_start(depth))]}
        else:
            opener = {"lbrace": cst.LeftCurlyBrace(whitespace_after=_line_start(depth))}
        return updated.with_changes(elements=exploded, **opener)

    def leave_List(self, original: cst.List, updated: cst.List) -> cst.BaseExpression:
        return self._leave_bracketed(original, updated)

    def leave_Tuple(self, original: cst.Tuple, updated: cst.Tuple) -> cst.BaseExpression:
        return self._leave_bracketed(original, updated)

    def leave_Set(self, original: cst.Set, updated: cst.Set) -> cst.BaseExpression:
        return self._leave_bracketed(original, updated)

    def leave_Dict(self, original: cst.Dict, updated: cst.Dict) -> cst.BaseExpression:
        return self._leave_bracketed(original, updated)


def _fits(node: cst.CSTNode) -> bool:
    """True when ``node`` is one short line."""
    text = cst.Module(body=[]).code_for_node(node)
    return "\n" not in text and len(text) <= ONE_LINE_LIMIT


def _line_start(depth: int) -> cst.ParenthesizedWhitespace:
    return cst.ParenthesizedWhitespace(
        first_line=cst.TrailingWhitespace(),
        indent=True,
        last_line=cst.SimpleWhitespace(INDENT * depth),
    )


def _line_end(depth: int, last: bool, comment: str | None = None) -> cst.Comma:
    """The comma after an item, the item's comment, and the next line's indentation."""
    return cst.Comma(
        whitespace_before=cst.SimpleWhitespace(""),
        whitespace_after=cst.ParenthesizedWhitespace(
            first_line=cst.TrailingWhitespace(
                whitespace=cst.SimpleWhitespace("  " if comment else ""),
                comment=cst.Comment(comment) if comment else None,
            ),
            indent=True,
            last_line=cst.SimpleWhitespace(INDENT * (depth - 1 if last else depth)),
        ),
    )


def _comment_of(arg: cst.Arg) -> str | None:
    comma = arg.comma if isinstance(arg.comma, cst.Comma) else None
    for ws in (arg.whitespace_after_arg, comma.whitespace_after if comma else None):
        if isinstance(ws, cst.ParenthesizedWhitespace) and ws.first_line.comment is not None:
            return ws.first_line.comment.value
    return None


def _keyword_arg(arg: cst.Arg, renamed: dict[str, str]) -> cst.Arg:
    if arg.keyword is None or arg.keyword.value not in renamed:
        return arg
    name = renamed[arg.keyword.value]
    return arg.with_changes(
        keyword=None,
        equal=cst.MaybeSentinel.DEFAULT,
        star="**",
        value=cst.Dict([cst.DictElement(cst.SimpleString(repr(name)), arg.value)]),
    )


def _inline(call: cst.Call) -> cst.Call:
    args = []
    for i, arg in enumerate(call.args):
        last = i == len(call.args) - 1
        comma: Any = (
            cst.MaybeSentinel.DEFAULT
            if last
            else cst.Comma(
                whitespace_before=cst.SimpleWhitespace(""),
                whitespace_after=cst.SimpleWhitespace(" "),
            )
        )
        args.append(arg.with_changes(comma=comma, whitespace_after_arg=cst.SimpleWhitespace("")))
    return call.with_changes(args=args, whitespace_before_args=cst.SimpleWhitespace(""))
