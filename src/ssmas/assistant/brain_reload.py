"""Running workers pick up a promoted NLU or a reloaded knowledge base without a restart.

The worker's brain is a :class:`HotBrain`: it answers through the brain it holds and swaps to a
newer one only when the text pipeline starts a round (``prepare``), on the pipeline's own
thread, so every message of a round — and every call made for one message — is answered by
one brain, and no message is dropped or handled twice by a swap (the bus's deliveries and the
pipeline's idempotency are untouched).

:class:`BrainReloader` builds the newer brain on a thread of its own, the way pricing's serving
keeps its models current (``ssmas.pricing.serving.hot_reload``): it tails ``registry.models``,
where the registry announces every change of ``assistant-nlu`` (a version registered, a
promotion, a rollback: ``ssmas.core.registry.events``), and ``assistant.knowledge``, where
``ssmas assistant kb load | remove`` announce a rebuilt index (:func:`announce_knowledge`), with
``EventTail`` (no consumer group per process). On such an event, and every
:data:`CHECK_EVERY_S` as a safety net, it compares what it serves with the registry's champion
and the knowledge base's version (``kb.knowledge_version``) and, if either moved, loads the new
part (the other is kept) and offers the new brain. A version announced as newly registered is
loaded ahead of any promotion, and the last :data:`KEEP_LOADED` NLU versions stay in memory,
so a promotion or a rollback swaps without loading anything. A failed load is logged and
counted; the brain in service keeps answering.

A worker whose served model was never registered (``train --no-register``, or a registry that
was down on first use) keeps it until the champion changes after the worker started.

What is served is logged (``assistant_brain_swapped``), exported as the gauge
``ssmas_assistant_brain_info{nlu_version, kb_version}`` (1 for the brain in service) and, with
a ``ServedRecord``, kept in the database for the API and the CLI (``brain_served``: the
reloader's thread writes it after a swap and every :data:`CHECK_EVERY_S`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from ssmas.assistant.events import TOPIC_KNOWLEDGE
from ssmas.core import metrics
from ssmas.core.bus.tail import EventTail
from ssmas.core.registry.events import MODEL_EVENTS_TOPIC as REGISTRY_EVENTS_TOPIC
from ssmas.settings import Settings

if TYPE_CHECKING:
    from ssmas.assistant.brain import Brain, EscalationCall, Understanding
    from ssmas.assistant.brain_served import ServedRecord
    from ssmas.assistant.context import ContextWindow
    from ssmas.assistant.kb import KnowledgeIndex
    from ssmas.assistant.nlu import NLU
    from ssmas.core.bus import Bus
    from ssmas.core.registry import ModelRegistry

log = structlog.get_logger(__name__)

KNOWLEDGE_RELOADED = "KnowledgeReloaded"
EVENT_TOPICS = (REGISTRY_EVENTS_TOPIC, TOPIC_KNOWLEDGE)
EVENT_POLL_S = 0.2
CHECK_EVERY_S = 30.0
KEEP_LOADED = 4
UNREGISTERED = "unregistered"

BRAIN_INFO = metrics.gauge(
    "assistant",
    "brain",
    "info",
    "1 for the NLU model version and knowledge-base version this process answers with",
    ("nlu_version", "kb_version"),
)
RELOADS = metrics.counter(
    "assistant",
    "brain_reloads",
    "Brains built for a new NLU version or knowledge base, by outcome (swapped, failed)",
    ("outcome",),
)


@dataclass(frozen=True)
class BrainVersion:
    """What a brain is made of: the registry version of its NLU (None: never registered) and
    the version of its knowledge base (0: the shipped FAQ alone)."""

    nlu: int | None
    kb: int

    def labels(self) -> tuple[str, str]:
        return (UNREGISTERED if self.nlu is None else str(self.nlu), str(self.kb))

    def as_dict(self) -> dict[str, Any]:
        return {"nlu_version": self.nlu, "kb_version": self.kb}


class HotBrain:
    """A ``Brain`` whose inner brain is replaced between rounds (see the module doc)."""

    def __init__(self, brain: Brain, version: BrainVersion) -> None:
        self._current = brain
        self._version = version
        self._pending: tuple[Brain, BrainVersion] | None = None
        self._lock = threading.Lock()
        self._watchers: list[Callable[[BrainVersion], None]] = []
        _show(None, version)

    @property
    def brain(self) -> Brain:
        return self._current

    @property
    def version(self) -> BrainVersion:
        """The version answering now."""
        return self._version

    @property
    def next_version(self) -> BrainVersion:
        """The version the next round will be answered with."""
        with self._lock:
            return self._pending[1] if self._pending is not None else self._version

    def next_parts(self) -> tuple[Any, Any]:
        """The NLU and knowledge index of the brain the next round will use."""
        with self._lock:
            brain = self._pending[0] if self._pending is not None else self._current
        return getattr(brain, "nlu", None), getattr(brain, "kb", None)

    def watch(self, watcher: Callable[[BrainVersion], None]) -> None:
        """Call ``watcher`` with the version in service now and after every swap (on the
        swapping thread: it must be quick; a failure is logged)."""
        self._watchers.append(watcher)
        self._tell(self._version)

    def _tell(self, version: BrainVersion) -> None:
        for watcher in self._watchers:
            try:
                watcher(version)
            except Exception as exc:  # a watcher must not stop answering
                log.warning("assistant_brain_watcher_failed", error=f"{type(exc).__name__}: {exc}")

    def offer(self, brain: Brain, version: BrainVersion) -> None:
        """Have the next round answered by ``brain`` (a newer offer replaces this one)."""
        with self._lock:
            dropped, self._pending = self._pending, (brain, version)
        if dropped is not None and dropped[0] is not brain:
            _close(dropped[0])

    def swap(self) -> bool:
        """Install the brain offered, if any; only the pipeline's thread calls it, between
        rounds. Returns whether it swapped."""
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is None:
            return False
        old, old_version = self._current, self._version
        self._current, self._version = pending
        _show(old_version, self._version)
        self._tell(self._version)
        RELOADS.labels("swapped").inc()
        log.info(
            "assistant_brain_swapped",
            nlu_version=self._version.nlu,
            kb_version=self._version.kb,
            previous_nlu_version=old_version.nlu,
            previous_kb_version=old_version.kb,
        )
        if old is not self._current:
            _close(old)
        return True

    # -- the Brain port, answered by the brain in service ------------------------------

    def prepare(self, items: Sequence[tuple[str, str | None]]) -> None:
        self.swap()  # a round begins: the one moment a swap cannot split a message
        prepare = getattr(self._current, "prepare", None)
        if callable(prepare):
            prepare(items)

    def understand(self, text: str, hint_language: str | None) -> Understanding:
        return self._current.understand(text, hint_language)

    def follow(self, text: str, u: Understanding, window: ContextWindow) -> Understanding:
        follow = getattr(self._current, "follow", None)
        return follow(text, u, window) if callable(follow) else u

    def judge(self, text: str, u: Understanding, window: ContextWindow) -> EscalationCall:
        return self._current.judge(text, u, window)

    def reply(self, text: str, u: Understanding, window: ContextWindow) -> str:
        return self._current.reply(text, u, window)

    def __getattr__(self, name: str) -> Any:  # the rest (nlu, dialogue, decide ...) as is
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._current, name)


def _show(old: BrainVersion | None, new: BrainVersion) -> None:
    if old is not None and old.labels() != new.labels():
        with contextlib.suppress(KeyError):  # another brain of this process removed it
            BRAIN_INFO.remove(*old.labels())
    BRAIN_INFO.labels(*new.labels()).set(1)


def _close(brain: Any) -> None:
    close = getattr(brain, "close", None)
    if callable(close):
        close()


def served_version(nlu: Any, kb_version: int) -> BrainVersion:
    """The version of a brain made of ``nlu`` and the knowledge base ``kb_version``."""
    bundle = getattr(nlu, "bundle", None)
    return BrainVersion(getattr(bundle, "registry_version", None), kb_version)


def hot_brain(settings: Settings) -> HotBrain:
    """The real brain (``seed_brain.brain_from_settings``), ready to be reloaded."""
    from ssmas.assistant.kb import knowledge_version
    from ssmas.assistant.seed_brain import brain_from_settings

    kb_version = knowledge_version(settings)  # read first: a reload meanwhile is seen later
    brain = brain_from_settings(settings)
    return HotBrain(brain, served_version(brain.nlu, kb_version))


def announce_knowledge(settings: Settings, version: int, bus: Bus | None = None) -> None:
    """Tell running workers the knowledge base is now ``version`` (a bus failure is logged:
    they also look every ``CHECK_EVERY_S``)."""
    payload = {
        "event": KNOWLEDGE_RELOADED,
        "version": version,
        "at": datetime.now(UTC).isoformat(),
    }
    try:
        if bus is not None:
            bus.publish(TOPIC_KNOWLEDGE, payload)
            return
        from ssmas.core.bus import bus_from_settings

        owned = bus_from_settings(settings)
        try:
            owned.publish(TOPIC_KNOWLEDGE, payload)
        finally:
            owned.close()
    except Exception as exc:
        log.warning("knowledge_event_not_published", error=f"{type(exc).__name__}: {exc}")


def champion_version(registry: ModelRegistry | None, model: str) -> int | None:
    """The version ``registry`` holds as champion of ``model`` (None: no registry, or none)."""
    from ssmas.core.registry import CHAMPION

    if registry is None:
        return None
    info = registry.get_version_by_alias(model, CHAMPION)
    return None if info is None else int(info.version)


BuildBrain = Callable[[Settings, "NLU", "KnowledgeIndex"], "Brain"]


def _build_seed(settings: Settings, nlu: NLU, kb: KnowledgeIndex) -> Brain:
    from ssmas.assistant.seed_brain import brain_from_settings

    return brain_from_settings(settings, nlu=nlu, kb=kb)


class BrainReloader:
    """Keeps a :class:`HotBrain` in step with the registry's champion and the knowledge base."""

    def __init__(
        self,
        hot: HotBrain,
        settings: Settings,
        *,
        registry: ModelRegistry | None = None,
        build: BuildBrain = _build_seed,
        served: ServedRecord | None = None,
    ) -> None:
        from ssmas.assistant.nlu.bundle import MODEL_NAME

        self.hot = hot
        self.served = served
        if served is not None:
            hot.watch(served.serving)
        self.settings = settings
        self.model = MODEL_NAME
        self._registry = registry
        self._build = build
        self._lock = threading.Lock()
        self._kept: OrderedDict[int, NLU] = OrderedDict()  # version → loaded, newest last
        self._latest = hot.version  # what is served or offered
        self._looked = False
        self._champion_at_start: int | None = None
        self.last_error: str | None = None
        nlu = getattr(hot.brain, "nlu", None)
        if nlu is not None and hot.version.nlu is not None:
            self._kept[hot.version.nlu] = nlu

    @property
    def registry(self) -> ModelRegistry | None:
        from ssmas.core.registry import registry_exists, registry_from_settings

        if self._registry is None and registry_exists(self.settings):
            self._registry = registry_from_settings(self.settings)
        return self._registry

    def _champion(self) -> int | None:
        return champion_version(self.registry, self.model)

    def _wanted_nlu(self, champion: int | None) -> int | None:
        """The NLU version to serve: the champion, unless the served model was never
        registered and the champion has not changed since this process first looked."""
        if not self._looked:
            self._looked, self._champion_at_start = True, champion
        if champion is None or champion == self._latest.nlu:
            return self._latest.nlu
        if self._latest.nlu is None and champion == self._champion_at_start:
            return None
        return champion

    def refresh(self) -> BrainVersion:
        """Offer a new brain when the champion or the knowledge base moved; returns the
        version served or offered. Never raises: a failure is logged, the brain kept."""
        from ssmas.assistant.kb import knowledge_index, knowledge_version

        with self._lock:
            try:
                nlu_version = self._wanted_nlu(self._champion())
                wanted = BrainVersion(nlu_version, knowledge_version(self.settings))
                if wanted == self._latest:
                    return wanted
                started = time.perf_counter()
                current = self.hot.next_parts()
                nlu = current[0] if wanted.nlu == self._latest.nlu else self._nlu(wanted.nlu)
                kb = current[1]
                if wanted.kb != self._latest.kb or kb is None:
                    kb = knowledge_index(self.settings, encoder=getattr(nlu, "encoder", None))
                self.hot.offer(self._build(self.settings, nlu, kb), wanted)
                log.info(
                    "assistant_brain_loaded",
                    nlu_version=wanted.nlu,
                    kb_version=wanted.kb,
                    seconds=round(time.perf_counter() - started, 3),
                )
                self._latest = wanted
                self.last_error = None
            except Exception as exc:  # a reload failure must not stop answering
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                RELOADS.labels("failed").inc()
                log.warning("assistant_brain_reload_failed", error=self.last_error)
            return self._latest

    def _nlu(self, version: int | None) -> NLU:
        """NLU version ``version``, loaded once and kept among the last :data:`KEEP_LOADED`."""
        if version is None:
            raise ValueError("no NLU version to load")
        nlu = self._kept.pop(version, None)
        if nlu is None:
            nlu = self._load_nlu(version)
        self._kept[version] = nlu
        while len(self._kept) > KEEP_LOADED:
            self._kept.popitem(last=False)
        return nlu

    def _load_nlu(self, version: int) -> NLU:
        """The served file when it is that version (no MLflow round trip), else the registry's."""
        from ssmas.assistant.nlu import NLU
        from ssmas.assistant.nlu.bundle import bundle_from_registry, bundle_path, read_bundle

        bundle = read_bundle(bundle_path(self.settings))
        if bundle is None or bundle.registry_version != version:
            bundle = bundle_from_registry(self.settings, version, self.registry)
        encoder = getattr(self.hot.brain, "nlu", None)
        encoder = getattr(encoder, "encoder", None) if bundle.uses_embeddings else None
        return NLU(bundle, encoder)

    def prefetch(self, versions: Iterable[int]) -> None:
        """Load newly registered NLU ``versions`` ahead of any promotion (failures: logged)."""
        with self._lock:
            for version in versions:
                if version in self._kept:
                    continue
                try:
                    self._nlu(version)
                except Exception as exc:  # the promotion will try again
                    log.warning("assistant_nlu_prefetch_failed", version=version, error=str(exc))
                else:
                    log.info("assistant_nlu_prefetched", version=version)

    def run(self, stop: threading.Event, bus: Bus | None) -> None:
        """Refresh now, then on registry / knowledge events and every ``CHECK_EVERY_S``."""
        tail = EventTail(bus, EVENT_TOPICS) if bus is not None else None
        self.refresh()
        self._report(heartbeat=True)
        next_check = next_beat = time.monotonic() + CHECK_EVERY_S
        while not stop.wait(EVENT_POLL_S if tail is not None else 1.0):
            beat = time.monotonic() >= next_beat  # events may postpone a check, not this
            self._report(heartbeat=beat)  # and any swap the pipeline made since the last poll
            if beat:
                next_beat = time.monotonic() + CHECK_EVERY_S
            events = tail.poll() if tail is not None else []
            ours = [
                p
                for p in events
                if p.get("model") == self.model or p.get("event") == KNOWLEDGE_RELOADED
            ]
            fresh = [
                int(p["version"])
                for p in ours
                if p.get("change") == "registered" and str(p.get("version")).isdigit()
            ]
            if fresh:  # a new version moves no alias: load it before one points at it
                self.prefetch(fresh)
            moved = any(p.get("change") != "registered" for p in ours)
            if moved or time.monotonic() >= next_check:
                self.refresh()
                next_check = time.monotonic() + CHECK_EVERY_S

    def _report(self, *, heartbeat: bool = False) -> None:
        """Write what is served to the database (``brain_served``), if kept there."""
        if self.served is not None:
            self.served.flush(heartbeat=heartbeat)

    def start(self, stop: threading.Event, bus: Bus | None) -> threading.Thread:
        """Run :meth:`run` on a daemon thread."""
        thread = threading.Thread(
            target=self.run, args=(stop, bus), name="ssmas-assistant-brain", daemon=True
        )
        thread.start()
        return thread


def brain_reloader(
    brain: Any, settings: Settings, served: ServedRecord | None = None
) -> BrainReloader | None:
    """A reloader for ``brain`` when it is a :class:`HotBrain` (a configured brain is not),
    keeping ``served`` up to date."""
    if not isinstance(brain, HotBrain):
        return None
    return BrainReloader(brain, settings, served=served)
