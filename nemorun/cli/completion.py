"""``nemorun completion bash|zsh|fish``: the shell's completion script for nemorun.

Each script only hands the words on the line to ``__complete`` (`nemorun.cli.complete`) and
inserts what it answers, so the three shells offer the same things. The script runs nemorun as
this interpreter's ``-m nemorun.cli``: the TAB does not depend on ``PATH`` (a virtual
environment need not be active) and skips the console script's start-up; a script saved to a
file names this installation, so it is written again after moving it.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from nemorun import __version__
from nemorun.cli.common import EXIT_OK, Command, parser
from nemorun.cli.complete import SHELLS


def _build() -> argparse.ArgumentParser:
    p = parser(
        "completion",
        "Print the script that makes SHELL complete nemorun's commands, options, spec files, "
        "targets, runs and the override keys of the spec on the line (from its schema: the "
        "first TAB after a spec builds it in the background, later ones use it).\n\n"
        "examples:\n"
        '  eval "$(nemorun completion bash)"      # in ~/.bashrc\n'
        '  eval "$(nemorun completion zsh)"       # in ~/.zshrc, after compinit\n'
        "  nemorun completion fish > ~/.config/fish/completions/nemorun.fish",
    )
    p.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")
    return p


def _run(ns: argparse.Namespace) -> int:
    sys.stdout.write(script(ns.shell))
    return EXIT_OK


def script(shell: str) -> str:
    """The completion script for ``shell``, calling this installation's nemorun."""
    program = " ".join(shlex.quote(w) for w in (sys.executable, "-m", "nemorun.cli"))
    return SCRIPTS[shell].replace("@PROGRAM@", program).replace("@VERSION@", __version__)


BASH = r"""# nemorun @VERSION@ completion for bash: eval "$(nemorun completion bash)" in ~/.bashrc
_nemorun() {
    local line mode
    local -a reply=()
    while IFS= read -r line; do reply+=("$line"); done < <(
        @PROGRAM@ __complete bash "${COMP_WORDS[@]:1:COMP_CWORD-1}" "${COMP_WORDS[COMP_CWORD]}" \
            2>/dev/null
    )
    mode=${reply[0]-}
    COMPREPLY=("${reply[@]:1}")
    case $mode in
        files) compopt -o filenames 2>/dev/null ;;
        nospace) compopt -o nospace 2>/dev/null ;;
    esac
    return 0
}
complete -F _nemorun nemorun
"""

ZSH = r"""#compdef nemorun
# nemorun @VERSION@ completion for zsh: eval "$(nemorun completion zsh)" in ~/.zshrc (after
# compinit), or save it as _nemorun in a directory of $fpath.
_nemorun() {
    emulate -L zsh
    local mode
    local -a reply dirs files
    reply=("${(@f)$(@PROGRAM@ __complete zsh "${(@Q)words[2,CURRENT-1]}" "${(Q)PREFIX}" \
        2>/dev/null)}")
    mode=${reply[1]}
    reply=("${(@)reply[2,-1]}")
    case $mode in
        files)
            dirs=(${(M)reply:#*/}) files=(${reply:#*/})
            compadd -f -S '' -- "${(@)dirs}"
            compadd -f -- "${(@)files}" ;;
        nospace) compadd -S '' -- "${(@)reply}" ;;
        *) compadd -- "${(@)reply}" ;;
    esac
}
if [[ ${funcstack[1]-} == _nemorun ]]; then
    _nemorun "$@"
else
    compdef _nemorun nemorun
fi
"""

FISH = r"""# nemorun @VERSION@ completion for fish: save it with
#   nemorun completion fish > ~/.config/fish/completions/nemorun.fish
function __nemorun_complete
    set -l words (commandline -opc)
    set -e words[1]
    set -l reply (@PROGRAM@ __complete fish $words (commandline -ct) 2>/dev/null)
    string join \n -- $reply[2..-1]
end
complete -c nemorun -f -a '(__nemorun_complete)'
"""

SCRIPTS = {"bash": BASH, "zsh": ZSH, "fish": FISH}

COMMANDS: dict[str, Command] = {"completion": (_build, _run)}
