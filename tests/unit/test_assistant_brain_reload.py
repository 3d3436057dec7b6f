"""``HotBrain`` swaps only between rounds; ``BrainReloader`` follows the champion and the
knowledge base's version, and keeps answering when a load fails."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ssmas.assistant.brain import EscalationCall, Understanding
from ssmas.assistant.brain_reload import BRAIN_INFO, BrainReloader, BrainVersion, HotBrain
from ssmas.assistant.context import ContextWindow
from ssmas.assistant.kb import knowledge_version, load_files
from ssmas.core.registry.model_version import ModelVersionInfo
from ssmas.settings import Settings


class Tagged:
    """A brain that signs its replies, and records whether it was closed."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.nlu = f"nlu-{tag}"
        self.kb = f"kb-{tag}"
        self.prepared: list[list[tuple[str, str | None]]] = []
        self.closed = False

    def prepare(self, items: list[tuple[str, str | None]]) -> None:
        self.prepared.append(items)

    def understand(self, text: str, hint_language: str | None) -> Understanding:
        return Understanding("es", f"intent-{self.tag}", 0.9)

    def judge(self, text: str, u: Understanding, window: ContextWindow) -> EscalationCall:
        return EscalationCall(False, 0)

    def reply(self, text: str, u: Understanding, window: ContextWindow) -> str:
        return f"{self.tag}: {u.intent}"

    def close(self) -> None:
        self.closed = True


def _window() -> ContextWindow:
    return ContextWindow(1, 1, "bot")


def test_an_offer_made_mid_round_waits_for_the_next_round() -> None:
    old, new = Tagged("v1"), Tagged("v2")
    hot = HotBrain(old, BrainVersion(1, 0))
    hot.prepare([("hola", None)])
    u = hot.understand("hola", None)
    hot.offer(new, BrainVersion(2, 0))  # the reloader's thread, while a message is handled
    assert hot.reply("hola", u, _window()) == "v1: intent-v1"  # one message, one brain
    assert hot.version == BrainVersion(1, 0) and hot.next_version == BrainVersion(2, 0)
    assert hot.next_parts() == ("nlu-v2", "kb-v2")
    hot.prepare([("gracias", "es")])  # the next round
    assert hot.reply("gracias", hot.understand("gracias", "es"), _window()) == "v2: intent-v2"
    assert new.prepared == [[("gracias", "es")]] and old.prepared == [[("hola", None)]]
    assert old.closed and not new.closed
    assert BRAIN_INFO.labels("2", "0")._value.get() == 1
    assert hot.follow("x", u, _window()) is u  # a brain without ``follow``: unchanged
    assert hot.nlu == "nlu-v2"  # the rest of the brain, as it is


def test_a_newer_offer_replaces_one_not_yet_installed() -> None:
    hot = HotBrain(Tagged("v1"), BrainVersion(1, 0))
    second, third = Tagged("v2"), Tagged("v3")
    hot.offer(second, BrainVersion(2, 0))
    hot.offer(third, BrainVersion(3, 0))
    assert second.closed
    assert hot.swap() and hot.version == BrainVersion(3, 0)
    assert not hot.swap()  # nothing pending


@dataclass
class FakeRegistry:
    champion: int | None

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersionInfo | None:
        if self.champion is None:
            return None
        return ModelVersionInfo(
            name=name,
            version=self.champion,
            aliases=[alias],
            run_id="run",
            created_at=datetime.now(UTC),
        )


def _reloader(hot: HotBrain, settings: Settings, registry: FakeRegistry) -> BrainReloader:
    def build(settings: Settings, nlu: Any, kb: Any) -> Tagged:
        brain = Tagged(f"{nlu}+{kb}")
        brain.nlu, brain.kb = nlu, kb
        return brain

    reloader = BrainReloader(hot, settings, registry=registry, build=build)  # type: ignore[arg-type]
    reloader._load_nlu = lambda version: f"nlu{version}"  # type: ignore[method-assign]
    return reloader


