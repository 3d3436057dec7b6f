"""Campaigns dashboard pages of issue 17: experiments (lift and its always-valid confidence
sequence over time), bandits (arms, posteriors and regret), forecasts (intervals and backtest)
and ROI (the Monte Carlo distribution, the tornado and the portfolio's efficient frontier).

Same layout, tenant rules and picker as the other campaigns pages (:mod:`ssmas.campaigns.web`);
charts are SVG drawn on the server (:mod:`ssmas.web.plots`). The experiment page's figures
refresh every 5 seconds; the bandit page's live table too.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from ssmas.campaigns.bandits import (
    UCB1,
    EpsilonGreedy,
    Policy,
    ThompsonSampling,
    UniformRandom,
    campaign_simulator,
    mean_regret,
)
from ssmas.campaigns.bandits.qlearning import q_learning_regret
from ssmas.campaigns.errors import NotFound
from ssmas.campaigns.live import (
    experiment_results,
    experiment_timeline,
    experiment_view,
    get_experiment,
    list_bandits,
)
from ssmas.campaigns.live.tables import Experiment
from ssmas.campaigns.roi import (
    CampaignPlan,
    Dist,
    PortfolioCampaign,
    RoiInputError,
    efficient_frontier,
    optimise_portfolio,
    simulate_roi,
    tornado,
)
from ssmas.campaigns.scope import TenantScope
from ssmas.campaigns.web import (
    GROUP,
    TenantQuery,
    Viewing,
    _fragment,
    _html,
    _tenant_picker,
    _view,
    _viewing,
)
from ssmas.core.api.bounds import IdPath
from ssmas.core.platform import Platform
from ssmas.web import WebUserDep, login_redirect, register_page, render_page
from ssmas.web.access import platform_of
from ssmas.web.plots import Band, Bar, Line, bar_chart, line_chart

BASE = "/dashboard/campaigns"
router = APIRouter(include_in_schema=False)
register_page(GROUP, "Experiments", f"{BASE}/experiments")
register_page(GROUP, "Bandits", f"{BASE}/bandits")
register_page(GROUP, "Forecast", f"{BASE}/forecast")
register_page(GROUP, "ROI & portfolio", f"{BASE}/roi")

FORECAST_HORIZON = 30
MIN_OWN_DAYS = 56  # below this many days of the tenant's own conversions, a simulated series
SIM_HORIZON, SIM_SEEDS = 20_000, (1, 2, 3)


def _ticks(t: list[float]) -> list[tuple[float, str]]:
    if not t:
        return []
    fmt = "%H:%M" if t[-1] - t[0] < 86_400 else "%m-%d %H:%M"
    picks = sorted({t[0], t[len(t) // 2], t[-1]})
    return [(v, datetime.fromtimestamp(v, UTC).strftime(fmt)) for v in picks]


# --- experiments ---------------------------------------------------------------------------


SHOWN_EXPERIMENTS = 50


def _experiment_rows(platform: Platform, tenant_id: int) -> list[dict[str, Any]]:
    """The newest :data:`SHOWN_EXPERIMENTS` experiments, each with one look."""
    rows = []
    with platform.uow() as uow:
        scope = TenantScope(uow.session, tenant_id)
        newest = scope.session.scalars(
            scope.select(Experiment, Experiment.id)
            .order_by(Experiment.id.desc())
            .limit(SHOWN_EXPERIMENTS)
        ).all()
        for exp_id in newest:
            exp = experiment_view(get_experiment(scope, exp_id))
            found = experiment_results(scope, exp["id"])
            main = [c for c in found["comparisons"] if c["metric"] == exp["metric"]["name"]]
            rows.append({"exp": exp, "results": found, "main": main})
    return rows


@router.get(f"{BASE}/experiments")
async def experiments_page(
    request: Request, user: WebUserDep, tenant: TenantQuery = None
) -> Response:
    if user is None:
        return login_redirect(request)
    view, refused = await _view(request, user, tenant, "Experiments")
    if refused is not None or view.tenant is None:
        return refused or login_redirect(request)
    rows = await run_in_threadpool(_experiment_rows, platform_of(request), view.tenant.id)
    body = _html(
        "experiments.html",
        rows=rows,
        shown=SHOWN_EXPERIMENTS,
        picker=_tenant_picker(view, f"{BASE}/experiments"),
        tenant=view.tenant.slug,
    )
    return render_page(request, user, group=GROUP, title="Experiments", body=body)


def _experiment_detail(platform: Platform, tenant_id: int, experiment_id: int) -> dict[str, Any]:
    with platform.uow() as uow:
        scope = TenantScope(uow.session, tenant_id)
        get_experiment(scope, experiment_id)
        found = experiment_results(scope, experiment_id)
        line = experiment_timeline(scope, experiment_id)
    charts = []
    for variant, looks in line["series"].items():
        t = [p["t"] for p in looks]
        chart = line_chart(
            t,
            [
                Line("lift", [p["lift"] for p in looks], markers=True),
                Line(
                    "fixed-horizon 95% (not valid when peeking)",
                    [p["fixed_low"] for p in looks],
                    color="#a0aec0",
                    dashed=True,
                ),
                Line("", [p["fixed_high"] for p in looks], color="#a0aec0", dashed=True),
            ],
            [
                Band(
                    "always-valid confidence sequence",
                    [p["ci_low"] for p in looks],
                    [p["ci_high"] for p in looks],
                )
            ],
            label=f"relative lift of {variant} over time",
            x_label="time (UTC)",
            y_label=f"relative lift of {line['metric']}: {variant} vs control",
            x_ticks=_ticks(t),
            reference=0.0,
            y_format=lambda v: f"{100 * v:+.0f}%",
        )
        charts.append({"variant": variant, "svg": chart, "looks": len(looks)})
    return {"results": found, "charts": charts}


async def _detail_markup(request: Request, view: Viewing, experiment_id: int) -> Markup | None:
    assert view.tenant is not None
    try:
        detail = await run_in_threadpool(
            _experiment_detail, platform_of(request), view.tenant.id, experiment_id
        )
    except NotFound:
        return None
    return _html("_experiment.html", **detail, tenant=view.tenant.slug)


@router.get(BASE + "/experiments/{experiment_id}")
async def experiment_page(
    experiment_id: IdPath, request: Request, user: WebUserDep, tenant: TenantQuery = None
) -> Response:
    if user is None:
        return login_redirect(request)
    title = f"Experiment {experiment_id}"
    view, refused = await _view(request, user, tenant, title)
    if refused is not None or view.tenant is None:
        return refused or login_redirect(request)
    detail = await _detail_markup(request, view, experiment_id)
    if detail is None:
        return render_page(
            request,
            user,
            group=GROUP,
            title=title,
            body=f"No such experiment: {experiment_id}",
            status_code=404,
        )
    body = _html(
        "experiment.html", detail=detail, experiment_id=experiment_id, tenant=view.tenant.slug
    )
    return render_page(request, user, group=GROUP, title=title, body=body)


@router.get(BASE + "/experiments/{experiment_id}/detail")
async def experiment_fragment(
    experiment_id: IdPath, request: Request, user: WebUserDep, tenant: TenantQuery = None
) -> Response:
    if user is None:
        return login_redirect(request)
    view = await run_in_threadpool(_viewing, platform_of(request), user, tenant)
    if view.tenant is None:
        return _fragment(status_code=403)
    detail = await _detail_markup(request, view, experiment_id)
    if detail is None:
        return _fragment(status_code=404)
    return _fragment(detail)


# --- bandits -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def simulated_regret() -> dict[str, list[float]]:
    """Cumulative regret of each policy on the recipient simulator (12 arms: 4 variants x 3
    send times), averaged over three seeds; Q-learning after as many recipients of training."""
    n_arms = campaign_simulator().n_arms
    policies: dict[str, Any] = {
        "Thompson sampling": lambda s: ThompsonSampling(n_arms, seed=s),
        "UCB1": lambda s: UCB1(n_arms, seed=s),
        "epsilon-greedy (0.1)": lambda s: EpsilonGreedy(n_arms, epsilon=0.1, seed=s),
        "uniform": lambda s: UniformRandom(n_arms, seed=s),
    }

    def world(seed: int) -> Any:
        return campaign_simulator(10_000 + seed)

    out: dict[str, list[float]] = {}
    for name, make in policies.items():
        maker: Any = make

        def build(seed: int, maker: Any = maker) -> Policy:
            made: Policy = maker(seed)
            return made

        out[name] = mean_regret(build, world, SIM_HORIZON, list(SIM_SEEDS)).tolist()
    out["Q-learning (seed's optimiser)"] = q_learning_regret(
        world, SIM_HORIZON, list(SIM_SEEDS), training=SIM_HORIZON
    ).tolist()
    return out


def _thin(values: list[float], points: int = 150) -> tuple[list[float], list[float]]:
    idx = np.unique(np.linspace(0, len(values) - 1, points).astype(int))
    return [float(i + 1) for i in idx], [values[i] for i in idx]


def _bandit_rows(platform: Platform, tenant_id: int) -> list[dict[str, Any]]:
    with platform.uow() as uow:
        found = list_bandits(TenantScope(uow.session, tenant_id), limit=50)
    for bandit in found:
        bandit["svg"] = _bandit_chart(bandit) if bandit["history"] else None
    return found[::-1]


def _bandit_chart(bandit: dict[str, Any]) -> Markup:
    """Conversions over recipients, with the cumulative regret when the bandit knows it."""
    history = bandit["history"]
    markers = len(history) < 20
    lines = [Line("conversions", [h[1] for h in history], color="#38a169", markers=markers)]
    what = "conversions"
    if bandit["regret"] is not None:
        regret = [h[2] for h in history]
        lines.insert(
            0, Line("cumulative regret (expected conversions lost)", regret, markers=markers)
        )
        what = "regret"
    return line_chart(
        [h[0] for h in history],
        lines,
        label=f"{what} of bandit {bandit['name']}",
        x_label="recipients",
    )


@router.get(f"{BASE}/bandits")
async def bandits_page(request: Request, user: WebUserDep, tenant: TenantQuery = None) -> Response:
    if user is None:
        return login_redirect(request)
    view, refused = await _view(request, user, tenant, "Bandits")
    if refused is not None or view.tenant is None:
        return refused or login_redirect(request)
    live = await _bandit_live(platform_of(request), view)
    body = _html(
        "bandits.html",
        live=live,
        picker=_tenant_picker(view, f"{BASE}/bandits"),
        tenant=view.tenant.slug,
    )
    return render_page(request, user, group=GROUP, title="Bandits", body=body)


@router.get(f"{BASE}/bandits/simulated")
async def bandits_simulated(request: Request, user: WebUserDep) -> Response:
    """The policies compared on the recipient simulator (computed once per process: seconds
    the first time, so the page loads it after itself)."""
    if user is None:
        return login_redirect(request)
    regret = await run_in_threadpool(simulated_regret)
    x, _ = _thin(next(iter(regret.values())))
    comparison = line_chart(
        x,
        [Line(name, _thin(values)[1]) for name, values in regret.items()],
        label="cumulative regret of the policies on the recipient simulator",
        x_label="recipients",
        y_label="cumulative regret (expected conversions lost)",
    )
    final = {name: values[-1] for name, values in regret.items()}
    markup = _html(
        "_simulated.html",
        comparison=comparison,
        final=final,
        horizon=SIM_HORIZON,
        seeds=len(SIM_SEEDS),
    )
    return _fragment(markup)


async def _bandit_live(platform: Platform, view: Viewing) -> Markup:
    assert view.tenant is not None
    rows = await run_in_threadpool(_bandit_rows, platform, view.tenant.id)
    return _html("_bandits.html", rows=rows)


@router.get(f"{BASE}/bandits/live")
async def bandits_fragment(
    request: Request, user: WebUserDep, tenant: TenantQuery = None
) -> Response:
    if user is None:
        return login_redirect(request)
    view = await run_in_threadpool(_viewing, platform_of(request), user, tenant)
    if view.tenant is None:
        return _fragment(status_code=403)
    markup = await _bandit_live(platform_of(request), view)
    return _fragment(markup)


# --- forecast ------------------------------------------------------------------------------


def simulated_conversions(days: int = 540, end: date | None = None, seed: int = 17) -> pd.DataFrame:
    """Daily conversions of a simulated tenant: growth, a weekly cycle (weekends low), a yearly
    one (December high) and Poisson noise."""
    end = end or datetime.now(UTC).date()
    ds = pd.date_range(end - timedelta(days=days - 1), periods=days, freq="D")
    t = np.arange(days)
    weekly = np.array([1.0, 1.05, 1.08, 1.06, 1.0, 0.78, 0.7])[ds.dayofweek]
    yearly = 1 + 0.18 * np.cos(2 * np.pi * (ds.dayofyear.to_numpy() - 350) / 365.25)
    level = 60 * (1 + 0.0006 * t) * weekly * yearly
    y = np.random.default_rng(seed).poisson(level)
    return pd.DataFrame({"ds": ds, "y": y.astype(float)})


def own_conversions(platform: Platform, tenant_id: int) -> pd.DataFrame:
    """The tenant's conversions per UTC day from the send ledger."""
    from ssmas.campaigns.sending.tables import SendRow

    with platform.uow() as uow:
        stamps = uow.session.scalars(
            sa.select(SendRow.converted_at).where(
                SendRow.tenant_id == tenant_id, SendRow.converted_at.is_not(None)
            )
        ).all()
    if not stamps:
        return pd.DataFrame({"ds": pd.to_datetime([]), "y": []})
    days = pd.Series(1.0, index=pd.to_datetime([s.date() for s in stamps if s is not None]))
    counts = days.groupby(level=0).sum()
    full = pd.date_range(counts.index.min(), counts.index.max(), freq="D")
    counts = counts.reindex(full, fill_value=0.0)
    return pd.DataFrame({"ds": counts.index, "y": counts.to_numpy()})


