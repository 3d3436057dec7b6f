"""Experiments on live campaigns: the seed's ``ABTestManager`` over the tenant's tables.

``create_experiment`` stores a design (variants with traffic weights, a primary metric,
guardrails, an optional planned sample) after :class:`ExperimentDesign` and the tenant's
experiment quota accept it; ``assign_units`` gives each unit its deterministic variant and
records it once (the campaign sender records, as their messages go out, the recipients of an
experiment that splits a campaign's texts: ``record_exposures``); ``record_outcomes`` stores
metric values of assigned units (all or nothing: a batch with one bad row is refused whole,
saying which rows); ``experiment_results`` runs
:func:`ssmas.campaigns.experiments.analyse` on the sums kept in the database (with CUPED on the
primary metric when every unit carries a pre-period covariate, and the Beta-binomial posterior
for conversion metrics); ``experiment_timeline`` replays the looks, so the page can draw the
lift and its always-valid confidence sequence over time; ``conclude_experiment`` ends an
experiment only when the sequential decision allows it (the seed's ``auto_conclude_tests`` is
:func:`auto_conclude`). Every function takes the caller's :class:`TenantScope`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ssmas.campaigns.errors import Conflict, InvalidInput
from ssmas.campaigns.experiments import (
    ArmSummary,
    CupedArm,
    ExperimentDesign,
    ExperimentError,
    Guardrail,
    Metric,
    SequentialMonitor,
    adjusted_summary,
    analyse,
    assign,
    beta_binomial,
    cuped_theta,
    lift_test,
)
from ssmas.campaigns.live.tables import Experiment, ExperimentOutcome, ExperimentUnit
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.tables import Campaign, Tenant
from ssmas.campaigns.tenancy import check_experiments
from ssmas.core.db import utcnow

__all__ = [
    "MetricSpec",
    "OutcomeIn",
    "assign_units",
    "auto_conclude",
    "conclude_experiment",
    "create_experiment",
    "experiment_results",
    "experiment_timeline",
    "experiment_view",
    "get_experiment",
    "list_experiments",
    "record_exposures",
    "record_outcomes",
    "split_recipients",
]

MetricKind = Literal["binomial", "mean"]
STOPPING = ("ship", "keep_control", "no_effect", "stop_guardrail")
MAX_BATCH = 10_000


@dataclass(frozen=True)
class MetricSpec:
    """A metric: its name, ``binomial`` (0/1 conversions) or ``mean`` (any finite value per
    unit, e.g. revenue), its good direction and, for a guardrail, the harm tolerated (in
    relative lift: 0.02 lets it get 2% worse)."""

    name: str
    kind: MetricKind = "binomial"
    higher_is_better: bool = True
    tolerance: float = 0.0


@dataclass(frozen=True)
class OutcomeIn:
    unit: str
    metric: str
    value: float


def _metrics(row: Experiment) -> tuple[MetricSpec, list[MetricSpec]]:
    return MetricSpec(**row.metric), [MetricSpec(**g) for g in row.guardrails]


def _design(row: Experiment) -> ExperimentDesign:
    return ExperimentDesign.create(row.key, [(v["name"], v["weight"]) for v in row.variants])


def experiment_view(row: Experiment) -> dict[str, Any]:
    """The experiment as the API shows it."""
    return {
        "id": row.id,
        "key": row.key,
        "name": row.name,
        "campaign_id": row.campaign_id,
        "variants": row.variants,
        "metric": row.metric,
        "guardrails": row.guardrails,
        "alpha": row.alpha,
        "planned_total": row.planned_total,
        "status": row.status,
        "winner": row.winner,
        "decision": row.decision or None,
        "created_at": row.created_at,
        "concluded_at": row.concluded_at,
    }


def _running(scope: TenantScope) -> int:
    query = scope.select(Experiment, sa.func.count()).where(Experiment.status == "running")
    return int(scope.session.scalar(query) or 0)


def create_experiment(
    scope: TenantScope,
    tenant: Tenant,
    *,
    key: str,
    name: str,
    variants: Sequence[tuple[str, float]],
    metric: MetricSpec,
    guardrails: Sequence[MetricSpec] = (),
    campaign_id: int | None = None,
    alpha: float = 0.05,
    planned_total: int | None = None,
    templates: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Store a new running experiment; a bad design is :class:`InvalidInput` (422), a key the
    tenant already used a :class:`Conflict` (409), one past the tier's quota a 429.

    ``templates``: a message text per variant (the others keep the campaign's): the campaign,
    not launched yet, then sends each recipient its variant's text (:func:`split_recipients`);
    a template may use only the variables of the campaign's own."""
    try:
        design = ExperimentDesign.create(key, list(variants))
    except ExperimentError as exc:
        raise InvalidInput(message=str(exc)) from None
    if not 0.0 < alpha < 1.0:
        raise InvalidInput(message=f"alpha must be strictly between 0 and 1, got {alpha!r}")
    names = [metric.name] + [g.name for g in guardrails]
    if len(set(names)) != len(names):
        raise InvalidInput(message=f"metric names must be unique, got {names}")
    campaign = None if campaign_id is None else scope.get(Campaign, campaign_id, "campaign")
    templates = dict(templates or {})
    _check_templates(templates, design, campaign)
    taken = scope.session.scalar(
        scope.select(Experiment, Experiment.id).where(Experiment.key == key)
    )
    if taken is not None:
        raise Conflict(message=f"experiment key {key!r} is taken (experiment {taken})")
    check_experiments(tenant, _running(scope))
    row = scope.add(
        Experiment(
            key=key,
            name=name,
            campaign_id=campaign_id,
            variants=[
                {"name": v.name, "weight": v.weight, "template": templates.get(v.name)}
                for v in design.variants
            ],
            metric=asdict(metric),
            guardrails=[asdict(g) for g in guardrails],
            alpha=float(alpha),
            planned_total=planned_total,
            status="running",
            decision={},
        )
    )
    return experiment_view(row)


