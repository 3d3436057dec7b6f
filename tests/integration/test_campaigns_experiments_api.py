"""Experiments and bandits over HTTP on SQLite and PostgreSQL: create with weighted variants,
deterministic assignment, outcomes, results equal to the statistics package on the counts the
API reports, the always-valid timeline, CUPED, conclusion only when the sequential test allows,
bad input answered with a 4xx and a JSON reason (and nothing half-recorded), tenant scoping."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ssmas.bootstrap import create_app, find_product
from ssmas.campaigns.errors import Conflict
from ssmas.campaigns.experiments import ArmSummary, lift_test, srm_check
from ssmas.campaigns.leads import simulated_leads_csv
from ssmas.campaigns.live.experiments import _flush_or_conflict
from ssmas.campaigns.live.tables import ExperimentUnit
from ssmas.campaigns.ports import COUNT_KEYS
from ssmas.campaigns.runtime import use_sender
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.tenancy import tenant_for_key
from ssmas.core.platform import Platform
from ssmas.core.security import create_api_key, verify_api_key
from tests.integration.campaigns_support import campaigns_platform


@dataclass
class Api:
    client: TestClient
    platform: Platform
    admin: dict[str, str]


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    with campaigns_platform(tmp_path, url) as platform:
        app = create_app(platform, products=[find_product("campaigns")])
        with TestClient(app) as client:
            with platform.uow() as uow:
                raw, _ = create_api_key(uow.session, "operator", ["campaigns:admin"])
                uow.commit()
            yield Api(client, platform, {"X-API-Key": raw})


def _tenant(api: Api, tier: str = "growth") -> dict[str, str]:
    slug = f"exp-{uuid.uuid4().hex[:6]}"
    answer = api.client.post(
        "/campaigns/tenants", json={"id": slug, "name": slug, "tier": tier}, headers=api.admin
    )
    assert answer.status_code == 201, answer.text
    return {"X-API-Key": answer.json()["key"]["api_key"]}


def _create(api: Api, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    body = {
        "key": f"k-{uuid.uuid4().hex[:8]}",
        "name": "Short text vs long text",
        "variants": [{"name": "control", "weight": 1}, {"name": "short", "weight": 1}],
        "metric": {"name": "conversion"},
        "guardrails": [{"name": "optout", "higher_is_better": False, "tolerance": 0.5}],
        **extra,
    }
    answer = api.client.post("/campaigns/experiments", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _feed(
    api: Api, headers: dict[str, str], exp: int, n: int, rates: dict[str, float], seed: int
) -> dict[str, str]:
    units = [f"lead-{seed}-{i}" for i in range(n)]
    given = api.client.post(
        f"/campaigns/experiments/{exp}/assign", json={"units": units}, headers=headers
    )
    assert given.status_code == 200, given.text
    variants = {a["unit"]: a["variant"] for a in given.json()["assignments"]}
    rng = np.random.default_rng(seed)
    outcomes = [
        {"unit": u, "metric": "conversion", "value": float(rng.random() < rates[v])}
        for u, v in variants.items()
    ]
    outcomes += [
        {"unit": u, "metric": "optout", "value": float(rng.random() < 0.03)} for u in units
    ]
    recorded = api.client.post(
        f"/campaigns/experiments/{exp}/outcomes", json={"outcomes": outcomes}, headers=headers
    )
    assert recorded.status_code == 200, recorded.text
    return variants


def test_an_experiment_runs_and_concludes_through_the_api(api: Api) -> None:
    headers = _tenant(api)
    exp = _create(api, headers)
    assert exp["status"] == "running" and [v["name"] for v in exp["variants"]] == [
        "control",
        "short",
    ]
    waiting = api.client.get(f"/campaigns/experiments/{exp['id']}/results", headers=headers)
    assert waiting.status_code == 200
    assert waiting.json()["decisions"]["short"]["action"] == "no_data"
    assert "no units" in waiting.json()["decisions"]["short"]["reason"]
    early = api.client.post(f"/campaigns/experiments/{exp['id']}/conclude", headers=headers)
    assert early.status_code == 409 and "does not allow" in early.json()["message"]

    first = _feed(api, headers, exp["id"], 3000, {"control": 0.05, "short": 0.12}, seed=1)
    again = api.client.post(
        f"/campaigns/experiments/{exp['id']}/assign",
        json={"units": list(first)[:200]},
        headers=headers,
    )
    assert {a["unit"]: a["variant"] for a in again.json()["assignments"]} == {
        u: first[u] for u in list(first)[:200]
    }  # deterministic, and counted once
    answer = api.client.get(f"/campaigns/experiments/{exp['id']}/results", headers=headers)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert sum(found["units"].values()) == 3000
    assert 1300 < found["units"]["short"] < 1700
    conv = found["metrics"]["conversion"]
    control = ArmSummary.proportion(int(conv["control"]["total"]), conv["control"]["units"])
    short = ArmSummary.proportion(int(conv["short"]["total"]), conv["short"]["units"])
    expected = lift_test(control, short)
    main = next(c for c in found["comparisons"] if c["metric"] == "conversion")
    assert main["fixed"]["p_value"] == pytest.approx(expected.p_value, rel=1e-9)
    assert main["fixed"]["ci_low"] == pytest.approx(expected.ci_low, rel=1e-9)
    seq = main["sequential"]
    assert seq["ci_low"] < main["fixed"]["ci_low"] < main["fixed"]["ci_high"] < seq["ci_high"]
    srm = srm_check([found["units"]["control"], found["units"]["short"]], [0.5, 0.5])
    assert found["srm"]["p_value"] == pytest.approx(srm.p_value)
    assert any(c["metric"] == "optout" for c in found["comparisons"])
    assert found["beta_binomial"][0]["chance_to_win"] > 0.99
    assert found["decisions"]["short"]["action"] == "ship"

    line = api.client.get(f"/campaigns/experiments/{exp['id']}/timeline", headers=headers).json()
    looks = line["series"]["short"]
    assert len(looks) >= 1 and line["metric"] == "conversion"
    for a, b in itertools.pairwise(looks):  # running intersection: never widens
        assert b["ci_low"] >= a["ci_low"] - 1e-12 and b["ci_high"] <= a["ci_high"] + 1e-12

    done = api.client.post(f"/campaigns/experiments/{exp['id']}/conclude", headers=headers)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "concluded" and done.json()["winner"] == "short"
    after = api.client.post(
        f"/campaigns/experiments/{exp['id']}/assign", json={"units": ["new-1"]}, headers=headers
    )
    assert after.json()["assignments"] == [{"unit": "new-1", "variant": "short"}]
    late = api.client.post(
        f"/campaigns/experiments/{exp['id']}/outcomes",
        json={"outcomes": [{"unit": "lead-1-0", "metric": "conversion", "value": 1}]},
        headers=headers,
    )
    assert late.status_code == 409 and late.json()["error"] == "conflict"


def test_cuped_uses_the_covariates_when_every_unit_has_one(api: Api) -> None:
    headers = _tenant(api)
    exp = _create(api, headers, metric={"name": "revenue", "kind": "mean"}, guardrails=[])
    rng = np.random.default_rng(3)
    units = [f"u{i}" for i in range(600)]
    pre = rng.gamma(2.0, 50.0, size=len(units))
    covariates = {u: float(x) for u, x in zip(units, pre, strict=True)}
    given = api.client.post(
        f"/campaigns/experiments/{exp['id']}/assign",
        json={"units": units, "covariates": covariates},
        headers=headers,
    ).json()["assignments"]
    outcomes = [
        {"unit": a["unit"], "metric": "revenue", "value": float(0.8 * x + rng.normal(0, 10))}
        for a, x in zip(given, pre, strict=True)
    ]
    api.client.post(
        f"/campaigns/experiments/{exp['id']}/outcomes", json={"outcomes": outcomes}, headers=headers
    )
    found = api.client.get(f"/campaigns/experiments/{exp['id']}/results", headers=headers).json()
    assert found["cuped"] is not None
    assert 0.0 < found["cuped"]["variance_ratio"] < 0.2  # corr ~0.99: most variance gone
    assert found["cuped"]["theta"] == pytest.approx(0.8, abs=0.05)


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 0}]}, 422, "traffic"),
        ({"variants": [{"name": "a"}]}, 422, "variants"),
        ({"variants": [{"name": "a"}, {"name": "a"}]}, 422, "unique"),
        ({"alpha": 1.5}, 422, "alpha"),
        ({"metric": {"name": "x", "kind": "median"}}, 422, "kind"),
        ({"campaign_id": 999_999}, 404, "campaign"),
        ({"surprise": 1}, 422, "surprise"),
    ],
)
def test_a_bad_design_is_refused_with_a_reason(
    api: Api, change: dict[str, Any], status: int, words: str
) -> None:
    headers = _tenant(api)
    body = {"key": "k1", "name": "x", "variants": [{"name": "a"}, {"name": "b"}], **change}
    answer = api.client.post("/campaigns/experiments", json=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert words in answer.text
    assert "error" in answer.json()


def test_bad_outcomes_refuse_the_whole_batch_and_other_errors(api: Api) -> None:
    headers = _tenant(api, tier="starter")  # two experiments at most
    exp = _create(api, headers)
    path = f"/campaigns/experiments/{exp['id']}"
    api.client.post(f"{path}/assign", json={"units": ["a", "b", "c"]}, headers=headers)
    good = {"unit": "a", "metric": "conversion", "value": 1}
    for bad, words in [
        ({"unit": "zz", "metric": "conversion", "value": 1}, "never assigned"),
        ({"unit": "b", "metric": "clicks", "value": 1}, "not one of"),
        ({"unit": "b", "metric": "conversion", "value": 2}, "0 or 1"),
    ]:
        refused = api.client.post(
            f"{path}/outcomes", json={"outcomes": [good, bad]}, headers=headers
        )
        assert refused.status_code == 422, refused.text
        assert words in refused.json()["message"] and "row 1" in refused.json()["message"]
    found = api.client.get(f"{path}/results", headers=headers).json()
    assert sum(v["total"] for v in found["metrics"]["conversion"].values()) == 0  # nothing kept
    broken = api.client.post(f"{path}/outcomes", content=b"{", headers=headers)
    assert broken.status_code == 400 and "error" in broken.json()
    empty = api.client.post(f"{path}/assign", json={"units": []}, headers=headers)
    assert empty.status_code == 422
    taken = api.client.post(
        "/campaigns/experiments",
        json={"key": exp["key"], "name": "again", "variants": [{"name": "a"}, {"name": "b"}]},
        headers=headers,
    )
    assert taken.status_code == 409 and "taken" in taken.json()["message"]
    _create(api, headers)
    over = api.client.post(
        "/campaigns/experiments",
        json={"key": "third", "name": "x", "variants": [{"name": "a"}, {"name": "b"}]},
        headers=headers,
    )
    assert over.status_code == 429 and over.json()["error"] == "quota_exceeded"
    assert api.client.get("/campaigns/experiments/987654", headers=headers).status_code == 404
    plan = api.client.post(
        "/campaigns/experiments/plan",
        json={"baseline": 0.10, "expected": 0.11, "daily_units": 1000},
        headers=headers,
    )
    assert plan.status_code == 200 and plan.json()["per_arm"] == 14_745
    same = api.client.post(
        "/campaigns/experiments/plan",
        json={"baseline": 0.10, "expected": 0.10, "daily_units": 1000},
        headers=headers,
    )
    assert same.status_code == 422 and "error" in same.json()


def test_another_tenants_experiment_is_not_found_and_lists_are_scoped(api: Api) -> None:
    mine, theirs = _tenant(api), _tenant(api)
    exp = _create(api, theirs)
    for method, suffix in [
        ("GET", ""),
        ("GET", "/results"),
        ("GET", "/timeline"),
        ("POST", "/conclude"),
    ]:
        answer = api.client.request(
            method, f"/campaigns/experiments/{exp['id']}{suffix}", headers=mine
        )
        assert answer.status_code == 404, (suffix, answer.text)
    assigned = api.client.post(
        f"/campaigns/experiments/{exp['id']}/assign", json={"units": ["x"]}, headers=mine
    )
    assert assigned.status_code == 404
    assert api.client.get("/campaigns/experiments", headers=mine).json() == []
    assert [e["id"] for e in api.client.get("/campaigns/experiments", headers=theirs).json()] == [
        exp["id"]
    ]


def test_a_bandit_chooses_and_learns_over_the_api(api: Api) -> None:
    headers = _tenant(api)
    made = api.client.post(
        "/campaigns/bandits",
        json={"name": "send time", "arms": ["09:00", "13:00", "19:00"]},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    bandit = made.json()["id"]
    rewards = [{"arm": "19:00", "reward": 1.0}] * 30 + [{"arm": "09:00", "reward": 0.0}] * 30
    fed = api.client.post(
        f"/campaigns/bandits/{bandit}/rewards", json={"rewards": rewards}, headers=headers
    )
    assert fed.status_code == 200, fed.text
    arms = {a["arm"]: a for a in fed.json()["arms"]}
    assert arms["19:00"]["pulls"] == 30 and arms["19:00"]["chance_best"] > 0.9
    chosen = api.client.post(f"/campaigns/bandits/{bandit}/choose?count=50", headers=headers)
    assert chosen.json()["arms"].count("19:00") > 40
    bad = api.client.post(
        f"/campaigns/bandits/{bandit}/rewards",
        json={"rewards": [{"arm": "23:00", "reward": 1.0}]},
        headers=headers,
    )
    assert bad.status_code == 422 and "unknown arm" in bad.json()["message"]
    one_arm = api.client.post(
        "/campaigns/bandits", json={"name": "x", "arms": ["only"]}, headers=headers
    )
    assert one_arm.status_code == 422


def test_a_unit_recorded_twice_at_once_is_a_conflict_not_a_500(api: Api) -> None:
    """Two requests assigning the same new unit at the same moment: the second flush clashes
    on the unique (experiment, unit) and is answered 409, its batch not kept."""

    headers = _tenant(api)
    exp = _create(api, headers)
    api.client.post(
        f"/campaigns/experiments/{exp['id']}/assign", json={"units": ["same"]}, headers=headers
    )
    with api.platform.uow() as uow:
        record = verify_api_key(uow.session, headers["X-API-Key"])
        assert record is not None
        tenant = tenant_for_key(uow.session, record.id)
        assert tenant is not None
        scope = TenantScope(uow.session, tenant.id)
        scope.session.add(
            ExperimentUnit(
                tenant_id=tenant.id, experiment_id=exp["id"], unit="same", variant="control"
            )
        )
        with pytest.raises(Conflict, match="send it again"):
            _flush_or_conflict(scope)
    found = api.client.get(f"/campaigns/experiments/{exp['id']}/results", headers=headers).json()
    assert sum(found["units"].values()) == 1


@dataclass
class RecordingSender:
    """Keeps every ``enqueue`` call: (template, lead ids)."""

    calls: list[tuple[str, list[int]]] = field(default_factory=list)

    def enqueue(
        self, tenant_id: int, campaign_id: int, channel: str, template: str, recipients: list[Any]
    ) -> dict[str, int]:
        self.calls.append((template, [r.lead_id for r in recipients]))
        return {"queued": len(recipients)}

    def counts(self, tenant_id: int, campaign_id: int) -> dict[str, int]:
        return dict.fromkeys(COUNT_KEYS, 0)


def test_a_campaign_sends_each_variant_its_own_text(api: Api) -> None:
    sender = RecordingSender()
    use_sender(api.platform, sender)
    headers = _tenant(api)
    imported = api.client.post(
        "/campaigns/imports?filename=leads.csv",
        content=simulated_leads_csv(200, seed=3),
        headers=headers,
    )
    assert imported.status_code == 201, imported.text
    segment = api.client.post("/campaigns/segments", json={"name": "All"}, headers=headers)
    campaign = api.client.post(
        "/campaigns/campaigns",
        json={
            "name": "Hola",
            "segment_id": segment.json()["id"],
            "template": "Hola {nombre} de {city}: 30% este fin",
        },
        headers=headers,
    ).json()
    base = {"name": "Greeting", "campaign_id": campaign["id"]}
    unknown = api.client.post(
        "/campaigns/experiments",
        json={
            **base,
            "key": "bad",
            "variants": [{"name": "control"}, {"name": "short", "template": "Hola {apodo}"}],
        },
        headers=headers,
    )
    assert unknown.status_code == 422 and "apodo" in unknown.json()["message"]
    loose = api.client.post(
        "/campaigns/experiments",
        json={
            "key": "loose",
            "name": "x",
            "variants": [{"name": "a"}, {"name": "b", "template": "Hi"}],
        },
        headers=headers,
    )
    assert loose.status_code == 422 and "campaign_id" in loose.json()["message"]
    made = api.client.post(
        "/campaigns/experiments",
        json={
            **base,
            "key": "greeting",
            "variants": [{"name": "control"}, {"name": "short", "template": "Hola {nombre}: 30%"}],
        },
        headers=headers,
    )
    assert made.status_code == 201, made.text
    launched = api.client.post(f"/campaigns/campaigns/{campaign['id']}/launch", headers=headers)
    assert launched.status_code == 200, launched.text
    texts: dict[str, list[int]] = {}
    for template, leads in sender.calls:  # in chunks of 50, the arms alternating
        texts.setdefault(template, []).extend(leads)
        assert len(leads) <= 50
    order = [template for template, _ in sender.calls]
    assert order[:2] == ["Hola {nombre} de {city}: 30% este fin", "Hola {nombre}: 30%"]
    assert set(texts) == {"Hola {nombre} de {city}: 30% este fin", "Hola {nombre}: 30%"}
    recipients = launched.json()["recipients"]
    assert sum(len(leads) for leads in texts.values()) == recipients
    given = api.client.post(
        f"/campaigns/experiments/{made.json()['id']}/assign",
        json={"units": [f"lead-{lead}" for lead in texts["Hola {nombre}: 30%"]]},
        headers=headers,
    ).json()["assignments"]
    assert {a["variant"] for a in given} == {"short"}  # the text sent is the variant assigned
    found = api.client.get(
        f"/campaigns/experiments/{made.json()['id']}/results", headers=headers
    ).json()
    # exposure is when a message is sent: launch records no unit, the assignment above did
    assert found["units"] == {"control": 0, "short": len(texts["Hola {nombre}: 30%"])}
    late = api.client.post(
        "/campaigns/experiments",
        json={
            **base,
            "key": "late",
            "variants": [{"name": "control"}, {"name": "b", "template": "Hola {nombre}"}],
        },
        headers=headers,
    )
    assert late.status_code == 409 and "launched already" in late.json()["message"]