_forecasts: dict[tuple[int, str], dict[str, Any] | None] = {}
_forecast_lock = threading.Lock()


def _compute_forecast(frame: pd.DataFrame, simulated: bool, own_days: int) -> dict[str, Any]:
    from ssmas.campaigns.forecast import forecast_series, prepare_series

    result = forecast_series(
        prepare_series(frame), FORECAST_HORIZON, 80.0, with_arima=False, max_windows=6
    )
    shown = frame.tail(120)
    future = result.frame
    n_hist = len(shown)
    t = [float(v) for v in range(n_hist + len(future))]
    nothing: list[float | None] = [None] * n_hist
    history: list[float | None] = [float(v) for v in shown["y"]]
    chart = line_chart(
        t,
        [
            Line("conversions", history + [None] * len(future), color="#4a5568"),
            Line("forecast", nothing + [float(v) for v in future["yhat"]]),
        ],
        [
            Band(
                f"{result.level:g}% interval",
                nothing + [float(v) for v in future["yhat_lower"]],
                nothing + [float(v) for v in future["yhat_upper"]],
            )
        ],
        label="daily conversions and their forecast",
        x_label="day",
        y_label="conversions a day",
        x_ticks=[
            (0.0, f"{shown['ds'].iloc[0]:%Y-%m-%d}"),
            (float(n_hist - 1), f"{shown['ds'].iloc[-1]:%Y-%m-%d}"),
            (t[-1], f"{future['ds'].iloc[-1]:%Y-%m-%d}"),
        ],
    )
    ratio = None
    if result.backtest_mae is not None and result.naive_mae:
        ratio = result.backtest_mae / result.naive_mae
    return {
        "pending": False,
        "simulated": simulated,
        "own_days": own_days,
        "chart": chart,
        "result": result,
        "rows": future.to_dict("records"),
        "members": sorted(result.member_mae.items(), key=lambda kv: kv[1]),
        "weights": result.weights,
        "ratio": ratio,
    }


