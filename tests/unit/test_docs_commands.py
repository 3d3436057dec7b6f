"""The commands README.md, docs/*.md and the code's hints tell a reader to run exist.

Every ``ssmas ...`` line in a fenced block or an inline code span (and every
``<code>ssmas ...</code>`` hint of a dashboard template, every `ssmas ...` span of a message or
docstring in ``src/ssmas``) must name a real command or sub-command whose ``--help`` answers,
with options that command has and no more arguments than it takes. The quick read-only ones a
doc names (``ssmas version``, ``ssmas db current``, ``ssmas keys list``) are run on a temporary
data directory. Doc grammar understood: ``[...]`` optional parts, ``UPPER`` / ``"TEXT"``
placeholders, ``...`` for "any sub-command", a trailing ``\\`` continuing the line, two spaces
or ``#`` starting a description.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from ssmas import __version__
from ssmas.cli import app
from ssmas.settings import Settings, use_settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TEMPLATES = sorted((ROOT / "src" / "ssmas").glob("*/templates/*.html"))
SOURCES = sorted((ROOT / "src" / "ssmas").rglob("*.py"))  # error messages, docstrings
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
CONTINUED = re.compile(r"\s*\\\n\s*")
HINT = re.compile(r"<code>([^<]+)</code>")
SEPARATOR = re.compile(r"\s(?:&&|\|\||;|\|)\s|\s#|\s{2,}")
# Run for real on a scratch data directory: quick, and they change nothing outside it.
RUNNABLE = (("db", "upgrade"), ("db", "current"), ("keys", "list"), ("version",))


def code_snippets(text: str) -> list[str]:
    """Every line of every fenced block, then every inline code span outside the blocks."""
    blocks = [CONTINUED.sub(" ", block) for block in FENCE.findall(text)]
    snippets = [line for block in blocks for line in block.splitlines()]
    return snippets + INLINE.findall(FENCE.sub("", text))


def doc_commands(program: str) -> list[tuple[str, str]]:
    """``(where, command line)`` for each snippet that runs ``program`` (``make``, ``ssmas``)."""
    start = re.compile(rf"(?:^|(?<=[\s;&|(])|(?<=\.venv/bin/)){re.escape(program)}(?=\s|$)")
    sources = [(doc.name, code_snippets(doc.read_text())) for doc in DOCS]
    if program == "ssmas":
        sources += [(t.name, HINT.findall(t.read_text())) for t in TEMPLATES]
        sources += [(str(p.relative_to(ROOT)), INLINE.findall(p.read_text())) for p in SOURCES]
    found = []
    for where, snippets in sources:
        for snippet in snippets:
            for match in start.finditer(snippet):
                command = SEPARATOR.split(snippet[match.start() :] + " ", maxsplit=1)[0]
                found.append((where, command.strip()))
    return found


def make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w.-]*)\s*:(?!=)", makefile, re.M))


def test_the_docs_name_make_targets() -> None:
    # The two commands of the README at least.
    assert {command for _doc, command in doc_commands("make")} >= {"make demo", "make test"}


@pytest.mark.parametrize(("doc", "command"), doc_commands("make"))
def test_every_make_target_a_doc_names_exists(doc: str, command: str) -> None:
    target = command.split()[1] if len(command.split()) > 1 else "all"
    assert target in make_targets(), f"{doc}: `{command}` but the Makefile has no {target!r}"


# Typer ships its own copy of Click, so commands and parameters are read by their attributes.
def _is_group(command: Any) -> bool:
    return callable(getattr(command, "get_command", None))


def _option_names(command: Any) -> dict[str, Any]:
    names: dict[str, Any] = {"--help": None}
    for param in command.params:
        if param.param_type_name == "option":
            for name in [*param.opts, *param.secondary_opts]:
                names[name] = param
    return names


def _takes_value(param: Any) -> bool:
    return param is not None and not (param.is_flag or param.count)


def resolve(line: str) -> tuple[list[str], str | None]:
    """``(command path, problem)`` for a doc's ``ssmas ...`` line; ``problem`` None when valid."""
    tokens = [t.strip("[]") for t in shlex.split(line)[1:]]
    tokens = [t for t in tokens if t]
    command: Any = typer.main.get_command(app)
    ctx = command.context_class(command, info_name="ssmas")
    path: list[str] = []
    while tokens and _is_group(command) and not tokens[0].startswith("-"):
        if tokens[0] in ("...", "…"):
            return path, None
        sub = command.get_command(ctx, tokens[0])
        if sub is None:
            if any(p.param_type_name == "argument" for p in command.params):
                break  # ``ssmas worker PRODUCT``: the group takes the argument itself
            return path, f"`ssmas {' '.join(path)}` has no command {tokens[0]!r}"
        path.append(tokens.pop(0))
        ctx = sub.context_class(sub, info_name=path[-1], parent=ctx)
        command = sub
    where = " ".join(["ssmas", *path])
    options = _option_names(command)
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    capacity = sum(float("inf") if p.nargs < 0 else p.nargs for p in arguments)
    positional = 0
    while tokens:
        token = tokens.pop(0)
        if token.startswith("-") and len(token) > 1:
            for name in token.split("=", 1)[0].split("/"):
                if name not in options:
                    return path, f"`{where}` has no option {name}"
            if "=" not in token and "/" not in token and _takes_value(options[token]) and tokens:
                tokens.pop(0)
        elif token not in ("...", "…"):
            positional += 1
    if positional > capacity:
        return path, f"`{where}` takes {capacity:g} arguments, the doc gives {positional}"
    return path, None


