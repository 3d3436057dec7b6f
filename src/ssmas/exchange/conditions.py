"""The state of the exchange during one simulated minute: knobs plus the faults active then.

``resolve_conditions`` is where the closed loop closes: a control-plane knob and a world fault
meet here, so a remediation undoes a fault's effect from the next simulated minute on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from ssmas.exchange import catalog
from ssmas.exchange.faults import Fault
from ssmas.exchange.knobs import ControlState
from ssmas.exchange.seasonality import peak_minute_volume
from ssmas.exchange.world import World

CACHE_BASE_HIT = 0.93
REPLICA_FACTOR = 0.95  # the replica pool is a little colder than a healthy primary
COLLAPSED_HEALTH = 0.05
CAPACITY_HEADROOM = 1.3  # default capacity serves 1.3x the busiest expected minute
DEFAULT_UNITS = 10
RETRY_LOAD = 1.4  # traffic multiplier while the ``aggressive_retries`` flag is on


@dataclass(frozen=True)
class Conditions:
    """Everything the traffic, demand and auction steps need to know about one minute."""

    partner_weight: np.ndarray  # [partners] share of requests forwarded to each partner
    partner_error: np.ndarray  # [partners] probability a call fails
    partner_latency_mult: np.ndarray  # [partners]
    floors: np.ndarray  # [ad units] EUR CPM
    unit_size_ok: np.ndarray  # [ad units] False when declared in a size no buyer accepts
    blocked_source: np.ndarray  # [traffic sources]
    publisher_value_shift: np.ndarray  # [publishers] log-CPM shift of bids
    ivt_rate: np.ndarray  # [publishers] extra bot requests as a multiple of normal volume
    cache_hit_rate: float
    capacity_per_min: float
    traffic_mult: float
    timeout_ms: float


def capacity_per_unit(per_day: float) -> float:
    """Requests per minute one serving unit handles, sized from the expected daily volume."""
    return peak_minute_volume(per_day) * CAPACITY_HEADROOM / DEFAULT_UNITS


def cache_hit_rate(state: ControlState, primary_health: float) -> float:
    ttl = state.cache_policy.ttl_s
    base = CACHE_BASE_HIT * ttl / (ttl + 20.0)
    if state.cache_policy.mode == "replica":
        return base * REPLICA_FACTOR
    return base * primary_health


def resolve_conditions(
    world: World,
    state: ControlState,
    faults: Sequence[Fault],
    at: datetime,
    unit_capacity: float,
) -> Conditions:
    """Conditions of the minute starting at ``at`` under ``state`` and the active ``faults``."""
    names = world.partner_names()
    weight = np.array([state.weight(n) for n in names], dtype=np.float32)
    error = np.array([p.error_rate for p in world.partners], dtype=np.float32)
    latency = np.ones(len(names), dtype=np.float32)
    floors = np.array(
        [state.floors.get(u.ad_unit_id, u.default_floor) for u in world.ad_units], dtype=np.float32
    )
    size_ok = np.array(
        [
            state.ad_unit_sizes.get(u.ad_unit_id, u.size) != catalog.MISCONFIGURED_SIZE
            for u in world.ad_units
        ],
        dtype=bool,
    )
    blocked = np.array([s in state.blocked_sources for s in catalog.TRAFFIC_SOURCES], dtype=bool)
    pub_index = {p: i for i, p in enumerate(world.publisher_ids())}
    value_shift = np.zeros(len(world.publishers), dtype=np.float32)
    ivt = np.zeros(len(world.publishers), dtype=np.float32)
    health, traffic, capacity_health = 1.0, 1.0, 1.0
    for fault in faults:
        if not fault.active(at):
            continue
        sev = fault.severity
        if fault.kind == "partner_outage":  # calls hang until the auction timeout, then fail
            error[names.index(fault.entity)] = min(1.0, 0.98 * sev)
            latency[names.index(fault.entity)] = 20.0
        elif fault.kind == "partner_latency_spike":
            latency[names.index(fault.entity)] = 1.0 + 4.0 * sev
        elif fault.kind == "invalid_traffic_surge":
            ivt[pub_index[fault.entity]] = 2.0 * sev
        elif fault.kind == "cache_collapse":
            health = COLLAPSED_HEALTH
        elif fault.kind == "capacity_saturation":
            capacity_health = max(0.05, 1.0 - 0.6 * sev)
            traffic = 1.0 + 0.5 * sev
        elif fault.kind == "rpm_decay":
            drop = min(0.9, 0.65 * sev * fault.progress(at))
            value_shift[pub_index[fault.entity]] = np.log1p(-drop)
    if state.flag("aggressive_retries"):  # every rejected admission is retried: more load
        traffic *= RETRY_LOAD
    return Conditions(
        partner_weight=weight,
        partner_error=error,
        partner_latency_mult=latency,
        floors=floors,
        unit_size_ok=size_ok,
        blocked_source=blocked,
        publisher_value_shift=value_shift,
        ivt_rate=ivt,
        cache_hit_rate=cache_hit_rate(state, health),
        capacity_per_min=state.capacity_units * unit_capacity * capacity_health,
        traffic_mult=traffic,
        timeout_ms=state.auction_timeout_ms,
    )
