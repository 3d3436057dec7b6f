"""The port the floor tools set an ad unit's floor through: pricing's, not the control plane.

Floors belong to pricing. ``floor_rollback`` (and the undo of it) asks pricing to set the floor:
in process, pricing's :class:`~ssmas.pricing.floors.unit_floors.UnitFloors` over the tools'
own world and control plane, named by :data:`PRICING_FLOORS` and imported only when first used
(as the product contract names what it plugs in: AdOps never imports pricing's code); or,
when ``SSMAS_INCIDENTS_AGENT_PRICING_URL`` points at a pricing server, its API
(``PUT /v2/ad-units/{id}/floor``) through :class:`HttpFloors`. Either way the change is a
control-plane version the agents' undo and verification see like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

import httpx

from ssmas.core.product import resolve

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from ssmas.core.platform import Platform
    from ssmas.exchange.control_plane import ControlPlane
    from ssmas.exchange.world import World

PRICING_FLOORS = "ssmas.pricing.floors.unit_floors:UnitFloors"


class FloorSet(Protocol):
    """What a floor change answers: the control-plane version that carries it."""

    @property
    def version(self) -> int: ...


class FloorPort(Protocol):
    """Sets an ad unit's own floor as ``actor`` (raises ``ValueError`` when it cannot)."""

    def set_floor(
        self, ad_unit_id: str, floor_eur: float, *, actor: str, reason: str
    ) -> FloorSet: ...


class FloorPortError(ValueError):
    """Pricing refused the floor or could not be reached."""


def pricing_floors(world: World, plane: ControlPlane, *, audit: Engine | None = None) -> FloorPort:
    """Pricing's in-process floor service over ``world`` and ``plane`` (audited in ``audit``)."""
    service: FloorPort = resolve(PRICING_FLOORS)(world, plane, audit=audit)
    return service


def floor_port_of(platform: Platform, world: World, plane: ControlPlane) -> FloorPort:
    """The platform's way to pricing: its API when ``agent_pricing_url`` is set, else its
    service in process on the platform's database (audit log included)."""
    section = platform.settings.incidents
    if section.agent_pricing_url:
        return HttpFloors(section.agent_pricing_url, section.agent_pricing_key)
    return pricing_floors(world, plane, audit=platform.engine)


@dataclass(frozen=True)
class HttpFloorSet:
    ad_unit_id: str
    previous: float
    floor: float
    version: int


class HttpFloors:
    """Pricing's floor API on another server (``pricing:admin`` key); ``client``: an httpx
    client of the caller's (tests pass the app's test client)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout_s: float = 5.0,
        client: httpx.Client | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"X-API-Key": api_key} if api_key else {}
        self._client = client or httpx.Client(timeout=timeout_s)
        self._owned = client is None

    def set_floor(
        self, ad_unit_id: str, floor_eur: float, *, actor: str, reason: str
    ) -> HttpFloorSet:
        url = f"{self._base}/v2/ad-units/{quote(ad_unit_id, safe='')}/floor"
        body = {"floor_eur": floor_eur, "reason": f"{actor}: {reason}"[:500]}
        try:
            response = self._client.put(url, json=body, headers=self._headers)
        except httpx.HTTPError as exc:
            raise FloorPortError(f"pricing API unreachable: {exc}") from None
        data: dict[str, Any] = _json(response)
        if response.status_code != 200:
            why = data.get("message") or data.get("error") or data.get("body")
            raise FloorPortError(f"pricing API refused the floor ({response.status_code}): {why}")
        try:
            return HttpFloorSet(
                str(data["ad_unit_id"]),
                float(data["previous"]),
                float(data["floor"]),
                int(data["version"]),
            )
        except (KeyError, TypeError, ValueError):
            raise FloorPortError(f"pricing API answered {str(data)[:200]}") from None

    def close(self) -> None:
        if self._owned:
            self._client.close()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {"body": response.text[:200]}
    return data if isinstance(data, dict) else {"body": data}