def test_the_reloader_follows_the_champion(settings: Settings) -> None:
    registry = FakeRegistry(1)
    hot = HotBrain(Tagged("v1"), BrainVersion(1, 0))
    reloader = _reloader(hot, settings, registry)
    assert reloader.refresh() == BrainVersion(1, 0) and hot.next_version == BrainVersion(1, 0)
    registry.champion = 3  # promoted
    assert reloader.refresh() == BrainVersion(3, 0)
    assert hot.next_parts()[0] == "nlu3"
    registry.champion = 1  # rolled back
    assert reloader.refresh() == BrainVersion(1, 0)
    hot.swap()
    assert hot.version == BrainVersion(1, 0)


def test_an_unregistered_model_is_kept_until_the_champion_changes(settings: Settings) -> None:
    registry = FakeRegistry(4)
    hot = HotBrain(Tagged("local"), BrainVersion(None, 0))  # trained with --no-register
    reloader = _reloader(hot, settings, registry)
    assert reloader.refresh() == BrainVersion(None, 0)
    registry.champion = 5
    assert reloader.refresh() == BrainVersion(5, 0)


def test_a_reloaded_knowledge_base_is_offered_with_the_same_nlu(
    settings: Settings, tmp_path: Any
) -> None:
    hot = HotBrain(Tagged("v1"), BrainVersion(1, 0))
    reloader = _reloader(hot, settings, FakeRegistry(1))
    doc = tmp_path / "guide.md"
    doc.write_text("# Guide\n\n## Payouts\n\nPayouts go out on the 25th of each month.\n")
    report = load_files(settings, [doc], encoder=None)
    assert report.version == knowledge_version(settings) == 1
    assert reloader.refresh() == BrainVersion(1, 1)
    nlu, kb = hot.next_parts()
    assert nlu == "nlu-v1"  # the NLU in service is kept
    assert any(p.source == "guide.md" for p in kb.passages)


def test_a_failed_load_keeps_the_brain_in_service(settings: Settings) -> None:
    registry = FakeRegistry(1)
    hot = HotBrain(Tagged("v1"), BrainVersion(1, 0))
    reloader = _reloader(hot, settings, registry)

    def broken(version: int) -> Any:
        raise OSError("artifact store unreachable")

    reloader._load_nlu = broken  # type: ignore[method-assign]
    registry.champion = 2
    assert reloader.refresh() == BrainVersion(1, 0)
    assert reloader.last_error is not None and "unreachable" in reloader.last_error
    assert not hot.swap()
    stop = threading.Event()
    stop.set()
    reloader.run(stop, None)  # runs one refresh and returns: nothing raised


def test_kb_load_and_remove_announce_the_new_version(settings: Settings, tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from ssmas.assistant.commands import assistant_app
    from ssmas.assistant.events import TOPIC_KNOWLEDGE
    from ssmas.core.bus import bus_from_settings
    from ssmas.settings import use_settings

    doc = tmp_path / "guide.md"
    doc.write_text("# Guide\n\n## Payouts\n\nPayouts go out on the 25th of each month.\n")
    runner = CliRunner()
    with use_settings(settings):
        loaded = runner.invoke(assistant_app, ["kb", "load", str(doc)])
        listed = runner.invoke(assistant_app, ["kb", "list"])
        removed = runner.invoke(assistant_app, ["kb", "remove", "guide.md"])
    assert loaded.exit_code == 0, loaded.output
    assert "index v1:" in loaded.stdout
    assert "knowledge base v1" in listed.stdout
    assert removed.exit_code == 0 and knowledge_version(settings) == 2
    bus = bus_from_settings(settings)
    try:
        events = [m.payload for m in bus.replay(TOPIC_KNOWLEDGE)]
    finally:
        bus.close()
    assert [(e["event"], e["version"]) for e in events] == [
        ("KnowledgeReloaded", 1),
        ("KnowledgeReloaded", 2),
    ]
