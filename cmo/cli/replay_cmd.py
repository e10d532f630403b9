"""``cmo replay``: re-run historical questions against a candidate backend, with a migration report."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cmo.cli.common import console, err_console, settings


def replay_command(
    start: str = typer.Option(..., "--from", help="Window start: ISO 8601 or epoch milliseconds."),
    end: str = typer.Option(..., "--to", help="Window end: ISO 8601 or epoch milliseconds."),
    backend: str = typer.Option(..., help="Candidate backend: lightrag or perplexity."),
    baseline: str | None = typer.Option(None, help="Baseline backend (default: the other one)."),
    config: Annotated[Path | None, typer.Option(
        help='JSON candidate overrides, e.g. {"mode": "naive", "top_k": 8}.')] = None,
    limit: int = typer.Option(0, help="Questions to replay (0 = all in the window)."),
    min_questions: int = typer.Option(10, help="Questions the verdict needs before it can say ready."),
    out: Annotated[Path | None, typer.Option(help="Where to write the JSON report.")] = None,
) -> None:
    """Replay QueryReceived questions from a time window on two backends; write ShadowComparison events."""
    from cmo.adapters.factory import make_serializer
    from cmo.adapters.perplexity import PerplexityBackend, perplexity_config
    from rag_service.context import KnowledgeBase
    from rag_service.replay import load_specs, parse_time, replay

    s = settings()
    start_ms, end_ms = parse_time(start), parse_time(end)
    base_spec, cand_spec = load_specs(backend, baseline, config)

    async def run() -> dict[str, Any]:
        kb = await KnowledgeBase.open(s, service="replay")
        web = PerplexityBackend(perplexity_config(s))
        try:
            return await replay(kb, web, make_serializer(s), start_ms, end_ms, base_spec, cand_spec,
                                limit or None, min_questions)
        finally:
            await web.close()
            await kb.close()

    report = asyncio.run(run())
    if out is not None:
        out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    print_report(report)
    if out is not None:
        console.print(f"report written to {out}")


def print_report(report: dict[str, Any]) -> None:
    if report["unavailable"]:
        err_console.print(f"[yellow]{report['unavailable']}[/yellow]", markup=True, highlight=False)
    per = Table("query", "question", f"baseline\n{report['baseline']}", f"candidate\n{report['candidate']}",
                "similarity", title=f"Replay {report['replay_run_id']}")
    for row in report["rows"]:
        per.add_row(row["query_id"][:12], row["question"][:60], _fmt(row["baseline_quality"]),
                    _fmt(row["candidate_quality"]), "error" if row["error"] else _fmt(row["similarity"]))
    console.print(per)
    agg = report["aggregates"]
    table = Table("metric", "baseline", "candidate", title="Aggregates")
    for metric in ("mean_quality", "answered", "latency_p50_ms", "latency_p95_ms", "total_cost_usd"):
        table.add_row(metric, _fmt(agg["baseline"][metric]), _fmt(agg["candidate"][metric]))
    console.print(table)
    console.print(f"mean similarity {_fmt(agg['mean_similarity'])}, citation overlap "
                  f"{_fmt(agg['mean_citation_overlap'])}; candidate wins {agg['candidate_wins']}, "
                  f"losses {agg['candidate_losses']}, ties {agg['ties']} on composite")
    verdict = report["verdict"]
    colour = "green" if verdict["ready"] else "red"
    console.print(f"[{colour}]{verdict['message']}[/{colour}]", highlight=False)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{float(value):.3f}"
