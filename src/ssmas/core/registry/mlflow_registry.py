"""The model registry: MLflow tracking + registry on SQLite, artifacts under the data directory.

Only this package knows MLflow. It never touches MLflow's global state (no ``set_tracking_uri``,
no active runs): everything goes through one ``MlflowClient`` built on first use, and every
experiment gets an explicit artifact location under ``artifact_root``.
"""

from __future__ import annotations

import json
import math
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from ssmas.core.registry.events import RegistryAnnouncer, model_changed
from ssmas.core.registry.flavors import SCHEMA_FILE, load_model, save_model, signature_from_schema
from ssmas.core.registry.model_version import (
    CHALLENGER,
    CHAMPION,
    Flavor,
    ModelNotFound,
    ModelVersionInfo,
    RegistryError,
    check_name,
)
from ssmas.settings import Settings, quiet_mlflow

MODEL_DIR = "model"
TAG_FLAVOR = "ssmas.flavor"
TAG_SCHEMA_VERSION = "ssmas.feature_schema_version"
TAG_HISTORY = "ssmas.champion_history"
TAG_PREVIOUS = "ssmas.previous_champion"
_HISTORY_LIMIT = 20


class ModelRegistry:
    """Logs, versions, aliases and loads models by name.

    Aliases are the contract with serving: ``champion`` is what serves, ``challenger`` what is
    being tried. ``promote`` moves ``champion`` and remembers the one it replaced, so
    ``rollback`` can put it back (repeatedly, newest first).

    ``on_change`` hears every change made through this object (``ssmas.core.registry.events``:
    the platform's registries publish it on the bus, so serving processes reload at once).
    """

    def __init__(
        self,
        tracking_uri: str,
        artifact_root: Path | str,
        *,
        on_change: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_root = Path(artifact_root).resolve()
        self.on_change = on_change
        self._client_obj: Any = None
        self._lock = threading.Lock()

    def _changed(
        self, change: str, name: str, version: int | str | None, alias: str | None = None
    ) -> None:
        if self.on_change is not None:
            self.on_change(model_changed(change, name, version, alias))

    # -- plumbing -------------------------------------------------------------------------

    @property
    def _client(self) -> Any:
        """MlflowClient, created on first use (importing MLflow costs seconds)."""
        with self._lock:
            if self._client_obj is None:
                quiet_mlflow()
                from mlflow import MlflowClient

                self.artifact_root.mkdir(parents=True, exist_ok=True)
                self._client_obj = MlflowClient(
                    tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
                )
            return self._client_obj

    @contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        quiet_mlflow()
        from mlflow.exceptions import MlflowException

        try:
            yield
        except MlflowException as exc:
            code = getattr(exc, "error_code", "")
            message = getattr(exc, "message", str(exc))
            if code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(message).lower():
                raise ModelNotFound(f"{what}: {message}")
            raise RegistryError(f"{what}: {message}")

    def _experiment_id(self, name: str) -> str:
        check_name(name, "experiment name")
        client = self._client
        found = client.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                client.restore_experiment(found.experiment_id)
            return str(found.experiment_id)
        location = (self.artifact_root / name).as_uri()
        try:
            return str(client.create_experiment(name, artifact_location=location))
        except Exception:
            found = client.get_experiment_by_name(name)  # another process created it first
            if found is None:
                raise
            return str(found.experiment_id)

    def _info(self, mv: Any, aliases: list[str] | None = None) -> ModelVersionInfo:
        run = self._client.get_run(mv.run_id) if mv.run_id else None
        tags = dict(mv.tags or {})
        return ModelVersionInfo(
            name=mv.name,
            version=int(mv.version),
            aliases=sorted(aliases if aliases is not None else (mv.aliases or [])),
            run_id=mv.run_id or "",
            metrics=dict(run.data.metrics) if run else {},
            feature_schema_version=tags.get(TAG_SCHEMA_VERSION),
            flavor=tags.get(TAG_FLAVOR),
            created_at=datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC),
            tags={str(k): str(v) for k, v in tags.items()},
        )

    def _resolve(self, name: str, alias_or_version: str | int) -> Any:
        check_name(name)
        ref = str(alias_or_version)
        with self._translate(f"model {name!r} {ref!r}"):
            if ref == "latest":
                versions = self._client.search_model_versions(f"name='{name}'")
                if not versions:
                    raise ModelNotFound(f"model {name!r} has no versions")
                return max(versions, key=lambda v: int(v.version))
            if ref.isdigit():
                return self._client.get_model_version(name, ref)
            return self._client.get_model_version_by_alias(name, ref)

    @contextmanager
    def _local_model_dir(self, mv: Any) -> Iterator[Path]:
        """The model directory on disk: in place for file URIs, else a temporary download."""
        parts = urlsplit(mv.source or "")
        if parts.scheme in {"", "file"} and mv.source:
            yield Path(url2pathname(unquote(parts.path)))
            return
        with tempfile.TemporaryDirectory(prefix="ssmas-model-") as tmp:
            yield Path(self._client.download_artifacts(mv.run_id, MODEL_DIR, tmp))

    # -- writing --------------------------------------------------------------------------

    def log_model(
        self,
        name: str,
        model: Any,
        *,
        flavor: Flavor,
        feature_schema: dict[str, Any],
        metrics: dict[str, float],
        params: dict[str, Any],
        tags: dict[str, str] | None = None,
        experiment: str | None = None,
    ) -> ModelVersionInfo:
        """Log a run (params, metrics, model, feature schema) and register it as a new version."""
        check_name(name)
        if flavor not in get_args(Flavor):
            raise RegistryError(f"unknown flavor {flavor!r}: use one of {get_args(Flavor)}")
        bad = [k for k, v in metrics.items() if not math.isfinite(float(v))]
        if bad:
            raise RegistryError(f"metrics must be finite numbers: {bad}")
        schema_version = feature_schema.get("version")
        version_tags: dict[str, str] = {TAG_FLAVOR: flavor}
        if schema_version is not None:
            version_tags[TAG_SCHEMA_VERSION] = str(schema_version)
        client = self._client
        from mlflow.entities import Metric, Param, RunTag

        with self._translate(f"logging model {name!r}"):
            experiment_id = self._experiment_id(experiment or name)
            run = client.create_run(experiment_id, run_name=name, tags={"ssmas.model": name})
            run_id = run.info.run_id
            try:
                now_ms = int(datetime.now(UTC).timestamp() * 1000)
                client.log_batch(
                    run_id,
                    metrics=[Metric(k, float(v), now_ms, 0) for k, v in metrics.items()],
                    params=[Param(k, str(v)) for k, v in params.items()],
                    tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()],
                )
                with tempfile.TemporaryDirectory(prefix="ssmas-model-") as tmp:
                    model_dir = Path(tmp) / MODEL_DIR
                    save_model(flavor, model, model_dir, signature_from_schema(feature_schema))
                    (model_dir / SCHEMA_FILE).write_text(
                        json.dumps(feature_schema, indent=2, sort_keys=True, default=str)
                    )
                    client.log_artifacts(run_id, str(model_dir), MODEL_DIR)
            except BaseException:
                client.set_terminated(run_id, status="FAILED")
                raise
            client.set_terminated(run_id)
            try:
                client.create_registered_model(name)
            except Exception:
                client.get_registered_model(name)  # already there: fine; otherwise raise
            artifact_uri = client.get_run(run_id).info.artifact_uri.rstrip("/")
            mv = client.create_model_version(
                name, source=f"{artifact_uri}/{MODEL_DIR}", run_id=run_id, tags=version_tags
            )
        self._changed("registered", name, mv.version)
        return self._info(mv, aliases=[])

    def set_alias(self, name: str, alias: str, version: int | str) -> None:
        check_name(name)
        check_name(alias, "alias")
        with self._translate(f"setting alias {alias!r} on {name!r} v{version}"):
            self._client.set_registered_model_alias(name, alias, str(version))
        self._changed("alias_set", name, version, alias)

    def set_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        """Tag one version (e.g. its approval state); announced as ``version_tagged``."""
        check_name(name)
        with self._translate(f"tagging {name!r} v{version}"):
            self._client.set_model_version_tag(name, str(version), key, value)
        self._changed("version_tagged", name, version)

    def get_version(self, name: str, version: int | str) -> ModelVersionInfo:
        """One version by number (its aliases and tags); :class:`ModelNotFound` if absent."""
        check_name(name)
        missing = ModelNotFound(f"model {name!r} has no version {str(version)!r}")
        if not str(version).isdigit():
            raise missing
        try:
            with self._translate(f"model {name!r} v{version}"):
                mv = self._client.get_model_version(name, str(version))
                aliases = [
                    a
                    for a, v in self._client.get_registered_model(name).aliases.items()
                    if int(v) == int(mv.version)
                ]
        except ModelNotFound:
            raise missing from None
        return self._info(mv, aliases=aliases)

    def delete_alias(self, name: str, alias: str) -> None:
        check_name(name)
        with self._translate(f"deleting alias {alias!r} of {name!r}"):
            self._client.delete_registered_model_alias(name, alias)
        self._changed("alias_deleted", name, None, alias)

    def promote(self, name: str, version: int | str) -> ModelVersionInfo:
        """Make ``version`` the champion; the replaced champion goes on the rollback history.

        If ``challenger`` pointed at ``version`` it is removed: one version, one role.
        """
        check_name(name)
        client = self._client
        with self._translate(f"promoting {name!r} v{version}"):
            client.get_model_version(name, str(version))
            model = client.get_registered_model(name)
            current = model.aliases.get(CHAMPION)
            if current is not None and int(current) != int(version):
                history = [*self._history(model), int(current)][-_HISTORY_LIMIT:]
                client.set_registered_model_tag(name, TAG_HISTORY, json.dumps(history))
                client.set_registered_model_tag(name, TAG_PREVIOUS, str(current))
            client.set_registered_model_alias(name, CHAMPION, str(version))
            challenger = model.aliases.get(CHALLENGER)
            if challenger is not None and int(challenger) == int(version):
                client.delete_registered_model_alias(name, CHALLENGER)
            info = self._info(client.get_model_version(name, str(version)))
        self._changed("promoted", name, version, CHAMPION)
        return info

    def rollback(self, name: str) -> ModelVersionInfo:
        """Put back the champion that the last ``promote`` replaced."""
        check_name(name)
        client = self._client
        with self._translate(f"rolling back {name!r}"):
            history = self._history(client.get_registered_model(name))
            existing = {int(v.version) for v in client.search_model_versions(f"name='{name}'")}
            while history and history[-1] not in existing:
                history.pop()
            if not history:
                raise RegistryError(f"model {name!r} has no previous champion to roll back to")
            previous = history.pop()
            client.set_registered_model_alias(name, CHAMPION, str(previous))
            client.set_registered_model_tag(name, TAG_HISTORY, json.dumps(history))
            client.set_registered_model_tag(name, TAG_PREVIOUS, str(history[-1]) if history else "")
            info = self._info(client.get_model_version(name, str(previous)))
        self._changed("rolled_back", name, previous, CHAMPION)
        return info

    @staticmethod
    def _history(model: Any) -> list[int]:
        raw = (model.tags or {}).get(TAG_HISTORY) or "[]"
        try:
            return [int(v) for v in json.loads(raw)]
        except (ValueError, TypeError):
            return []

    # -- reading --------------------------------------------------------------------------

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersionInfo | None:
        try:
            return self._info(self._resolve(name, alias))
        except ModelNotFound:
            return None

    def list_versions(self, name: str) -> list[ModelVersionInfo]:
        """Every version, oldest first, with its aliases and metrics; [] for an unknown model."""
        check_name(name)
        client = self._client
        with self._translate(f"listing {name!r}"):
            versions = client.search_model_versions(f"name='{name}'")
            if not versions:
                return []
            by_version: dict[int, list[str]] = {}
            for alias, version in client.get_registered_model(name).aliases.items():
                by_version.setdefault(int(version), []).append(alias)
            return [
                self._info(mv, aliases=by_version.get(int(mv.version), []))
                for mv in sorted(versions, key=lambda v: int(v.version))
            ]

    def load(self, name: str, alias_or_version: str | int) -> Any:
        """The native model object of a version given by number, alias or ``"latest"``."""
        mv = self._resolve(name, alias_or_version)
        with self._local_model_dir(mv) as path:
            return load_model(path, (mv.tags or {}).get(TAG_FLAVOR))

    def load_feature_schema(self, name: str, alias_or_version: str | int) -> dict[str, Any]:
        mv = self._resolve(name, alias_or_version)
        with self._local_model_dir(mv) as path:
            schema_file = path / SCHEMA_FILE
            if not schema_file.exists():
                raise ModelNotFound(f"model {name!r} v{mv.version} has no {SCHEMA_FILE}")
            loaded: dict[str, Any] = json.loads(schema_file.read_text())
            return loaded


def registry_from_settings(settings: Settings, *, bus: Any = None) -> ModelRegistry:
    """The platform registry: ``settings.resolved_mlflow_uri``, artifacts in
    ``settings.resolved_artifact_root``; every change is published on the bus (``bus``, else
    one opened from ``settings`` on the first change)."""
    return ModelRegistry(
        settings.resolved_mlflow_uri,
        settings.resolved_artifact_root,
        on_change=RegistryAnnouncer(settings, bus),
    )


def registry_exists(settings: Settings) -> bool:
    """Whether a registry may hold models: a tracking URI is configured or the default exists
    (so a process can wait for one without creating an empty MLflow database)."""
    return bool(settings.mlflow_tracking_uri) or (settings.data_dir / "mlflow.db").exists()
