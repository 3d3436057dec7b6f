"""The lead-quality model of one API process: the registry's champion as a :class:`FastScorer`.

Built on the first scoring request (``platform.runtime_or_build``) and attached to the platform
under :data:`RUNTIME`. It loads the champion when the registry exists; every
:data:`REFRESH_S` seconds a request starts (at most one) background check of the champion
alias, and a new champion is swapped in once loaded, so ``ssmas campaigns quality train`` in
another process reaches running servers without a restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from ssmas.campaigns.quality.fast import FastScorer
from ssmas.core.platform import Platform
from ssmas.core.registry import CHAMPION, RegistryError

RUNTIME = "campaigns.quality"
REFRESH_S = 30.0
_log = structlog.get_logger(__name__)
Loader = Callable[[], FastScorer | None]


@dataclass
class QualityRuntime:
    """The current scorer (``None`` until a champion exists) and its refresh."""

    load: Loader
    refresh_s: float = REFRESH_S
    scorer: FastScorer | None = None
    checked_at: float = 0.0
    _refreshing: threading.Lock = field(default_factory=threading.Lock)

    def reload(self) -> None:
        """Load the champion now (a failure keeps the current scorer and is logged)."""
        try:
            scorer = self.load()
        except (RegistryError, ValueError, OSError) as exc:
            _log.warning("campaigns.quality_load_failed", error=str(exc)[:300])
            scorer = self.scorer
        if scorer is not None:
            self.scorer = scorer
        self.checked_at = time.monotonic()

    def maybe_refresh(self) -> None:
        """Start a background reload when the last check is older than ``refresh_s``."""
        if time.monotonic() - self.checked_at < self.refresh_s:
            return
        if not self._refreshing.acquire(blocking=False):
            return
        self.checked_at = time.monotonic()

        def run() -> None:
            try:
                self.reload()
            finally:
                self._refreshing.release()

        threading.Thread(target=run, name="campaigns-quality-refresh", daemon=True).start()


def champion_loader(platform: Platform) -> Loader:
    """Loads the champion from the platform's registry (``None`` when there is none yet)."""
    settings = platform.settings
    current: dict[str, FastScorer] = {}

    def load() -> FastScorer | None:
        if not (settings.mlflow_tracking_uri or (settings.data_dir / "mlflow.db").exists()):
            return None
        from ssmas.campaigns.quality.lifecycle import MODEL_NAME, load
        from ssmas.core.registry import registry_from_settings

        registry = registry_from_settings(settings)
        info = registry.get_version_by_alias(MODEL_NAME, CHAMPION)
        if info is None:
            return None
        known = current.get("scorer")
        if known is not None and known.version == str(info.version):
            return known
        ensemble, version = load(registry, str(info.version))
        scorer = FastScorer(ensemble, version=str(version))
        current["scorer"] = scorer
        _log.info("campaigns.quality_model_loaded", version=version)
        return scorer

    return load


def build_quality_runtime(platform: Platform) -> QualityRuntime:
    runtime = QualityRuntime(champion_loader(platform))
    runtime.reload()
    return runtime


def quality_runtime(platform: Platform) -> QualityRuntime:
    """The platform's runtime, built (and the champion loaded) on first use."""
    return platform.runtime_or_build(RUNTIME, QualityRuntime, build_quality_runtime)
