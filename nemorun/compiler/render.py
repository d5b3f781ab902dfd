"""Jinja rendering of target artifacts: one environment, two quoting filters, heredoc delimiters.

Templates live in ``nemorun/templates/`` (one per artifact: ``local.sh.j2``,
``slurm.sbatch.j2``); a user directory, when given, is searched first, so a team can replace a
template and keep the same typed context (`nemorun.compiler.job.Job`).

Rules that keep the output safe and reproducible:
- ``StrictUndefined``: a misspelt variable is an error, never an empty string.
- Every value that reaches a shell goes through ``q`` (`shell_quote`, i.e. `shlex.quote`); a
  ``None`` there is a template bug and raises rather than printing ``None``.
- ``#SBATCH`` lines are read by sbatch's own parser, not by the shell: it takes shell-style
  quotes but also treats ``\\`` as an escape inside them, so they get ``sbatch_quote`` instead.
- The entry Python is embedded in a quoted heredoc whose delimiter (`heredoc_delimiter`) is
  proven not to occur as a line of the text.
- Templates render in Jinja's sandbox, nemorun's and the user's alike: a template can read the
  typed context and call the filters, never reach Python's internals (``__class__``, …) to
  run code while compiling. A template's own mistake is a located `SpecError`.

jinja2 is imported here only. Compiled templates are cached (`bytecode_cache`): only ever a
saving of time, a cache that is corrupted, unwritable or not private is passed over.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shlex
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nemorun.compiler.torchrun import Var, Word
from nemorun.runtime import env_default
from nemorun.schemas.convert import ENV_REF, EnvRef

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def shell_quote(value: Any) -> str:
    """``value`` as one shell word (numbers and paths as their text).

    An `EnvRef` (``${oc.env:VAR,default}`` in an env value) becomes the shell's own expansion,
    ``${VAR-'default'}``, so it is read where the job runs, like every environment reference.
    A `Var` becomes ``"$NAME"``, a `Word` its literal parts quoted and its variables expanded,
    in one word (``--rdzv-endpoint="$HEAD":29500``).
    """
    if isinstance(value, EnvRef):
        return _expansion(value.template)
    if isinstance(value, Var):
        return f'"${value.name}"'
    if isinstance(value, Word):
        text = "".join(shell_quote(part) for part in value.parts if part != "")
        return text or "''"
    if value is None or isinstance(value, (dict, list, tuple, set)):
        raise TypeError(f"not a shell value: {value!r}")
    if isinstance(value, bool):
        value = "true" if value else "false"
    return shlex.quote(str(value))


def _expansion(template: str) -> str:
    words: list[str] = []
    end = 0
    for match in ENV_REF.finditer(template):
        if match.start() > end:
            words.append(shlex.quote(template[end : match.start()]))
        name, default = match.group(1).strip(), match.group(2)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"not an environment variable name: {name!r}")
        # Unquoted on purpose: inside double quotes bash would keep the default's quotes.
        words.append(
            f'"${{{name}}}"'
            if default is None
            else f"${{{name}-{shlex.quote(env_default(default))}}}"
        )
        end = match.end()
    if end < len(template):
        words.append(shlex.quote(template[end:]))
    return "".join(words) or "''"


def pythonpath_export(directories: Sequence[str | Word]) -> str:
    """The shell line that gives the job its code directories, the same on every target.

    The spec's ``pythonpath`` directories (as the job sees them) come first, then whatever
    ``PYTHONPATH`` the job's environment already has at that point: an ``executor.env`` value
    when the spec sets one, else the one the job inherits (the submitting shell's, the
    image's). Nothing is replaced, so ``env: {PYTHONPATH: …}`` adds to the code, never hides it.
    """
    joined = ":".join(shell_quote(directory) for directory in directories)
    return f'export PYTHONPATH={joined}"${{PYTHONPATH:+:$PYTHONPATH}}"'


def sbatch_quote(value: Any) -> str:
    """``value`` as one word of an ``#SBATCH`` line (sbatch's parser, not bash's)."""
    text = str(value)
    if any(ch in text for ch in "\n\r\0"):
        raise ValueError(f"an #SBATCH value cannot hold a line break: {text!r}")
    return shell_quote(text).replace("\\", "\\\\")


def heredoc_delimiter(text: str, base: str = "NEMORUN_ENTRY") -> str:
    """A heredoc delimiter that is no line of ``text`` (``base``, else ``base_1``, …)."""
    lines = set(text.splitlines())
    delimiter, n = base, 0
    while delimiter in lines:
        n += 1
        delimiter = f"{base}_{n}"
    return delimiter


def comment(value: Any) -> str:
    """``value`` safe inside a one-line ``#`` comment: control characters escaped."""
    text = str(value)
    if text.isprintable():  # the common case, at C speed (a sweep's 100,000 descriptions)
        return text
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


def yaml_value(value: Any, block: bool = False) -> str:
    """``value`` as one YAML value (SkyPilot's task YAML), written by PyYAML's own emitter.

    Strings are double-quoted on one line, every character escaped as YAML needs; with
    ``block=True`` a multi-line string of printable characters becomes a literal block (``|``,
    indented two spaces: for top-level keys only), unless PyYAML finds it cannot be one.
    Numbers and booleans are plain, lists are flow sequences. An `EnvRef` or None raises:
    environment references are for shell values, and a None is a template bug.
    """
    if value is None or isinstance(value, (EnvRef, dict, set)):
        raise TypeError(f"not a YAML value here: {value!r}")
    if isinstance(value, str) and _QUOTED_AS_IS.fullmatch(value):
        return f'"{value}"'  # what the emitter writes for these, without it (a sweep's names)
    if isinstance(value, str):  # the same entrypoint or script in every document of a sweep
        return _dumped_text(value, block)
    return _dumped(value, block)


# Printable ASCII but the two characters a double-quoted YAML scalar escapes: PyYAML writes
# such a string between quotes as it is (a test holds the two side by side).
_QUOTED_AS_IS = re.compile(r"[ !#-\[\]-~]*")


def _dumped(value: Any, block: bool) -> str:
    """`yaml_value` by PyYAML's emitter."""
    import yaml

    text = yaml.dump(
        value, Dumper=_yaml_dumper(block), allow_unicode=True, width=2**31, default_flow_style=True
    )
    if text.endswith("\n...\n"):  # the end of a top-level plain or kept-newline scalar
        text = text[:-4]
    return text.removesuffix("\n")


@functools.lru_cache(maxsize=256)
def _dumped_text(value: str, block: bool) -> str:
    return _dumped(value, block)


@functools.cache
def _yaml_dumper(block: bool) -> Any:
    import yaml

    def scalar(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
        literal = block and "\n" in data and all(ch == "\n" or ch.isprintable() for ch in data)
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if literal else '"')

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(str, scalar)
    return Dumper


def environment(user_dir: Path | None = None, target_dir: Path | None = None) -> Any:
    """The Jinja environment: the user's template directory first, then the target's own (a
    plugin's), then nemorun's."""
    import jinja2

    if user_dir is not None and not user_dir.is_dir():
        from nemorun.errors import SpecError

        raise SpecError(
            f"no such template directory: {user_dir}",
            suggestion="give --templates a directory holding your .j2 templates",
        )
    from jinja2.sandbox import SandboxedEnvironment

    search = [str(d) for d in (user_dir, target_dir) if d is not None]
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader([*search, str(TEMPLATES)]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=bytecode_cache(),
    )
    env.filters["q"] = shell_quote
    env.filters["sbatch"] = sbatch_quote
    env.filters["comment"] = comment
    env.filters["yaml"] = yaml_value
    env.filters["pythonpath"] = pythonpath_export
    return env


def cache_dir() -> Path:
    """Where compiled templates are kept: ``$XDG_CACHE_HOME/nemorun/templates-VERSIONS`` (else
    under ``~/.cache``), one directory per nemorun and Jinja version. Jinja checks each entry
    against its template's source, so an edited template is compiled again."""
    import jinja2

    from nemorun import __version__

    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "nemorun" / f"templates-{__version__}-jinja{jinja2.__version__}"


@functools.cache
def bytecode_cache() -> Any:
    """Jinja's file bytecode cache in `cache_dir`, or None when that cannot be a private
    directory of this user (created 0700; one that others can write, or that is a link, is
    not used: its code would run here)."""
    from jinja2 import FileSystemBytecodeCache

    class QuietCache(FileSystemBytecodeCache):
        """Reads and writes that fail are skipped: the template is compiled as without cache."""

        def load_bytecode(self, bucket: Any) -> None:
            try:
                super().load_bytecode(bucket)
            except Exception:
                bucket.reset()

        def dump_bytecode(self, bucket: Any) -> None:
            with contextlib.suppress(Exception):
                super().dump_bytecode(bucket)

    directory = cache_dir()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(directory)
    except OSError:
        return None
    private = stat.S_ISDIR(info.st_mode) and not info.st_mode & 0o077
    if not private or info.st_uid != os.getuid():
        return None
    return QuietCache(str(directory))


def render(name: str, context: dict[str, Any], user_dir: Path | None = None) -> str:
    """Render template ``name`` with ``context``."""
    return render_template(load_template(name, user_dir), context)


def load_template(name: str, user_dir: Path | None = None, target_dir: Path | None = None) -> Any:
    """Template ``name``, the user's directory first, then ``target_dir`` (see `environment`);
    a broken template is a `SpecError`."""
    import jinja2

    try:
        return environment(user_dir, target_dir).get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise _template_error(exc, exc.filename or name, exc.lineno) from None
    except jinja2.TemplateError as exc:
        raise _template_error(exc, name, None) from None


def render_template(template: Any, context: dict[str, Any]) -> str:
    """``template`` rendered; what it does wrong (an unknown name, an unsafe attribute in the
    sandbox, an error it raises) is a `SpecError` naming the template and its line."""
    import jinja2

    try:
        return str(template.render(**context))
    except jinja2.TemplateError as exc:
        raise _template_error(
            exc, template.filename or template.name, _line(exc, template.filename)
        ) from None
    except (TypeError, ValueError) as exc:  # a filter refused a value (`shell_quote`, …)
        if template.filename and Path(template.filename).parent == TEMPLATES:
            raise  # nemorun's own template: a bug, not the user's mistake
        raise _template_error(
            exc, template.filename or template.name, _line(exc, template.filename)
        ) from None


def _line(exc: BaseException, filename: str | None) -> int | None:
    """The template line a Jinja runtime error was raised at (Jinja rewrites the traceback so
    that the template's frames carry its file name and line)."""
    tb, line = exc.__traceback__, None
    while tb is not None:
        if filename and tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _template_error(exc: BaseException, filename: str, line: int | None) -> Any:
    from nemorun.errors import Origin, SpecError

    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return SpecError(
        f"template error: {message}",
        origin=Origin(file=filename, line=line),
        suggestion="templates see 'job' and 'target' and nemorun's filters (q, sbatch, comment, "
        "yaml); they run in Jinja's sandbox",
    )