def _check_templates(
    templates: Mapping[str, str], design: ExperimentDesign, campaign: Campaign | None
) -> None:
    if not templates:
        return
    from ssmas.campaigns.audience.templates import template_variables

    unknown = sorted(set(templates) - set(design.names))
    if unknown:
        raise InvalidInput(message=f"templates given for variants not in the design: {unknown}")
    if campaign is None:
        raise InvalidInput(message="variant templates need the campaign_id they are sent by")
    if campaign.status == "launched":
        raise Conflict(
            message=f"campaign {campaign.id} is launched already: variant texts apply at launch"
        )
    allowed = set(campaign.variables or [])
    for variant, text in templates.items():
        extra = [v for v in template_variables(text) if v not in allowed]
        if extra:
            raise InvalidInput(
                message=f"variant {variant!r}'s template uses {extra}, which the campaign's "
                f"recipients do not carry (its template uses {sorted(allowed)})"
            )


def _splitting(scope: TenantScope, campaign_id: int) -> Experiment | None:
    """The running experiment that gives the campaign's recipients their variants' texts (the
    oldest, when several are running on it), or ``None``."""
    rows = scope.session.scalars(
        scope.select(Experiment)
        .where(Experiment.campaign_id == campaign_id, Experiment.status == "running")
        .order_by(Experiment.id)
    ).all()
    return next((r for r in rows if any(v.get("template") for v in r.variants)), None)


def split_recipients(
    scope: TenantScope, campaign_id: int, lead_ids: Sequence[int]
) -> tuple[int, dict[str, tuple[str | None, list[int]]]] | None:
    """At a campaign's launch: when a running experiment on it gives variants their own
    texts, its id and each variant's text (``None``: the campaign's) with its leads (the
    variant :func:`assign` gives unit ``lead-<id>``); ``None`` when no experiment splits it.
    Reads only: a recipient becomes the experiment's unit when it is exposed (its message
    sent), by :func:`record_exposures`, which gives it the same variant."""
    row = _splitting(scope, campaign_id)
    if row is None:
        return None
    design = _design(row)
    texts = {v["name"]: v.get("template") for v in row.variants}
    groups: dict[str, tuple[str | None, list[int]]] = {
        name: (texts.get(name), []) for name in design.names
    }
    for lead in lead_ids:
        variant = assign(design, f"lead-{lead}")
        assert variant is not None
        groups[variant][1].append(lead)
    return row.id, groups


def record_exposures(
    scope: TenantScope, campaign_id: int, lead_ids: Sequence[int], *, now: datetime
) -> int | None:
    """The campaign's messages to ``lead_ids`` went out: when a running experiment splits the
    campaign (:func:`split_recipients`), each lead becomes its unit ``lead-<id>``, assigned
    the variant whose text it was sent (:func:`assign_units`: the same hash), so the
    experiment's results count it. A lead exposed before is not counted twice. Returns the
    experiment's id, or ``None`` when no running experiment splits the campaign."""
    row = _splitting(scope, campaign_id)
    if row is None or not lead_ids:
        return None
    units = [f"lead-{lead}" for lead in dict.fromkeys(lead_ids)]
    for start in range(0, len(units), MAX_BATCH):
        assign_units(scope, row.id, units[start : start + MAX_BATCH], now=now)
    return row.id


