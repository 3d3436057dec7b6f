"""Real processes: two ``ssmas worker assistant`` processes with the real brain switch to a
promoted NLU version while customers keep writing through the API, without a restart.

The data directory holds the NLU trained from the shipped domain as ``assistant-nlu`` v1
(champion, served) and a v2 whose thank-you line differs (challenger). ``registry.promote``
from this process announces the change on the data directory's bus; every message before and
after gets exactly one reply, and once a customer got the v2 line, every later message does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ssmas.assistant.nlu.bundle import MODEL_NAME
from ssmas.core.registry import registry_from_settings
from ssmas.settings import Settings
from tests.e2e.test_assistant_e2e import Stack, wait_for
from tests.integration.assistant_channel_support import text_delivery
from tests.integration.test_assistant_brain_reload import (
    THANKS,
    V1_LINE,
    V2_LINE,
    _register_versions,
    bundle,  # noqa: F401  (the module's trained-bundle fixture)
)
from tests.integration.test_assistant_nlu import SHARED

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (SHARED / "intents").is_dir(), reason=f"shared NLU corpora not found at {SHARED}"
    ),
]
PHONES = [f"1650555{n:04d}" for n in range(200, 206)]


@pytest.fixture()
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path)
    running.env["SSMAS_WHATSAPP_BRAIN"] = ""  # the real brain, reloadable
    try:
        yield running
    finally:
        running.stop()


def test_worker_processes_switch_to_a_promoted_model(stack: Stack, bundle) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    settings = Settings(profile="test", data_dir=stack.data_dir)
    settings.ensure_dirs()
    _register_versions(settings, bundle)
    stack.start_servers()
    workers = [stack.worker(), stack.worker()]
    sent: list[str] = []

    def say(n: int) -> list[str]:
        ids = [f"wamid.rl.{phone}.{n}" for phone in PHONES]
        for phone, wa_id in zip(PHONES, ids, strict=True):
            assert stack.post(text_delivery(phone, THANKS, wa_id)).status_code == 200
        sent.extend(ids)
        return ids

    def replies() -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for phone in PHONES:
            for s in stack.sent_to(phone):
                out.setdefault(s["body"]["context"]["message_id"], []).append(
                    s["body"]["text"]["body"]
                )
        return out

    def answered(ids: list[str]) -> bool:
        got = replies()
        return all(got.get(i) for i in ids)

    try:
        before = say(0)
        wait_for(lambda: answered(before), 180, "the first replies")
        registry_from_settings(settings).promote(MODEL_NAME, 2)
        n = 1
        # customers keep writing until every one of them got the v2 line
        while True:
            wave = say(n)
            wait_for(lambda: answered(wave), 60, f"wave {n}")  # noqa: B023
            got = replies()
            if all(got[i] == [V2_LINE] for i in wave):
                break
            assert n < 20, "the workers never switched to v2"
            n += 1
        last = say(n + 1)
        wait_for(lambda: answered(last), 60, "the last wave")
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(20)
    got = replies()
    assert all(len(got.get(i, [])) == 1 for i in sent), "a message lost or answered twice"
    assert all(got[i] == [V1_LINE] for i in before)
    assert all(got[i] == [V2_LINE] for i in last)
    for phone in PHONES:  # from v1 to v2, never back
        lines = [got[f"wamid.rl.{phone}.{k}"][0] for k in range(n + 2)]
        assert lines == sorted(lines, key=lambda line: line == V2_LINE)
    for worker in workers:
        assert worker.returncode == 0, (
            worker.stderr.read().decode()[-2000:] if worker.stderr else ""
        )