def forecast_context(platform: Platform, tenant_id: int, *, wait: bool = False) -> dict[str, Any]:
    """The forecast of the tenant's daily conversions (or a simulated tenant's, labelled so,
    while it has fewer than :data:`MIN_OWN_DAYS` days), computed once a day per series in a
    background thread: ``{"pending": True}`` until it is ready (``wait`` blocks instead)."""
    own = own_conversions(platform, tenant_id)
    simulated = len(own) < MIN_OWN_DAYS
    frame = simulated_conversions() if simulated else own
    last = pd.Timestamp(frame["ds"].iloc[-1])
    key = (tenant_id, f"{'sim' if simulated else 'own'}-{last:%Y-%m-%d}-{len(frame)}")

    def run() -> None:
        try:
            done: dict[str, Any] | None = _compute_forecast(frame, simulated, len(own))
        except Exception as exc:  # shown on the page; the next visit tries again
            done = {"pending": False, "error": str(exc)[:300]}
            with _forecast_lock:
                _forecasts.pop(key, None)
            _failed[key] = done
            return
        with _forecast_lock:
            _forecasts[key] = done

    with _forecast_lock:
        found = _forecasts.get(key)
        worker = _workers.get(key)
        if key not in _forecasts:
            for old in [k for k in _forecasts if k[0] == tenant_id]:
                del _forecasts[old]
                _workers.pop(old, None)
            _forecasts[key] = None
            worker = threading.Thread(target=run, name="campaigns-forecast-page", daemon=True)
            _workers[key] = worker
            worker.start()
    if key in _failed:
        return _failed.pop(key)
    if found is not None:
        return found
    if wait and worker is not None:
        worker.join()
        return _forecasts.get(key) or _failed.pop(key, {"pending": True})
    return {"pending": True}