def list_experiments(scope: TenantScope, *, limit: int, after_id: int = 0) -> list[dict[str, Any]]:
    return [experiment_view(r) for r in scope.all(Experiment, limit=limit, after_id=after_id)]


def get_experiment(scope: TenantScope, experiment_id: int) -> Experiment:
    return scope.get(Experiment, experiment_id, "experiment")


def _check_batch(size: int, what: str) -> None:
    if size == 0:
        raise InvalidInput(message=f"no {what} given")
    if size > MAX_BATCH:
        raise InvalidInput(message=f"at most {MAX_BATCH:,} {what} a request, got {size:,}")


def assign_units(
    scope: TenantScope,
    experiment_id: int,
    units: Sequence[str],
    covariates: Mapping[str, float] | None = None,
    *,
    now: datetime | None = None,
) -> list[dict[str, str]]:
    """Each unit's variant (the same every time); units seen for the first time are recorded.
    After the experiment is concluded every unit gets the winner and nothing is recorded."""
    _check_batch(len(units), "units")
    row = get_experiment(scope, experiment_id)
    covariates = covariates or {}
    stray = sorted(set(covariates) - set(units))
    if stray:
        raise InvalidInput(message=f"covariates given for units not in this batch: {stray[:5]}")
    bad = [u for u, x in covariates.items() if not math.isfinite(float(x))]
    if bad:
        raise InvalidInput(message=f"covariates must be finite numbers: {bad[:5]}")
    if row.status != "running":
        winner = row.winner or row.variants[0]["name"]
        return [{"unit": u, "variant": winner} for u in units]
    design = _design(row)
    wanted = list(dict.fromkeys(units))
    known = dict(
        scope.session.execute(
            scope.select(ExperimentUnit, ExperimentUnit.unit, ExperimentUnit.variant).where(
                ExperimentUnit.experiment_id == row.id, ExperimentUnit.unit.in_(wanted)
            )
        ).all()
    )
    stamp = now or utcnow()
    for unit in wanted:
        if unit in known:
            continue
        variant = assign(design, unit)
        assert variant is not None  # coverage is 1
        known[unit] = variant
        scope.session.add(
            ExperimentUnit(
                tenant_id=scope.tenant_id,
                experiment_id=row.id,
                unit=unit,
                variant=variant,
                covariate=None if unit not in covariates else float(covariates[unit]),
                assigned_at=stamp,
            )
        )
    _flush_or_conflict(scope)
    return [{"unit": u, "variant": known[u]} for u in units]


def _flush_or_conflict(scope: TenantScope) -> None:
    """Flush; a unique clash means another request recorded the same units or outcomes at
    the same moment: a 409 (nothing of this batch is kept, so sending it again is safe)."""
    try:
        scope.session.flush()
    except IntegrityError:
        raise Conflict(
            message="another request recorded some of these units at the same moment; "
            "nothing of this batch was kept: send it again"
        ) from None


