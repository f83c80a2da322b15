"""The command line described from its own parser: help texts, shell completion, man page.

Everything here reads the :mod:`argparse` parser :func:`calsync.cli.build_parser`
builds, so a new command or option shows up in ``--help``, in the bash, zsh
and fish completions (``calsync completion SHELL``) and in the man page
(``calsync man``, committed as ``docs/calsync.1``) without a second list to
keep in step.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator, Mapping

#: The exit codes, as README's table lists them (the man page's EXIT STATUS).
EXIT_CODES = [
    ("0", "success"),
    ("1", "other (a bug)"),
    ("2", "bad input: an unknown --source, --target or task name, a bad value, no answer"),
    ("3", "bad configuration"),
    ("4", "database problem (including a database written by a newer calsync)"),
    ("5", "calendar source problem"),
    ("6", "write-back target problem"),
    ("7", "interpreter (LLM) problem"),
    ("8", "memory store problem"),
    ("9", "web view problem (its address in use or unknown)"),
    ("10", "another calsync is already running with this state directory"),
    ("130", "interrupted"),
]


def subcommands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command parser, depth first, with its path (``("config", "check")``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield (*path, name), child
                yield from subcommands(child, (*path, name))


def leaves(
    parser: argparse.ArgumentParser,
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """The commands that run something (not groups such as ``config`` or ``auth``)."""
    for path, child in subcommands(parser):
        if not any(isinstance(a, argparse._SubParsersAction) for a in child._actions):
            yield path, child


class CommandHelpFormatter(argparse.HelpFormatter):
    """A command's ``--help``: its description wrapped to the terminal, the example as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("example:"):  # the epilog: a command line, never re-flowed
            return "".join(indent + line for line in text.splitlines(keepends=True))
        import textwrap

        # Words such as "did-you-mean" and option names stay whole.
        return textwrap.fill(
            " ".join(text.split()),
            width,
            initial_indent=indent,
            subsequent_indent=indent,
            break_on_hyphens=False,
            break_long_words=False,
        )


def document(parser: argparse.ArgumentParser, docs: Mapping[str, tuple[str, str]]) -> None:
    """Give every command its description and an example (``docs``: path → both)."""
    for path, child in subcommands(parser):
        description, example = docs.get(" ".join(path), ("", ""))
        child.description = description or None
        child.epilog = f"example:\n  {example}" if example else None
        child.formatter_class = CommandHelpFormatter


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if a.option_strings and not isinstance(a, argparse._HelpAction | argparse._VersionAction)
    ]


