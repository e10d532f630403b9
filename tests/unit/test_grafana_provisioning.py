"""Grafana provisioning: the committed dashboard is what the script makes from the .sql files."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from cmo.history.dashboards import DASHBOARDS

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "make_grafana_dashboard.py"
GRAFANA = REPO / "infra" / "grafana"
COMMITTED = GRAFANA / "dashboards" / "cmo.json"
COMPOSE = REPO / "infra" / "docker-compose.yml"
ENV_REF = re.compile(r"^\$\{[A-Z][A-Z0-9_]*\}$")


def _load_script() -> ModuleType:
    name = "make_grafana_dashboard"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


MAKER = _load_script()


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    return json.loads(COMMITTED.read_text(encoding="utf-8"))


def test_committed_dashboard_is_what_the_script_generates() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == MAKER.render(DASHBOARDS), (
        "infra/grafana/dashboards/cmo.json is stale; run "
        ".venv/bin/python scripts/make_grafana_dashboard.py and commit the result")


def test_every_dashboard_has_one_panel_with_its_translated_query(model: dict[str, Any]) -> None:
    panels = model["panels"]
    assert len(DASHBOARDS) > 0
    assert [p["title"] for p in panels] == [d.title for d in DASHBOARDS]
    assert len({p["id"] for p in panels}) == len(panels)
    for dashboard, panel in zip(DASHBOARDS, panels, strict=True):
        (target,) = panel["targets"]
        sql = target["rawSql"]
        assert target["datasource"]["uid"] == "cmo-clickhouse"
        assert not MAKER.PARAMETER_RE.search(sql), f"{dashboard.name}: a parameter left in"
        if "{start:" in dashboard.sql:
            assert "$__fromTime_ms" in sql, dashboard.name
        if "{end:" in dashboard.sql:
            assert "$__toTime_ms" in sql, dashboard.name
        expected = "table" if dashboard.chart.kind == "table" else ("timeseries", "barchart")
        assert panel["type"] in expected, (dashboard.name, panel["type"])


def test_panels_tile_the_grid_without_overlap(model: dict[str, Any]) -> None:
    cells: set[tuple[int, int]] = set()
    for panel in model["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24
        area = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not area & cells, panel["title"]
        cells |= area


@pytest.mark.parametrize(("sql", "expected"), [
    ("WHERE t >= {start:DateTime64(3)} AND t < {end:DateTime64(3)}",
     "WHERE t >= $__fromTime_ms AND t < $__toTime_ms"),
    ("WHERE t >= { start: DateTime64(3, 'UTC') }", "WHERE t >= $__fromTime_ms"),
    ("SELECT '{not a parameter}'", "SELECT '{not a parameter}'"),
])
def test_translate_sql_maps_time_parameters_to_macros(sql: str, expected: str) -> None:
    assert MAKER.translate_sql("x", sql) == expected


def test_server_parameters_become_quoted_dashboard_variables(model: dict[str, Any]) -> None:
    sql = "SELECT {daily_budget:Float64} AS b, {who:String} AS w"
    assert MAKER.translate_sql("x", sql, {"daily_budget", "who"}) == (
        "SELECT toFloat64(${daily_budget:sqlstring}) AS b, ${who:sqlstring} AS w")
    defaults = MAKER.default_variables()
    variables = {v["name"]: v for v in model["templating"]["list"]}
    used = {p for d in DASHBOARDS for p in d.parameters} - {"start", "end"}
    assert set(variables) == used
    for name, variable in variables.items():
        assert variable["type"] == "textbox"
        assert variable["query"] == str(defaults[name])


@pytest.mark.parametrize("sql", [
    "WHERE backend = {backend:String}",
    "WHERE t >= {start:DateTime}",
    "WHERE n = {daily_budget:Array(String)}",
])
def test_translate_sql_refuses_parameters_grafana_cannot_fill(sql: str) -> None:
    with pytest.raises(ValueError, match="x.sql"):
        MAKER.translate_sql("x", sql, {"daily_budget"})


def test_datasource_takes_every_connection_setting_from_the_environment() -> None:
    config = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "clickhouse.yaml")
                            .read_text(encoding="utf-8"))
    (source,) = config["datasources"]
    assert source["type"] == "grafana-clickhouse-datasource"
    assert source["uid"] == MAKER.DATASOURCE["uid"]
    for key in ("host", "port", "username", "defaultDatabase"):
        assert ENV_REF.match(str(source["jsonData"][key])), key
    assert source["secureJsonData"] == {"password": "${CLICKHOUSE_PASSWORD}"}


def test_dashboard_provider_reads_the_folder_compose_mounts() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "cmo.yaml")
                              .read_text(encoding="utf-8"))["providers"][0]
    assert provider["type"] == "file"
    grafana = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]["grafana"]
    mounts = dict(v.removesuffix(":ro").split(":", 1) for v in grafana["volumes"]
                  if v.startswith("./"))
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"


def test_compose_passes_grafana_credentials_through_without_defaults() -> None:
    grafana = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]["grafana"]
    env = grafana["environment"]
    for secret in ("GF_SECURITY_ADMIN_USER", "GF_SECURITY_ADMIN_PASSWORD", "CLICKHOUSE_USER",
                   "CLICKHOUSE_PASSWORD"):
        assert secret in env, f"{secret} must be passed through from the caller's environment"
        assert secret in grafana["entrypoint"][-1], f"{secret} must be required at start"