def record_outcomes(
    scope: TenantScope,
    experiment_id: int,
    outcomes: Sequence[OutcomeIn],
    *,
    now: datetime | None = None,
) -> dict[str, int]:
    """Store metric values of assigned units; the whole batch is refused (422, naming the
    rows) when a unit was never assigned, a metric is not the experiment's, a value is not
    finite or a conversion is not 0 or 1; 409 once the experiment is concluded."""
    _check_batch(len(outcomes), "outcomes")
    row = get_experiment(scope, experiment_id)
    if row.status != "running":
        raise Conflict(message=f"experiment {row.key!r} is {row.status}: it takes no outcomes")
    primary, rails = _metrics(row)
    kinds = {m.name: m.kind for m in (primary, *rails)}
    units = {
        u: uid
        for u, uid in scope.session.execute(
            scope.select(ExperimentUnit, ExperimentUnit.unit, ExperimentUnit.id).where(
                ExperimentUnit.experiment_id == row.id,
                ExperimentUnit.unit.in_({o.unit for o in outcomes}),
            )
        ).all()
    }
    problems: list[str] = []
    for i, o in enumerate(outcomes):
        if o.metric not in kinds:
            problems.append(f"row {i}: metric {o.metric!r} is not one of {sorted(kinds)}")
        elif not math.isfinite(o.value):
            problems.append(f"row {i}: value must be a finite number")
        elif kinds[o.metric] == "binomial" and o.value not in (0.0, 1.0):
            problems.append(f"row {i}: {o.metric!r} is a conversion: value 0 or 1, got {o.value}")
        if o.unit not in units:
            problems.append(f"row {i}: unit {o.unit!r} was never assigned (assign it first)")
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise InvalidInput(message="; ".join(problems[:10]) + more)
    stamp = now or utcnow()
    existing = {
        (r.unit_id, r.metric): r
        for r in scope.session.scalars(
            scope.select(ExperimentOutcome).where(
                ExperimentOutcome.unit_id.in_(set(units.values()))
            )
        )
    }
    for o in outcomes:
        key = (units[o.unit], o.metric)
        found = existing.get(key)
        if found is None:
            found = ExperimentOutcome(
                tenant_id=scope.tenant_id,
                experiment_id=row.id,
                unit_id=key[0],
                metric=o.metric,
                value=0.0,
                recorded_at=stamp,
            )
            scope.session.add(found)
            existing[key] = found
        if kinds[o.metric] == "binomial":
            found.value = max(found.value, o.value)
        else:
            found.value = found.value + o.value
        found.recorded_at = stamp
    _flush_or_conflict(scope)
    return {"recorded": len(outcomes)}


# --- results -------------------------------------------------------------------------------


@dataclass
class _Data:
    """The experiment's units and outcomes as arrays, read once per look."""

    variant: np.ndarray  # per unit
    assigned: np.ndarray  # epoch seconds per unit
    covariate: np.ndarray  # NaN where unknown
    values: dict[str, np.ndarray]  # metric -> value per unit (0 when none)
    recorded: dict[str, np.ndarray]  # metric -> epoch seconds (inf when none)


def _load(scope: TenantScope, row: Experiment) -> _Data:
    units = scope.session.execute(
        scope.select(
            ExperimentUnit,
            ExperimentUnit.id,
            ExperimentUnit.variant,
            ExperimentUnit.assigned_at,
            ExperimentUnit.covariate,
        )
        .where(ExperimentUnit.experiment_id == row.id)
        .order_by(ExperimentUnit.id)
    ).all()
    index = {uid: i for i, (uid, *_rest) in enumerate(units)}
    n = len(units)
    primary, rails = _metrics(row)
    values = {m.name: np.zeros(n) for m in (primary, *rails)}
    recorded = {m.name: np.full(n, np.inf) for m in (primary, *rails)}
    outcomes = scope.session.execute(
        scope.select(
            ExperimentOutcome,
            ExperimentOutcome.unit_id,
            ExperimentOutcome.metric,
            ExperimentOutcome.value,
            ExperimentOutcome.recorded_at,
        ).where(ExperimentOutcome.experiment_id == row.id)
    ).all()
    for uid, metric, value, at in outcomes:
        if metric in values and uid in index:
            values[metric][index[uid]] = value
            recorded[metric][index[uid]] = at.timestamp()
    return _Data(
        variant=np.array([u[1] for u in units], dtype=object),
        assigned=np.array([u[2].timestamp() for u in units], dtype=float),
        covariate=np.array([np.nan if u[3] is None else u[3] for u in units], dtype=float),
        values=values,
        recorded=recorded,
    )


def _summary(y: np.ndarray, kind: MetricKind) -> ArmSummary:
    if kind == "binomial":
        return ArmSummary.proportion(int(y.sum()), int(y.size))
    return ArmSummary.from_values(y)


def _arms(
    data: _Data, names: Sequence[str], spec: MetricSpec, mask: np.ndarray | None = None
) -> tuple[dict[str, ArmSummary], dict[str, str]]:
    """Each variant's summary of ``spec`` (units in ``mask``; values recorded by then when
    ``mask`` is a look), and why an arm has none."""
    arms: dict[str, ArmSummary] = {}
    missing: dict[str, str] = {}
    for name in names:
        pick = data.variant == name
        if mask is not None:
            pick &= mask
        try:
            arms[name] = _summary(data.values[spec.name][pick], spec.kind)
        except ExperimentError as exc:
            missing[name] = str(exc)
    return arms, missing


