"""Running workers swap to a promoted NLU and to a reloaded knowledge base mid-stream.

Two assistant workers (``workers.run``, each a platform of its own on one PostgreSQL and one
Redis, on threads as in ``test_assistant_scale_out``) serve the real brain trained from the
shipped domain, registered as ``assistant-nlu`` v1. A v2 whose thank-you line differs is
registered as challenger. Customers keep writing; ``registry.promote`` makes v2 champion while
messages are in flight, then a document is loaded into the knowledge base. Every message must
be answered exactly once, the answers must move from v1 to v2 (never back) for each customer,
every message sent after the workers said they serve v2 must get the v2 line, and a question
only the new document answers must be answered from it, with its source.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ssmas.assistant.brain_reload import HotBrain, announce_knowledge
from ssmas.assistant.events import TOPIC_INBOUND, seal_bytes
from ssmas.assistant.kb import load_files
from ssmas.assistant.nlu import train_assistant
from ssmas.assistant.nlu.bundle import MODEL_NAME, NluBundle, bundle_path, read_bundle, save_bundle
from ssmas.assistant.nlu.training import register
from ssmas.assistant.runtime import (
    attach_runtime,
    build_assistant_runtime,
    channel_cipher,
    release_runtime,
)
from ssmas.assistant.whatsapp.config import WhatsAppSettings
from ssmas.assistant.whatsapp.graph_fake import RunningFake, start_graph_fake
from ssmas.assistant.workers import run
from ssmas.core.platform import Platform, build_platform
from ssmas.core.registry import registry_from_settings
from ssmas.core.worker import wait_until
from ssmas.settings import Settings
from tests.integration.assistant_channel_support import RecordingNotifier, text_delivery
from tests.integration.test_assistant_nlu import SHARED, _cut_corpora

pytestmark = pytest.mark.skipif(
    not (SHARED / "intents").is_dir(), reason=f"shared NLU corpora not found at {SHARED}"
)

THANKS = "Muchas gracias, todo perfecto"
V1_LINE = "¡Gracias a ti! Si necesitas algo más, escríbeme aquí."
V2_LINE = "¡Gracias por escribirnos! Aquí seguimos para lo que necesites."
CUSTOMERS = 12
QUESTION = "What is the warranty period of the Zorblax widget?"
DOCUMENT = (
    "# Zorblax widget\n\n## Zorblax widget warranty\n\n"
    "The warranty period of the Zorblax widget is 24 months from activation; "
    "replacements ship within 5 days.\n"
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> NluBundle:
    root = _cut_corpora(tmp_path_factory.mktemp("corpora"))
    trained = Settings(profile="test", data_dir=tmp_path_factory.mktemp("model"))
    train_assistant(trained, use_embeddings=False, register_model=False, root=root)
    found = read_bundle(bundle_path(trained))
    assert found is not None
    return found


@pytest.fixture()
def fake() -> Iterator[RunningFake]:
    running = start_graph_fake()
    yield running
    running.stop()


def _settings(data_dir: Path, pg_url: str, redis_url: str) -> Settings:
    s = Settings(
        profile="test",
        data_dir=data_dir,  # one host: the workers share the data directory and its registry
        secret_key="brain-reload-test-secret-7c1e5a9b3d2f40",
        database_url=pg_url,
        redis_url=redis_url,
        bus_backend="redis",
        cache_backend="redis",
    )
    s.ensure_dirs()
    return s


def _register_versions(settings: Settings, bundle: NluBundle) -> None:
    """v1 champion (and the served file), v2 challenger with another thank-you line."""
    first = copy.deepcopy(bundle)
    version, alias = register(settings, first)
    assert (version, alias) == (1, "champion")
    first.registry_version = version
    save_bundle(first, bundle_path(settings))
    second = copy.deepcopy(bundle)
    second.domain.responses["utter_thank"] = {**second.domain.responses["utter_thank"]}
    second.domain.responses["utter_thank"]["es"] = V2_LINE
    second.metrics = {k: v - 0.05 for k, v in bundle.metrics.items()}  # worse: challenger
    assert register(settings, second) == (2, "challenger")


def test_promotion_and_kb_reload_reach_running_workers(
    tmp_path: Path, pg_url: str, redis_url: str, fake: RunningFake, bundle: NluBundle
) -> None:
    settings = _settings(tmp_path / "data", pg_url, redis_url)
    _register_versions(settings, bundle)
    wa = WhatsAppSettings(
        graph_url=fake.graph_url, recipient_rate_per_s=1000.0, retry_backoff_s=0.01
    )
    stop = threading.Event()
    platforms: list[Platform] = []
    brains: list[HotBrain] = []
    threads: list[threading.Thread] = []
    for _ in range(2):
        platform = build_platform(settings)
        runtime = build_assistant_runtime(platform, wa=wa, notifier=RecordingNotifier())
        attach_runtime(runtime)  # what ``workers.run`` picks up
        assert isinstance(runtime.brain, HotBrain)
        assert runtime.brain.version.nlu == 1 and runtime.brain.version.kb == 0
        platforms.append(platform)
        brains.append(runtime.brain)
        threads.append(threading.Thread(target=run, args=(platform, stop), daemon=True))
    run_id = uuid.uuid4().hex[:6]
    phones = [f"3461{run_id}{c:03d}" for c in range(CUSTOMERS)]
    bus = platforms[0].bus
    cipher = channel_cipher(platforms[0])  # the same on both: one deployment's secret
    sent_ids: list[str] = []

    def wave(n: int, text: str = THANKS, who: list[str] = phones) -> list[str]:
        now = datetime.now(UTC)
        ids = [f"wamid.{p}.{n}" for p in who]
        items = [
            (wa_id, seal_bytes(cipher, text_delivery(p, text, wa_id, at=now)))
            for p, wa_id in zip(who, ids, strict=True)
        ]
        bus.publish_batch(TOPIC_INBOUND, items)
        sent_ids.extend(ids)
        return ids

    def replies(wa_id: str) -> list[str]:
        with fake.state.lock:
            return [
                s["body"]["text"]["body"]
                for s in fake.state.sent
                if s["body"].get("context", {}).get("message_id") == wa_id
            ]

    def answered(ids: list[str]) -> bool:
        return all(replies(i) for i in ids)

    try:
        for thread in threads:
            thread.start()
        early = wave(0) + wave(1)
        assert wait_until(lambda: answered(early), 60.0)
        # promoted while a wave is in flight
        during = wave(2)
        registry_from_settings(settings).promote(MODEL_NAME, 2)
        assert wait_until(lambda: all(b.next_version.nlu == 2 for b in brains), 30.0)
        late = wave(3) + wave(4)
        assert wait_until(lambda: answered(during + late), 60.0)

        # the knowledge base, reloaded: announced as ``ssmas assistant kb load`` does
        doc = tmp_path / "zorblax.md"
        doc.write_text(DOCUMENT, encoding="utf-8")
        before = wave(5, QUESTION, phones[:1])
        assert wait_until(lambda: answered(before), 30.0)
        report = load_files(settings, [doc], encoder=None)
        announce_knowledge(settings, report.version, bus)
        assert wait_until(lambda: all(b.next_version.kb == report.version for b in brains), 30.0)
        after = wave(6, QUESTION, phones[1:2])
        assert wait_until(lambda: answered(after), 30.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        for platform in platforms:
            release_runtime(platform)
            platform.close()

    # none lost, none answered twice
    assert all(len(replies(i)) == 1 for i in sent_ids), [
        i for i in sent_ids if len(replies(i)) != 1
    ]
    for i in early:
        assert replies(i) == [V1_LINE]
    for i in late:
        assert replies(i) == [V2_LINE]
    for phone in phones:  # each customer's answers move from v1 to v2, never back
        lines = [replies(f"wamid.{phone}.{n}")[0] for n in range(5)]
        assert set(lines) <= {V1_LINE, V2_LINE}
        assert lines == sorted(lines, key=lambda line: line == V2_LINE)
    assert "Zorblax" not in replies(before[0])[0]
    answer = replies(after[0])[0]
    assert "24 months" in answer and "zorblax.md" in answer
    # the worker that answered it serves the new index; an idle one swaps at its next round
    assert any(b.version.nlu == 2 and b.version.kb == report.version for b in brains)