_workers: dict[tuple[int, str], threading.Thread] = {}
_failed: dict[tuple[int, str], dict[str, Any]] = {}


async def _forecast_body(request: Request, view: Viewing) -> tuple[Markup, bool]:
    assert view.tenant is not None
    context = await run_in_threadpool(forecast_context, platform_of(request), view.tenant.id)
    markup = _html(
        "_forecast.html",
        **context,
        horizon=FORECAST_HORIZON,
        min_days=MIN_OWN_DAYS,
        tenant=view.tenant.slug,
    )
    return markup, bool(context.get("pending"))


@router.get(f"{BASE}/forecast")
async def forecast_page(request: Request, user: WebUserDep, tenant: TenantQuery = None) -> Response:
    if user is None:
        return login_redirect(request)
    view, refused = await _view(request, user, tenant, "Forecast")
    if refused is not None or view.tenant is None:
        return refused or login_redirect(request)
    markup, pending = await _forecast_body(request, view)
    body = _html(
        "forecast.html",
        body=markup,
        pending=pending,
        picker=_tenant_picker(view, f"{BASE}/forecast"),
        tenant=view.tenant.slug,
    )
    return render_page(request, user, group=GROUP, title="Forecast", body=body)


@router.get(f"{BASE}/forecast/body")
async def forecast_fragment(
    request: Request, user: WebUserDep, tenant: TenantQuery = None
) -> Response:
    if user is None:
        return login_redirect(request)
    view = await run_in_threadpool(_viewing, platform_of(request), user, tenant)
    if view.tenant is None:
        return _fragment(status_code=403)
    markup, pending = await _forecast_body(request, view)
    # a finished body stops the polling: htmx replaces the container's content only, so the
    # answer carries a header telling htmx to stop (286 is htmx's "stop polling" status)
    status = 200 if pending else 286
    return _fragment(markup, status)


