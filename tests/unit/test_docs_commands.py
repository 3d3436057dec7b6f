"""The commands the README and docs/*.md tell a reader to run exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")


def code_snippets(text: str) -> list[str]:
    """Every line of every fenced block, then every inline code span outside the blocks."""
    snippets = [line for block in FENCE.findall(text) for line in block.splitlines()]
    return snippets + INLINE.findall(FENCE.sub("", text))


def doc_commands(program: str) -> list[tuple[str, str]]:
    """``(doc file, command line)`` for each snippet that runs ``program`` (``make``, ``ssmas``)."""
    start = re.compile(rf"(?:^|[\s;&|(]|\.venv/bin/){re.escape(program)}(\s|$)")
    found = []
    for doc in DOCS:
        for snippet in code_snippets(doc.read_text()):
            match = start.search(snippet)
            if match:
                command = snippet[match.start() :].strip(" ;&|(")
                command = command.removeprefix(".venv/bin/")
                found.append((doc.name, command.split("#", 1)[0].strip()))
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
