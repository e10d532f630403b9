"""``cmo eval``: evaluation runs with per-question scores, aggregates and a side-by-side comparison."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from cmo.cli.common import console, settings


def eval_command(
    dataset: Path = typer.Argument(..., help="PubMedQA-format JSON or a .jsonl evaluation set."),
    config: list[str] = typer.Option(["mode=hybrid"], "--config", "-c",
                                     help="A configuration, e.g. 'mode=naive,top_k=8'; give two to compare."),
    limit: int = typer.Option(50, help="Questions to run (0 = all)."),
    ingest: bool = typer.Option(False, help="First ingest the dataset's own texts (PubMedQA abstracts)."),
    workdir: Path = typer.Option(None, help="LightRAG working dir for this run (default LIGHTRAG_WORKING_DIR)."),
    out: Path = typer.Option(Path("eval-report.json"), help="Where to write the JSON report."),
) -> None:
    """Run questions through the knowledge base, score every answer, write a report (JSON + table)."""
    from rag_service.context import KnowledgeBase
    from rag_service.evaluation import ingest_corpus, load_dataset, parse_config, run_eval

    s = settings()
    if workdir is not None:
        s = s.model_copy(update={"lightrag_working_dir": workdir})
    items = load_dataset(dataset, limit or None)
    configs = [parse_config(c) for c in config]

    async def run() -> dict[str, Any]:
        kb = await KnowledgeBase.open(s, service="eval")
        try:
            if ingest:
                await ingest_corpus(kb, items, s.lightrag_working_dir / "eval_corpus")
            return await run_eval(kb, items, configs)
        finally:
            await kb.close()

    report = asyncio.run(run())
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print_report(report)
    console.print(f"report written to {out}")


def print_report(report: dict[str, Any]) -> None:
    configs = report["configs"]
    rows = {(r["item_id"], r["config"]): r for r in report["rows"]}
    per = Table("id", "question", *(f"{c}\ncomposite" for c in configs), *(f"{c}\nsource" for c in configs),
                title="Per question (relevance/accuracy/factual in the JSON report)")
    for item_id in dict.fromkeys(r["item_id"] for r in report["rows"]):
        first = rows[(item_id, configs[0])]
        cells = [rows.get((item_id, c), {}) for c in configs]
        per.add_row(item_id, first["question"][:60],
                    *(("error" if c.get("error") else _fmt(c.get("composite"))) for c in cells),
                    *({True: "hit", False: "miss", None: "-"}[c.get("source_hit")] for c in cells))
    console.print(per)
    aggregates = report["aggregates"]
    table = Table("metric", *aggregates, title=f"Evaluation ({report.get('scorer')} scorer)")
    for metric in next(iter(aggregates.values())):
        table.add_row(metric, *(_fmt(a[metric]) for a in aggregates.values()))
    console.print(table)
    comparison = report.get("comparison")
    if comparison:
        side = Table("metric", "mean Δ (b - a)", "b better", "a better", "ties",
                     title=f"{comparison['b']} vs {comparison['a']}: {comparison['verdict']}")
        for metric in ("relevance", "accuracy", "factual", "composite"):
            m = comparison[metric]
            side.add_row(metric, _fmt(m["mean_delta"]), str(m["b_better"]), str(m["a_better"]), str(m["ties"]))
        console.print(side)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) and not isinstance(value, bool) and value > 1 else (
        f"{float(value):.3f}")