# --- ROI -----------------------------------------------------------------------------------

Positive = Annotated[float, Query(gt=0, le=1e12)]
Share = Annotated[float, Query(gt=0, lt=1)]
Spread = Annotated[float, Query(ge=0, le=1e12)]

# the example portfolio the frontier is drawn for: (name, cost, reach, rate, value per conversion)
PORTFOLIO = (
    ("Buen Fin SMS", 1_200.0, 20_000.0, 0.012, 9.0),
    ("WhatsApp VIP", 900.0, 4_000.0, 0.045, 11.0),
    ("Reactivación", 600.0, 15_000.0, 0.006, 8.5),
    ("Regreso a clases", 1_500.0, 30_000.0, 0.009, 7.0),
    ("Referidos", 400.0, 2_500.0, 0.03, 9.0),
    ("Lanzamiento app", 2_000.0, 40_000.0, 0.007, 9.5),
)


def _plan(
    name: str, cost: float, reach: float, rate: float, value: float, cv: float
) -> CampaignPlan:
    return CampaignPlan(
        cost=Dist.lognormal(cost, cost * cv * 0.5),
        reach=Dist.lognormal(reach, reach * cv * 0.6),
        conversion_rate=Dist.beta(rate, rate * cv),
        value_per_conversion=Dist.lognormal(value, value * cv * 0.5),
        name=name,
    )


