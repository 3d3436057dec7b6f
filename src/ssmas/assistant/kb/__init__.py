"""The team's knowledge base: documents loaded with ``ssmas assistant kb load``, searched by the
live brain, answers cited.

The shipped publisher FAQ (``assistant/data/faq.json``) is always in it; every loaded file is
a source of its own (loading a file of the same name again replaces it; ``kb remove`` drops
one). ``load_files`` parses, then rebuilds and saves the whole index, so the brain reads one
file (``<data_dir>/assistant/kb/index.joblib``); ``knowledge_index`` returns that index, built
from the shipped FAQ alone when nothing was loaded yet.

Every rebuild bumps the knowledge base's version (``knowledge_version``: 0 for the shipped FAQ
alone), kept in ``version.json`` beside the index and written after it, so running workers can
tell a reload from the index they hold (``ssmas.assistant.brain_reload``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import joblib

from ssmas.assistant.kb.index import KbHit, KnowledgeIndex, kb_dir, read_index, save_index
from ssmas.assistant.kb.parse import SUFFIXES, KbError, Passage, parse_file
from ssmas.settings import Settings

SHIPPED_SOURCE = "faq.json"

__all__ = [
    "KbError",
    "KbHit",
    "KnowledgeIndex",
    "LoadReport",
    "Passage",
    "knowledge_index",
    "knowledge_version",
    "load_files",
    "loaded_sources",
    "remove_source",
    "shipped_passages",
]


@dataclass(frozen=True)
class LoadReport:
    files: dict[str, int]  # source -> passages
    total_passages: int
    embeddings: bool
    path: Path
    version: int = 0


def shipped_passages() -> list[Passage]:
    """The shipped FAQ, one passage per entry and language."""
    raw = resources.files("ssmas.assistant.data").joinpath("faq.json").read_text("utf-8")
    out: list[Passage] = []
    for entry in json.loads(raw)["entries"]:
        for language, answer in entry["answer"].items():
            questions = tuple(entry["questions"].get(language, ()))
            title = questions[0] if questions else entry["id"]
            out.append(Passage(answer, title, SHIPPED_SOURCE, entry["id"], language, questions))
    return out


def _sources_path(settings: Settings) -> Path:
    return kb_dir(settings.data_dir) / "sources.joblib"


def index_path(settings: Settings) -> Path:
    return kb_dir(settings.data_dir) / "index.joblib"


def _version_path(settings: Settings) -> Path:
    return kb_dir(settings.data_dir) / "version.json"


def knowledge_version(settings: Settings) -> int:
    """The version of the saved index: how many times it was rebuilt (0: never)."""
    try:
        data = json.loads(_version_path(settings).read_text(encoding="utf-8"))
        return int(data["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _bump_version(settings: Settings, passages: int) -> int:
    version = knowledge_version(settings) + 1
    path = _version_path(settings)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"version": version, "passages": passages}), encoding="utf-8")
    tmp.replace(path)
    return version


def loaded_sources(settings: Settings) -> dict[str, list[Passage]]:
    path = _sources_path(settings)
    if not path.is_file():
        return {}
    try:
        data = joblib.load(path)
    except Exception:
        return {}
    return data if isinstance(data, dict) else {}


def default_encoder() -> Any:
    """The encoder the NLU trains with (``minilm_encoder``), so passages and queries meet."""
    from ssmas.assistant.nlu.minilm import minilm_encoder

    return minilm_encoder()


def _rebuild(settings: Settings, sources: dict[str, list[Passage]], encoder: Any) -> Path:
    passages = shipped_passages() + [p for ps in sources.values() for p in ps]
    joblib.dump(sources, _sources_path(settings))
    path = save_index(KnowledgeIndex.build(passages, encoder), index_path(settings))
    _bump_version(settings, len(passages))
    return path


def _expand(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES)
            if not found:
                raise KbError(f"{path}: no {', '.join(SUFFIXES)} files in this folder")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise KbError(f"{path}: no such file")
    return files


def load_files(
    settings: Settings,
    paths: Sequence[Path],
    *,
    encoder: Any = "auto",
    progress: Callable[[str], None] | None = None,
) -> LoadReport:
    """Parse every file (folders: their supported files), then rebuild and save the index.
    Nothing is saved when any file fails (``KbError`` names it)."""
    say = progress or (lambda _m: None)
    files = _expand(paths)
    parsed: dict[str, list[Passage]] = {}
    for path in files:
        say(f"reading {path.name}")
        parsed[path.name] = parse_file(path)
    kb_dir(settings.data_dir).mkdir(parents=True, exist_ok=True)
    sources = loaded_sources(settings) | parsed
    say("indexing (BM25 + MiniLM)")
    enc = default_encoder() if encoder == "auto" else encoder
    path = _rebuild(settings, sources, enc)
    total = len(shipped_passages()) + sum(len(ps) for ps in sources.values())
    return LoadReport(
        {k: len(v) for k, v in parsed.items()},
        total,
        enc is not None,
        path,
        knowledge_version(settings),
    )


def remove_source(settings: Settings, source: str, *, encoder: Any = "auto") -> bool:
    sources = loaded_sources(settings)
    if source not in sources:
        return False
    del sources[source]
    _rebuild(settings, sources, default_encoder() if encoder == "auto" else encoder)
    return True


def knowledge_index(settings: Settings, encoder: Any = "auto") -> KnowledgeIndex:
    """The saved index, or one of the shipped FAQ alone when nothing was loaded."""
    index = read_index(index_path(settings))
    if index is not None:
        return index
    return KnowledgeIndex.build(
        shipped_passages(), default_encoder() if encoder == "auto" else encoder
    )