def _cuped_arms(
    data: _Data, names: Sequence[str], spec: MetricSpec
) -> tuple[dict[str, ArmSummary], float, float] | None:
    """The primary metric's CUPED-adjusted arms, theta and the variance ratio, when every unit
    has a covariate and both arms have two units or more."""
    if data.variant.size == 0 or np.isnan(data.covariate).any():
        return None
    raw = {}
    for name in names:
        pick = data.variant == name
        if pick.sum() < 2:
            return None
        raw[name] = CupedArm.from_values(data.values[spec.name][pick], data.covariate[pick])
    try:
        theta = cuped_theta(*raw.values())
        adjusted = {name: adjusted_summary(arm, theta) for name, arm in raw.items()}
        before = sum(arm.moments()[0] for arm in raw.values())
    except ExperimentError:
        return None
    after = sum(a.variance for a in adjusted.values())
    return adjusted, theta, (after / before if before > 0 else 1.0)


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def experiment_results(scope: TenantScope, experiment_id: int) -> dict[str, Any]:
    """One look now: units per variant, each metric's per-variant figures, the SRM check,
    every comparison (fixed-horizon with the corrected p-value, always-valid, Bayesian) and a
    decision per treatment. An experiment without data answers with ``no_data`` and why."""
    row = get_experiment(scope, experiment_id)
    design = _design(row)
    primary, rails = _metrics(row)
    data = _load(scope, row)
    names = design.names
    units = {name: int((data.variant == name).sum()) for name in names}
    out: dict[str, Any] = {
        "experiment": experiment_view(row),
        "units": units,
        "metrics": {},
        "srm": None,
        "comparisons": [],
        "decisions": {},
        "cuped": None,
        "beta_binomial": [],
    }
    for spec in (primary, *rails):
        figures = {}
        for name in names:
            y = data.values[spec.name][data.variant == name]
            figures[name] = {
                "units": int(y.size),
                "total": float(y.sum()),
                "mean": float(y.mean()) if y.size else None,
            }
        out["metrics"][spec.name] = figures
    primary_arms, missing = _arms(data, names, primary)
    cuped = _cuped_arms(data, names, primary)
    if cuped is not None:
        primary_arms = cuped[0]
        out["cuped"] = {"theta": cuped[1], "variance_ratio": cuped[2]}
    if sum(units.values()) == 0 or missing:
        why = (
            "no units assigned yet"
            if sum(units.values()) == 0
            else "; ".join(f"{k}: {v}" for k, v in missing.items())
        )
        out["decisions"] = {
            name: {"action": "no_data", "reason": f"cannot conclude yet: {why}", "stop": False}
            for name in names[1:]
        }
        return out
    report = analyse(
        design,
        units,
        Metric(primary.name, primary_arms, higher_is_better=primary.higher_is_better),
        guardrails=[
            Metric(
                g.name,
                _arms(data, names, g)[0],
                guardrail=Guardrail(g.name, g.higher_is_better, g.tolerance),
            )
            for g in rails
        ],
        alpha=row.alpha,
        planned_total=row.planned_total,
    )
    out["srm"] = {
        "p_value": report.srm.p_value,
        "mismatch": report.srm.mismatch,
        "threshold": report.srm.threshold,
    }
    for c in report.comparisons:
        out["comparisons"].append(
            {
                "metric": c.metric,
                "variant": c.variant,
                "fixed": {
                    "lift": c.fixed.lift,
                    "ci_low": c.fixed.ci_low,
                    "ci_high": c.fixed.ci_high,
                    "p_value": c.fixed.p_value,
                    "adjusted_p": c.adjusted_p,
                },
                "sequential": {
                    "lift": c.sequential.lift,
                    "ci_low": c.sequential.ci_low,
                    "ci_high": c.sequential.ci_high,
                    "p_value": c.sequential.p_value,
                },
                "bayesian": {
                    "mean": c.bayesian.mean,
                    "ci_low": c.bayesian.ci_low,
                    "ci_high": c.bayesian.ci_high,
                    "chance_to_win": c.bayesian.chance_to_win,
                    "loss_control": c.bayesian.loss_control,
                    "loss_treatment": c.bayesian.loss_treatment,
                },
            }
        )
    out["decisions"] = {
        name: {"action": d.action, "reason": d.reason, "stop": d.stop}
        for name, d in report.decisions.items()
    }
    if primary.kind == "binomial":
        raw, _ = _arms(data, names, primary)
        control = raw[names[0]]
        for name in names[1:]:
            arm = raw[name]
            bb = beta_binomial(
                round(control.mean * control.n), control.n, round(arm.mean * arm.n), arm.n
            )
            out["beta_binomial"].append(
                {
                    "variant": name,
                    "chance_to_win": bb.chance_to_win,
                    "loss_control": bb.loss_control,
                    "loss_treatment": bb.loss_treatment,
                }
            )
    return out


