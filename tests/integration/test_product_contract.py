"""The product contract: a product is its own package plus one line in the composition root.

The sample product (``tests/fakes/sample_product``) is added the way a newcomer would add one:
one more entry in ``ssmas.bootstrap.PRODUCT_MODULES``. Then the API app mounts its router and
page and starts its runtime, ``/ready`` runs its check, ``ssmas`` gains its sub-command, ``ssmas
worker sample`` knows its worker, and ``ssmas up`` / ``ssmas demo`` run its loops.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ssmas import bootstrap
from ssmas.cli import app as cli_app
from ssmas.core.platform import Platform, build_platform
from ssmas.core.product import Product, ProductError, WorkerSpec
from ssmas.core.security.keys import create_api_key
from ssmas.server import product_workers, start_workers
from ssmas.settings import Settings
from tests.fakes.sample_product.parts import SampleRuntime

SRC = Path(__file__).resolve().parents[2] / "src" / "ssmas"
SAMPLE = "tests.fakes.sample_product.product"


@pytest.fixture()
def with_sample(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The one line a newcomer adds to the composition root."""
    monkeypatch.setattr(bootstrap, "PRODUCT_MODULES", (*bootstrap.PRODUCT_MODULES, SAMPLE))
    bootstrap.all_products.cache_clear()
    yield
    bootstrap.all_products.cache_clear()


def _key(platform: Platform) -> str:
    with platform.uow() as uow:
        raw, _ = create_api_key(uow.session, "sample", ["*"])
        uow.commit()
    return str(raw)


def test_the_app_mounts_starts_and_stops_the_added_product(
    settings: Settings, with_sample: None
) -> None:
    platform = build_platform(settings)
    try:
        raw = _key(platform)
        with TestClient(bootstrap.create_app(platform)) as client:
            runtime = platform.runtime("sample", SampleRuntime)
            assert runtime is not None and runtime.events == ["started"]
            answer = client.get("/v1/sample/hello", headers={"X-API-Key": raw})
            assert answer.json() == {"greeting": f"hello from {settings.data_dir.name}"}
            assert client.get("/v1/sample/hello").status_code == 401
            assert client.get("/dashboard/sample/overview").text == "<h1>Sample</h1>"
            ready = client.get("/ready").json()
            assert ready["checks"]["sample"]["ok"] is True
            assert "/v1/sample/hello" in client.get("/openapi.json").json()["paths"]
        assert runtime.events == ["started", "stopped"]
        assert platform.runtime("sample", SampleRuntime) is runtime  # the platform owns it
    finally:
        platform.close()
    assert runtime.events[-1] == "closed"  # closing the platform closes its runtimes
    assert platform.runtimes == {}


def test_without_the_line_the_product_is_absent(settings: Settings) -> None:
    assert all(p.name != "sample" for p in bootstrap.all_products())
    with TestClient(bootstrap.create_app(settings=settings)) as client:
        assert client.get("/v1/sample/hello").status_code == 404


def test_the_cli_gains_the_product_sub_command(with_sample: None) -> None:
    runner = CliRunner()
    listing = runner.invoke(cli_app, ["--help"])
    assert listing.exit_code == 0
    assert "sample" in listing.output and "A sample product for the tests" in listing.output
    greeted = runner.invoke(cli_app, ["sample", "greet", "team"])
    assert greeted.exit_code == 0 and greeted.output.strip() == "sample greets team"
    unknown = runner.invoke(cli_app, ["worker", "sample", "--only", "nope"])
    assert unknown.exit_code == 2
    assert "sample has no worker 'nope' (known: marker)" in unknown.output


def test_up_and_demo_run_the_products_loops(settings: Settings, with_sample: None) -> None:
    products = bootstrap.all_products()
    specs = product_workers(products)
    assert ("sample.marker", "tests.fakes.sample_product.parts:run_marker") in specs
    assert all(label != "sample.demo" for label, _ in specs)
    demo_specs = product_workers(products, demo=True)
    assert ("sample.demo", "tests.fakes.sample_product.parts:run_demo") in demo_specs
    platform = build_platform(settings)
    stop = threading.Event()
    try:
        sample = [s for s in demo_specs if s[0].startswith("sample.")]
        threads = start_workers(platform, stop, sample)
        marks = [settings.data_dir / "sample-worker.marks", settings.data_dir / "sample-demo.marks"]
        deadline = threading.Event()
        for _ in range(200):
            if all(m.exists() for m in marks):
                break
            deadline.wait(0.05)
        stop.set()
        for thread in threads:
            thread.join(10)
    finally:
        platform.close()
    assert [m.read_text() for m in marks] == ["started\nstopped\n"] * 2


def test_bad_declarations_are_refused() -> None:
    with pytest.raises(ProductError, match="lower-case identifier"):
        Product(name="Bad Name", summary="x")
    with pytest.raises(ProductError, match="names a worker twice"):
        Product(name="twice", summary="x", workers=(WorkerSpec("a", "m:f"), WorkerSpec("a", "m:g")))
    with pytest.raises(ProductError, match="no PRODUCT"):
        bootstrap.load_products(["ssmas.settings"])
    with pytest.raises(ProductError, match="two products are called 'pricing'"):
        bootstrap.load_products(["ssmas.pricing.product", "ssmas.pricing.product"])
    with pytest.raises(ProductError, match="no product called 'nope'"):
        bootstrap.find_product("nope")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_core_imports_no_product_and_not_the_composition_root() -> None:
    products = {p.name for p in bootstrap.all_products()}
    forbidden = {"ssmas.bootstrap", *(f"ssmas.{name}" for name in products), "ssmas.server"}
    offenders = {
        str(path.relative_to(SRC)): sorted(
            name
            for name in _imports(path)
            if any(name == f or name.startswith(f + ".") for f in forbidden)
        )
        for path in (SRC / "core").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_module_keeps_state_per_platform_id() -> None:
    # Per-platform state keyed by an object's id: the pattern the product contract replaced.
    keyed = ("id(platform", "id(request.app.state.platform", "id(runtime.platform", "id(owner)")
    found = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if any(k in path.read_text() for k in keyed)
    ]
    assert found == []


def test_help_imports_no_product_code() -> None:
    probe = (
        "import sys\n"
        "from ssmas.cli import app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('fastapi', 'numpy', 'sqlalchemy', 'ssmas.pricing.api',\n"
        "         'ssmas.assistant.routes', 'ssmas.server') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert "HEAVY []" in out, out


def test_a_slow_runtime_build_holds_up_only_its_own_name(settings: Settings) -> None:
    platform = build_platform(settings)
    release = threading.Event()
    started = threading.Event()
    built: list[str] = []

    def slow(_p: Platform) -> SampleRuntime:
        started.set()
        release.wait(10)
        built.append("slow")
        return SampleRuntime(greeting="slow")

    try:
        waiting = [
            threading.Thread(target=platform.runtime_or_build, args=("slow", SampleRuntime, slow))
            for _ in range(2)
        ]
        for thread in waiting:
            thread.start()
        assert started.wait(10)
        # Another name is built while "slow" is still building.
        quick = platform.runtime_or_build("quick", SampleRuntime, lambda _p: SampleRuntime("q"))
        assert quick.greeting == "q"
        release.set()
        for thread in waiting:
            thread.join(10)
        assert built == ["slow"]  # built once for both callers
        assert platform.runtime("slow", SampleRuntime) is not None
        with pytest.raises(TypeError, match="not Platform"):
            platform.runtime("quick", Platform)
    finally:
        platform.close()
