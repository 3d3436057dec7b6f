"""The retraining worker's configuration comes from ``settings.pricing``."""

from __future__ import annotations

from pathlib import Path

from ssmas.pricing.demo_model import demo_lake_dir
from ssmas.pricing.lifecycle.retraining import retrain_config
from ssmas.settings import PricingSettings, Settings


def test_the_configured_lake_and_window_are_used(tmp_path: Path) -> None:
    section = PricingSettings(lake=tmp_path / "elsewhere", retrain_window_days=7)
    config = retrain_config(Settings(profile="test", data_dir=tmp_path, pricing=section))
    assert (config.lake, config.window_days) == (tmp_path / "elsewhere", 7)


def test_without_a_lake_the_data_dir_lake_else_the_demo_lake(tmp_path: Path) -> None:
    settings = Settings(profile="test", data_dir=tmp_path, pricing=PricingSettings())
    assert retrain_config(settings).lake == demo_lake_dir(tmp_path)
    (tmp_path / "lake").mkdir()
    assert retrain_config(settings).lake == tmp_path / "lake"
    assert retrain_config(settings).window_days == 2