def experiment_timeline(
    scope: TenantScope, experiment_id: int, *, looks: int = 40
) -> dict[str, Any]:
    """The primary metric's lift and always-valid interval at ``looks`` evenly spaced times
    from the first assignment to the last event, per treatment; each interval is the running
    intersection of the sequence (valid at every look at once), beside that look's
    fixed-horizon interval (which is not)."""
    row = get_experiment(scope, experiment_id)
    design = _design(row)
    primary, _ = _metrics(row)
    data = _load(scope, row)
    names = design.names
    seq_alpha = row.alpha / (len(names) - 1)
    tuning = float(row.planned_total or 5000)
    series: dict[str, list[dict[str, Any]]] = {name: [] for name in names[1:]}
    if data.variant.size == 0:
        return {"metric": primary.name, "series": series}
    events = data.recorded[primary.name]
    start = float(data.assigned.min())
    end = float(max(data.assigned.max(), events[np.isfinite(events)].max(initial=start)))
    times = np.linspace(start, end, looks) if end > start else np.array([end])
    monitors = {
        name: SequentialMonitor(alpha=seq_alpha, tuning=tuning, kind="relative")
        for name in names[1:]
    }
    for t in times:
        mask = data.assigned <= t
        look = _Data(
            data.variant,
            data.assigned,
            data.covariate,
            {k: np.where(data.recorded[k] <= t, v, 0.0) for k, v in data.values.items()},
            data.recorded,
        )
        arms, _missing = _arms(look, names, primary, mask)
        control = arms.get(names[0])
        for name in names[1:]:
            treatment = arms.get(name)
            if control is None or treatment is None:
                continue
            try:
                now = monitors[name].look(control, treatment)
                fixed = lift_test(control, treatment, alpha=row.alpha)
            except ExperimentError:
                continue
            series[name].append(
                {
                    "at": datetime.fromtimestamp(float(t), UTC).isoformat(),
                    "t": float(t),
                    "units": int(now.n_total),
                    "lift": now.lift,
                    "ci_low": _num(now.ci_low),
                    "ci_high": _num(now.ci_high),
                    "p_value": now.p_value,
                    "fixed_low": fixed.ci_low,
                    "fixed_high": fixed.ci_high,
                }
            )
    return {"metric": primary.name, "series": series}


def conclude_experiment(
    scope: TenantScope, experiment_id: int, *, now: datetime | None = None
) -> dict[str, Any]:
    """End the experiment when every treatment's sequential decision stops it: the winner is
    the shipped treatment with the highest lift, else the control. Otherwise a
    :class:`Conflict` (409) carrying the reasons."""
    row = get_experiment(scope, experiment_id)
    if row.status != "running":
        raise Conflict(message=f"experiment {row.key!r} is {row.status} already")
    results = experiment_results(scope, experiment_id)
    decisions = results["decisions"]
    waiting = {k: d for k, d in decisions.items() if d["action"] not in STOPPING}
    if waiting:
        reasons = "; ".join(f"{k}: {d['reason']}" for k, d in waiting.items())
        raise Conflict(message=f"the sequential test does not allow concluding yet: {reasons}")
    lifts = {
        c["variant"]: c["sequential"]["lift"]
        for c in results["comparisons"]
        if c["metric"] == row.metric["name"]
    }
    shipped = [k for k, d in decisions.items() if d["action"] == "ship"]
    winner = max(shipped, key=lambda k: lifts.get(k, 0.0)) if shipped else row.variants[0]["name"]
    row.status = "concluded"
    row.winner = winner
    row.decision = {"winner": winner, "decisions": decisions}
    row.concluded_at = now or utcnow()
    scope.session.flush()
    return experiment_view(row)


def auto_conclude(scope: TenantScope) -> list[dict[str, Any]]:
    """The seed's ``auto_conclude_tests``: conclude every running experiment of the tenant
    whose sequential decision allows it; the ones concluded."""
    done = []
    running = scope.session.scalars(
        scope.select(Experiment).where(Experiment.status == "running").order_by(Experiment.id)
    ).all()
    for row in running:
        try:
            done.append(conclude_experiment(scope, row.id))
        except Conflict:
            continue
    return done
