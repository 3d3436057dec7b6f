"""A tenant's experiments and bandits over HTTP: create an experiment with variants and
traffic weights, assign units, record outcomes, read results (fixed-horizon, always-valid,
Bayesian, SRM, guardrails, CUPED) and their timeline, conclude; plan a sample size; create a
bandit, draw arms and record rewards. Every query runs in the caller's :class:`TenantScope`:
another tenant's experiment is a 404. Bad input is a 4xx with a JSON reason."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ssmas.campaigns.api.deps import TenantReader, TenantWriter
from ssmas.campaigns.api.tenant_routes import After, Limit, run_scoped
from ssmas.campaigns.audience.templates import MAX_TEMPLATE_CHARS
from ssmas.campaigns.errors import InvalidInput
from ssmas.campaigns.experiments import ExperimentError, plan_experiment
from ssmas.campaigns.live import (
    MetricSpec,
    OutcomeIn,
    assign_units,
    bandit_view,
    choose_arms,
    conclude_experiment,
    create_bandit,
    create_experiment,
    experiment_results,
    experiment_timeline,
    experiment_view,
    get_experiment,
    list_bandits,
    list_experiments,
    record_outcomes,
    record_rewards,
)
from ssmas.campaigns.live.tables import LiveBandit
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.tables import Tenant
from ssmas.core.api.bodies import json_body, json_body_doc
from ssmas.core.api.bounds import MAX_ID, IdPath
from ssmas.core.api.errors import error_responses

router = APIRouter(prefix="/campaigns", tags=["campaigns: experiments"])
NOT_FOUND = error_responses(404, 422)
NAME = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
UNIT = Field(min_length=1, max_length=128)


class VariantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = NAME
    weight: float = Field(default=1.0, description="traffic weight (> 0; normalised)")
    template: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TEMPLATE_CHARS,
        description="this variant's message text (the campaign's otherwise), sent at launch",
    )


class MetricIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = NAME
    kind: Literal["binomial", "mean"] = "binomial"
    higher_is_better: bool = True
    tolerance: float = Field(default=0.0, ge=0.0, le=10.0)


class ExperimentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = NAME
    name: str = Field(min_length=1, max_length=200)
    variants: list[VariantIn] = Field(min_length=2, max_length=20)
    metric: MetricIn = MetricIn(name="conversion")
    guardrails: list[MetricIn] = Field(default_factory=list, max_length=10)
    campaign_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    planned_total: int | None = Field(default=None, ge=2, le=10**9)


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    units: list[Annotated[str, UNIT]] = Field(min_length=1, max_length=10_000)
    covariates: dict[str, float] | None = Field(
        default=None, description="each unit's pre-period value of the metric, for CUPED"
    )


class OutcomeItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit: str = UNIT
    metric: str = NAME
    value: float = 1.0


class OutcomesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcomes: list[OutcomeItem] = Field(min_length=1, max_length=10_000)


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    baseline: float = Field(gt=0.0, lt=1.0, description="the control's conversion rate")
    expected: float = Field(gt=0.0, lt=1.0, description="the rate to be able to detect")
    daily_units: float = Field(gt=0.0, le=1e9)
    arms: int = Field(default=2, ge=2, le=20)
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    power: float = Field(default=0.8, gt=0.0, lt=1.0)


class BanditCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    arms: list[Annotated[str, NAME]] = Field(min_length=2, max_length=64)
    campaign_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class RewardItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    arm: str = NAME
    reward: float = Field(ge=0.0, le=1.0)


class RewardsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rewards: list[RewardItem] = Field(min_length=1, max_length=10_000)


@router.post(
    "/experiments",
    status_code=201,
    responses=error_responses(404, 409, 422, 429),
    openapi_extra=json_body_doc(ExperimentCreate),
)
async def create(
    caller: TenantWriter, body: Annotated[ExperimentCreate, Depends(json_body(ExperimentCreate))]
) -> dict[str, Any]:
    """A running experiment: variants (first is control) with traffic weights, the primary
    metric and guardrails; 429 past the tier's experiment quota."""

    def work(scope: TenantScope) -> dict[str, Any]:
        tenant = scope.session.get(Tenant, caller.tenant.id)
        assert tenant is not None
        return create_experiment(
            scope,
            tenant,
            key=body.key,
            name=body.name,
            variants=[(v.name, v.weight) for v in body.variants],
            metric=MetricSpec(**body.metric.model_dump()),
            guardrails=[MetricSpec(**g.model_dump()) for g in body.guardrails],
            campaign_id=body.campaign_id,
            alpha=body.alpha,
            planned_total=body.planned_total,
            templates={v.name: v.template for v in body.variants if v.template},
        )

    return await run_in_threadpool(run_scoped, caller, work, commit=True)


@router.get("/experiments")
async def experiments(
    caller: TenantReader, limit: Limit = 100, after: After = 0
) -> list[dict[str, Any]]:
    return await run_in_threadpool(
        run_scoped, caller, lambda scope: list_experiments(scope, limit=limit, after_id=after)
    )


@router.post(
    "/experiments/plan", responses=error_responses(422), openapi_extra=json_body_doc(PlanIn)
)
async def plan(
    caller: TenantReader, body: Annotated[PlanIn, Depends(json_body(PlanIn))]
) -> dict[str, Any]:
    """Units per arm and days to run for a conversion-rate experiment (statsmodels'
    ``NormalIndPower`` sizes)."""
    try:
        found = plan_experiment(
            body.baseline,
            body.expected,
            daily_units=body.daily_units,
            arms=body.arms,
            alpha=body.alpha,
            power=body.power,
        )
    except ExperimentError as exc:
        raise InvalidInput(message=str(exc)) from None
    return {
        "per_arm": found.per_arm,
        "arms": found.arms,
        "total_units": found.total_units,
        "days": found.days,
    }