def _children(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _help(action: argparse.Action) -> str:
    return (action.help or "").replace("%(default)s", str(action.default))


def _summary(parser: argparse.ArgumentParser, name: str, parent: argparse.ArgumentParser) -> str:
    for action in parent._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.dest == name:
                    return choice.help or ""
    return parser.description or ""


# ------------------------------------------------------------------ completion


def completion(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for ``bash``, ``zsh`` or ``fish``."""
    if shell == "fish":
        return _fish(parser)
    script = _bash(parser)
    if shell == "zsh":
        return "autoload -U +X bashcompinit && bashcompinit\n" + script
    return script


def _words(parser: argparse.ArgumentParser) -> str:
    names = [s for a in _options(parser) for s in a.option_strings]
    return " ".join([*names, *_children(parser)])


def _bash(parser: argparse.ArgumentParser) -> str:
    prog = parser.prog
    cases = []
    for path, child in subcommands(parser):
        cases.append(f'        "{" ".join(path)}") words="{_words(child)}" ;;')
    choices = []
    for path, child in [((), parser), *subcommands(parser)]:
        for action in _options(child):
            if action.choices:
                for option in action.option_strings:
                    key = " ".join((*path, option))
                    values = " ".join(map(str, action.choices))
                    choices.append(f'        "{key}") words="{values}" ;;')
    body = "\n".join(cases)
    option_values = "\n".join(choices)
    return f"""# bash completion for {prog} (generated by `{prog} completion bash`)
_{prog}() {{
    local cur prev path="" word i
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${{COMP_WORDS[i]}}"
        [[ "$word" == -* ]] && continue
        if _{prog}_known "${{path:+$path }}$word"; then path="${{path:+$path }}$word"; fi
    done
    local words=""
    case "${{path:+$path }}$prev" in
{option_values}
    esac
    if [[ -z "$words" ]]; then
        case "$path" in
            "") words="{_words(parser)}" ;;
{body}
        esac
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
_{prog}_known() {{
    case "$1" in
{chr(10).join(f'        "{" ".join(path)}") return 0 ;;' for path, _ in subcommands(parser))}
    esac
    return 1
}}
complete -o default -F _{prog} {prog}
"""


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish(parser: argparse.ArgumentParser) -> str:
    prog = parser.prog
    lines = [f"# fish completion for {prog} (generated by `{prog} completion fish`)"]
    lines.append(f"complete -c {prog} -f")
    for action in _options(parser):
        lines.append(_fish_option(prog, action, None))
    for name, child in _children(parser).items():
        help_text = _summary(child, name, parser)
        lines.append(
            f"complete -c {prog} -n '__fish_use_subcommand' -a {name} -d {_fish_quote(help_text)}"
        )
    for path, child in subcommands(parser):
        condition = f"__fish_seen_subcommand_from {path[-1]}"
        if len(path) == 1:
            for name, grandchild in _children(child).items():
                help_text = _summary(grandchild, name, child)
                lines.append(
                    f"complete -c {prog} -n {_fish_quote(condition)} -a {name} "
                    f"-d {_fish_quote(help_text)}"
                )
        for action in _options(child):
            lines.append(_fish_option(prog, action, condition))
    return "\n".join(lines) + "\n"


def _fish_option(prog: str, action: argparse.Action, condition: str | None) -> str:
    parts = [f"complete -c {prog}"]
    if condition:
        parts.append(f"-n {_fish_quote(condition)}")
    for option in action.option_strings:
        parts.append(f"-l {option[2:]}" if option.startswith("--") else f"-s {option[1:]}")
    if action.choices:
        parts.append(f"-x -a {_fish_quote(' '.join(map(str, action.choices)))}")
    elif action.nargs != 0:
        parts.append("-r")
    parts.append(f"-d {_fish_quote(_help(action))}")
    return " ".join(parts)


# ------------------------------------------------------------------ man page


def _roff(text: str) -> str:
    """Text safe in roff: backslashes and a leading dot or quote escaped."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return re.sub(r"(?m)^([.'])", r"\\&\1", text)


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(parser.prog, width=78)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, "")
    return " ".join(formatter.format_help().split())


def _option_lines(parser: argparse.ArgumentParser) -> list[str]:
    lines = []
    for action in _options(parser):
        names = ", ".join(action.option_strings)
        if action.nargs != 0:
            metavar = action.metavar or (
                "{" + ",".join(map(str, action.choices)) + "}"
                if action.choices
                else action.dest.upper()
            )
            names += f" {metavar}"
        lines += [".TP", f"\\fB{_roff(names)}\\fR", _roff(_help(action))]
    return lines


def man_page(parser: argparse.ArgumentParser, version: str, environment: Mapping[str, str]) -> str:
    """The man page (roff, section 1): synopsis, every command, options, exit codes."""
    prog = parser.prog
    lines = [
        f'.TH {prog.upper()} 1 "" "{prog} {version}" "User Commands"',
        ".SH NAME",
        f"{prog} \\- {_roff(parser.description or '')}",
        ".SH SYNOPSIS",
        f".B {prog}",
        "[\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR]",
        ".SH GLOBAL OPTIONS",
        *_option_lines(parser),
        ".SH COMMANDS",
    ]
    for path, child in leaves(parser):
        lines += [
            f'.SS "{_roff(" ".join(path))}"',
            f"\\fB{_roff(_usage(child))}\\fR",
            ".PP",
            _roff(child.description or ""),
        ]
        lines += _option_lines(child)
        if child.epilog:
            example = child.epilog.removeprefix("example:").strip()
            lines += [".PP", "Example:", ".PP", ".RS", ".nf", _roff(example), ".fi", ".RE"]
    lines += [".SH ENVIRONMENT"]
    for name, text in environment.items():
        lines += [".TP", f"\\fB{name}\\fR", _roff(text)]
    lines += [".SH EXIT STATUS"]
    for code, text in EXIT_CODES:
        lines += [".TP", f"\\fB{code}\\fR", _roff(text)]
    lines += [".SH SEE ALSO", "README.md of the calsync source tree."]
    return "\n".join(lines) + "\n"
