"""`cmo eval` as a user runs it: PubMedQA questions through the knowledge base, scored, compared."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cmo.config import Settings
from cmo.quality.report import EvalRow, build_report
from tests.conftest import PUBMEDQA

pytestmark = pytest.mark.integration


@pytest.mark.skipif(not PUBMEDQA.exists(), reason="PubMedQA dev data not present")
def test_cmo_eval_on_pubmedqa_compares_two_configurations(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("LIGHTRAG_", "KAFKA_", "CMO_"))},
           "CMO_HOME": str(tmp_path / "home"), "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
           "KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix}
    result = subprocess.run(
        [sys.executable, "-m", "cmo", "eval", str(PUBMEDQA), "--limit", "8", "--ingest",
         "--workdir", str(tmp_path / "lightrag"), "-c", "mode=hybrid", "-c", "mode=naive,top_k=3",
         "--out", str(out)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["scorer"] == "offline" and report["configs"] == ["mode=hybrid", "mode=naive,top_k=3"]
    assert len(report["rows"]) == 16 and all(r["error"] is None for r in report["rows"])
    for config in report["configs"]:
        agg = report["aggregates"][config]
        assert agg["questions"] == 8 and agg["source_hit_rate"] >= 0.75
        assert 0.5 < agg["composite"] <= 1 and agg["reference_similarity"] > 0.3
    assert report["comparison"]["questions"] == 8 and report["comparison"]["verdict"]
    assert "Per question" in result.stdout and "vs mode=hybrid" in result.stdout


def test_report_aggregates_and_comparison() -> None:
    def row(item: str, config: str, composite: float, hit: bool | None) -> EvalRow:
        return EvalRow(item, config, "q", "a", composite, composite, composite, composite,
                       composite >= 0.8, hit, 0.5, 10.0, 1)

    rows = [row("1", "a", 0.9, True), row("1", "b", 0.7, False), row("2", "a", 0.6, True),
            row("2", "b", 0.6, None), EvalRow("3", "b", "q", "", 0, 0, 0, 0, False, None, None, 1, 0,
                                              error="backend down")]
    report = build_report(rows, ["a", "b"])
    assert report["aggregates"]["a"]["composite"] == 0.75 and report["aggregates"]["a"]["pass_rate"] == 0.5
    assert report["aggregates"]["b"]["errors"] == 1 and report["aggregates"]["b"]["source_hit_rate"] == 0.0
    comparison = report["comparison"]
    assert comparison["questions"] == 2 and comparison["composite"]["a_better"] == 1
    assert comparison["composite"]["ties"] == 1 and comparison["verdict"] == "a better"