def roi_context(
    cost: float,
    cost_sd: float,
    reach: float,
    reach_sd: float,
    rate: float,
    rate_sd: float,
    value: float,
    value_sd: float,
    budget: float,
) -> dict[str, Any]:
    plan = CampaignPlan(
        cost=Dist.lognormal(cost, cost_sd) if cost_sd > 0 else Dist.fixed(cost),
        reach=Dist.lognormal(reach, reach_sd) if reach_sd > 0 else Dist.fixed(reach),
        conversion_rate=Dist.beta(rate, rate_sd) if rate_sd > 0 else Dist.fixed(rate),
        value_per_conversion=Dist.lognormal(value, value_sd) if value_sd > 0 else Dist.fixed(value),
        name="this plan",
    )
    sim = simulate_roi(plan, iterations=10_000, seed=0)
    lo, hi = np.percentile(sim.samples, [0.5, 99.5])
    counts, edges = np.histogram(np.clip(sim.samples, lo, hi), bins=40)
    bars = [
        Bar(
            f"{100 * edges[i]:+.0f}%",
            0.0,
            float(c),
            color="#c53030" if edges[i + 1] <= 0 else "#2b6cb0",
        )
        for i, c in enumerate(counts)
    ]
    histogram = bar_chart(bars, label="distribution of the simulated ROI")
    swing = tornado(plan)
    tornado_svg = bar_chart(
        [Bar(b.input, b.roi_at_low, b.roi_at_high) for b in swing.bars],
        label="ROI swing per input (10th to 90th percentile)",
        reference=swing.base_roi,
        vertical=False,
        height=40 + 34 * len(swing.bars),
    )
    entries = [
        PortfolioCampaign(p.name, s.mean, s.std, min_spend=0.05 * budget)
        for p, s in (
            (p, simulate_roi(p, iterations=10_000, seed=k))
            for k, p in enumerate(
                [plan] + [_plan(n, c, r, q, v, 0.35) for n, c, r, q, v in PORTFOLIO]
            )
        )
    ]
    frontier = efficient_frontier(entries, budget)
    chosen = optimise_portfolio(entries, budget, risk_aversion=2.0)
    frontier_svg = line_chart(
        [a.risk for a in frontier],
        [
            Line("efficient frontier", [a.expected_roi for a in frontier], markers=True),
        ],
        label="efficient frontier of the portfolio",
        x_label="risk (sd of the portfolio's ROI)",
        y_label="expected ROI of the budget",
        y_format=lambda v: f"{100 * v:+.0f}%",
    )
    return {
        "sim": sim,
        "interval": sim.interval(0.9),
        "histogram": histogram,
        "tornado": swing,
        "tornado_svg": tornado_svg,
        "entries": entries,
        "frontier": frontier,
        "frontier_svg": frontier_svg,
        "chosen": chosen,
        "budget": budget,
    }


@router.get(f"{BASE}/roi")
async def roi_page(
    request: Request,
    user: WebUserDep,
    tenant: TenantQuery = None,
    cost: Positive = 1000.0,
    cost_sd: Spread = 150.0,
    reach: Positive = 20_000.0,
    reach_sd: Spread = 3_000.0,
    rate: Share = 0.01,
    rate_sd: Spread = 0.003,
    value: Positive = 8.0,
    value_sd: Spread = 2.0,
    budget: Positive = 10_000.0,
) -> Response:
    if user is None:
        return login_redirect(request)
    view, refused = await _view(request, user, tenant, "ROI & portfolio")
    if refused is not None or view.tenant is None:
        return refused or login_redirect(request)
    inputs = {
        "cost": cost,
        "cost_sd": cost_sd,
        "reach": reach,
        "reach_sd": reach_sd,
        "rate": rate,
        "rate_sd": rate_sd,
        "value": value,
        "value_sd": value_sd,
        "budget": budget,
    }
    try:
        context = await run_in_threadpool(lambda: roi_context(**inputs))
        error = None
    except RoiInputError as exc:
        context, error = {}, str(exc)
    body = _html(
        "roi.html",
        **context,
        error=error,
        inputs=inputs,
        picker=_tenant_picker(view, f"{BASE}/roi"),
        tenant=view.tenant.slug,
        portfolio=PORTFOLIO,
    )
    status = 422 if error else 200
    return render_page(
        request, user, group=GROUP, title="ROI & portfolio", body=body, status_code=status
    )