@router.get("/experiments/{experiment_id}", responses=NOT_FOUND)
async def experiment(experiment_id: IdPath, caller: TenantReader) -> dict[str, Any]:
    return await run_in_threadpool(
        run_scoped, caller, lambda scope: experiment_view(get_experiment(scope, experiment_id))
    )


@router.post(
    "/experiments/{experiment_id}/assign",
    responses=NOT_FOUND,
    openapi_extra=json_body_doc(AssignIn),
)
async def assign(
    experiment_id: IdPath,
    caller: TenantWriter,
    body: Annotated[AssignIn, Depends(json_body(AssignIn))],
) -> dict[str, Any]:
    """Each unit's variant, the same at every call (a hash of the unit and the experiment's
    key); new units are recorded. Once concluded, every unit gets the winner."""
    found = await run_in_threadpool(
        run_scoped,
        caller,
        lambda scope: assign_units(scope, experiment_id, body.units, body.covariates),
        commit=True,
    )
    return {"assignments": found}


@router.post(
    "/experiments/{experiment_id}/outcomes",
    responses=error_responses(404, 409, 422),
    openapi_extra=json_body_doc(OutcomesIn),
)
async def outcomes(
    experiment_id: IdPath,
    caller: TenantWriter,
    body: Annotated[OutcomesIn, Depends(json_body(OutcomesIn))],
) -> dict[str, int]:
    """Metric values of assigned units (a conversion is 0 or 1, kept once; a mean metric's
    values add up); a batch with a bad row is refused whole, naming the rows."""
    rows = [OutcomeIn(o.unit, o.metric, o.value) for o in body.outcomes]
    return await run_in_threadpool(
        run_scoped, caller, lambda scope: record_outcomes(scope, experiment_id, rows), commit=True
    )


@router.get("/experiments/{experiment_id}/results", responses=NOT_FOUND)
async def results(experiment_id: IdPath, caller: TenantReader) -> dict[str, Any]:
    """One look: units, metrics, SRM, every comparison and the decision per treatment (an
    experiment without data says why it cannot conclude)."""
    return await run_in_threadpool(
        run_scoped, caller, lambda scope: experiment_results(scope, experiment_id)
    )


@router.get("/experiments/{experiment_id}/timeline", responses=NOT_FOUND)
async def timeline(experiment_id: IdPath, caller: TenantReader) -> dict[str, Any]:
    """The primary lift with its always-valid interval at 40 looks, per treatment."""
    return await run_in_threadpool(
        run_scoped, caller, lambda scope: experiment_timeline(scope, experiment_id)
    )


@router.post(
    "/experiments/{experiment_id}/conclude",
    responses=error_responses(
        404, 409, descriptions={409: "the sequential test does not allow it yet, or concluded"}
    ),
)
async def conclude(experiment_id: IdPath, caller: TenantWriter) -> dict[str, Any]:
    """End the experiment when the always-valid test allows it (after SRM and guardrails)."""
    return await run_in_threadpool(
        run_scoped, caller, lambda scope: conclude_experiment(scope, experiment_id), commit=True
    )


@router.post(
    "/bandits",
    status_code=201,
    responses=error_responses(404, 422),
    openapi_extra=json_body_doc(BanditCreate),
)
async def new_bandit(
    caller: TenantWriter, body: Annotated[BanditCreate, Depends(json_body(BanditCreate))]
) -> dict[str, Any]:
    """A Thompson-sampling bandit over ``arms`` (e.g. message variant x send time)."""
    return await run_in_threadpool(
        run_scoped,
        caller,
        lambda scope: create_bandit(
            scope, name=body.name, arms=body.arms, campaign_id=body.campaign_id
        ),
        commit=True,
    )


@router.get("/bandits")
async def bandits(caller: TenantReader, limit: Limit = 100) -> list[dict[str, Any]]:
    return await run_in_threadpool(run_scoped, caller, lambda s: list_bandits(s, limit=limit))


@router.get("/bandits/{bandit_id}", responses=NOT_FOUND)
async def bandit(bandit_id: IdPath, caller: TenantReader) -> dict[str, Any]:
    return await run_in_threadpool(
        run_scoped, caller, lambda scope: bandit_view(scope.get(LiveBandit, bandit_id, "bandit"))
    )


@router.post("/bandits/{bandit_id}/choose", responses=NOT_FOUND)
async def choose(
    bandit_id: IdPath, caller: TenantReader, count: Annotated[int, Query(ge=1, le=10_000)] = 1
) -> dict[str, list[str]]:
    """``count`` arms drawn from the posteriors (Thompson sampling)."""
    arms = await run_in_threadpool(
        run_scoped, caller, lambda scope: choose_arms(scope, bandit_id, count)
    )
    return {"arms": arms}


@router.post(
    "/bandits/{bandit_id}/rewards", responses=NOT_FOUND, openapi_extra=json_body_doc(RewardsIn)
)
async def rewards(
    bandit_id: IdPath,
    caller: TenantWriter,
    body: Annotated[RewardsIn, Depends(json_body(RewardsIn))],
) -> dict[str, Any]:
    """Rewards (conversions, 0 to 1) of arms played; a bad row refuses the batch."""
    pairs = [(r.arm, r.reward) for r in body.rewards]
    return await run_in_threadpool(
        run_scoped, caller, lambda scope: record_rewards(scope, bandit_id, pairs), commit=True
    )