SSMAS_LINES = doc_commands("ssmas")
# Each distinct line once, with the first place that names it.
DISTINCT = list({line: (where, line) for where, line in reversed(SSMAS_LINES)}.values())[::-1]


def test_the_docs_name_ssmas_commands() -> None:
    named = {command for _where, command in SSMAS_LINES}
    assert {"ssmas up", "ssmas demo", "ssmas db upgrade", "ssmas keys list"} <= named
    assert any(w.endswith(".html") for w, _ in SSMAS_LINES)  # the dashboard's hints too


@pytest.mark.parametrize(("where", "line"), DISTINCT, ids=[line for _w, line in DISTINCT])
def test_every_ssmas_command_a_doc_names_exists(where: str, line: str) -> None:
    path, problem = resolve(line)
    assert problem is None, f"{where}: `{line}`: {problem}"
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, f"{where}: `{line}`: {result.output}"
    assert "Usage" in result.output


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("ssmas pricing simulate-floor", "no command 'simulate-floor'"),
        ("ssmas pricing train --days 3", "no option --days"),
        ("ssmas keys revoke A B", "takes 1 arguments"),
        ("ssmas db upgrade|current", "no command 'upgrade|current'"),
    ],
)
def test_the_checker_catches_what_does_not_exist(line: str, problem: str) -> None:
    found = resolve(line)[1]
    assert found is not None and problem in found


def test_the_quick_read_only_commands_the_docs_name_run(tmp_path: Path) -> None:
    named = {tuple(resolve(line)[0]) for _where, line in SSMAS_LINES}
    outputs = {}
    with use_settings(Settings(data_dir=tmp_path / "data", profile="test")):
        for command in RUNNABLE:
            if command not in named:
                continue
            result = CliRunner().invoke(app, list(command))
            assert result.exit_code == 0, (command, result.output)
            outputs[command] = result.output
    assert set(outputs) == set(RUNNABLE), f"the docs no longer name {set(RUNNABLE) - set(outputs)}"
    assert outputs[("version",)].strip() == __version__
    assert re.search(r"\d{4}_\w+", outputs[("db", "current")])
    assert "API keys" in outputs[("keys", "list")]
