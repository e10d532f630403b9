"""What the chat shows for an answer: text, source and quality indicators, citations. Pure.

Works on the JSON of ``POST /v1/ask`` (a routed answer): ``backend``, ``text``,
``citations`` (title, page, quote, url), ``route`` (backend, reason, cohort), ``quality``
(``composite``), ``extractive``, ``label``, ``fallback_from``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cmo.domain.quality_badge import quality_badge

SOURCES = {
    "lightrag": "**Source:** knowledge graph (the lab's papers)",
    "perplexity": "**Source:** web search (Perplexity)",
}
BADGE_MARKS = {"excellent": "★★★", "good": "★★☆", "acceptable": "★☆☆", "low": "☆☆☆"}
ROUTING_NOTES = {
    "budget": "The spending budget is used up: paid backends are paused, so the knowledge "
              "graph answered.",
    "breaker-open": "A backend is failing (circuit breaker open): the other one answered.",
}
MODES = ("hybrid", "mix", "local", "global", "naive")
EXTRACTIVE = "Extracted from sources: every sentence is quoted verbatim from a cited passage."


@dataclass(frozen=True)
class CitationView:
    name: str      # "[n]", like the marker in the answer text
    content: str   # markdown: title, page, quoted passage


def citation_name(number: int) -> str:
    return f"[{number}]"


def where(citation: dict[str, Any]) -> str:
    page = citation.get("page")
    title = str(citation.get("title") or citation.get("url") or "untitled source")
    return f"{title}, p. {page}" if page else title


def citation_views(citations: list[dict[str, Any]]) -> list[CitationView]:
    views = []
    for number, c in enumerate(citations, start=1):
        quote = str(c.get("quote") or "").strip()
        lines = [f"**{where(c)}**"]
        if c.get("url"):
            lines.append(str(c["url"]))
        if quote:
            lines.append("> " + quote.replace("\n", "\n> "))
        views.append(CitationView(citation_name(number), "\n\n".join(lines)))
    return views


def routing_summary(route: dict[str, Any]) -> str:
    """One line for the routing step: backend, reason, cohort."""
    parts = [f"backend: **{route.get('backend')}**", f"reason: {route.get('reason')}"]
    if route.get("cohort"):
        parts.append(f"cohort: {route['cohort']}")
    if route.get("variant"):
        parts.append(f"variant: {route['variant']}")
    return " · ".join(parts)


def retrieval_summary(answer: dict[str, Any]) -> str:
    citations = answer.get("citations") or []
    papers = sorted({where(c).rsplit(", p. ", 1)[0] for c in citations})
    head = f"{len(citations)} cited passage(s) from {len(papers)} source(s)"
    return head + ("".join(f"\n- {p}" for p in papers) if papers else "")


def indicators(answer: dict[str, Any]) -> list[str]:
    """Source and quality indicators, plus notes on how the answer was made."""
    lines = [SOURCES.get(str(answer.get("backend")), f"**Source:** {answer.get('backend')}")]
    quality = answer.get("quality") or {}
    badge = quality_badge(quality.get("composite") if isinstance(quality, dict) else None)
    if badge is not None:
        lines.append(f"**Quality:** {badge.label} ({badge.score:.2f}) {BADGE_MARKS[badge.level]}")
    else:
        lines.append("**Quality:** not scored")
    reason = str((answer.get("route") or {}).get("reason") or "")
    if reason in ROUTING_NOTES:
        lines.append(ROUTING_NOTES[reason])
    if answer.get("fallback_from"):
        lines.append(f"{answer['fallback_from']} could not answer well; this is the fallback.")
    return lines


def render_answer(answer: dict[str, Any], text: str | None = None, notes: tuple[str, ...] = ()) -> str:
    """The message body: answer text (``text`` overrides, e.g. a translation), then the indicators.

    The sources follow as one element per citation (:func:`citation_views`), titled [n].
    """
    body = (text if text is not None else str(answer.get("text") or "")).strip()
    # a translation is no longer verbatim: the extractive label only heads the original text
    verbatim = answer.get("extractive") and body and text is None
    parts = [f"_{answer.get('label') or EXTRACTIVE}_" if verbatim else "", body]
    parts.append("\n".join(f"{line}  " for line in (*indicators(answer), *notes)))
    return "\n\n".join(p for p in parts if p)


ERRORS = {
    "backend-down": "⚠ The answer service is not reachable right now. Please try again in a "
                    "moment; your question was recorded.",
    "budget": "⚠ The spending budget is used up and the knowledge graph could not answer. "
              "Please try again later or ask an administrator.",
    "breaker": "⚠ The answer backends are failing right now (circuit breaker open). Please try "
               "again in a minute.",
    "empty-kb": "⚠ The knowledge base has no answer to this question (it may be empty or not "
                "cover the topic). Ask an administrator to ingest papers with `cmo ingest`.",
    "invalid": "⚠ This question cannot be answered as asked: {detail}",
    "failed": "⚠ No answer could be produced: {detail}",
}


def error_kind(detail: str, reason: str | None = None) -> str:
    """Classify a failure from the service's message and the routing reason."""
    lowered = detail.lower()
    if reason == "budget":
        return "budget"
    if reason == "breaker-open" or "breaker" in lowered:
        return "breaker"
    if "no answer" in lowered or "knowledge base is empty" in lowered:
        return "empty-kb"
    return "failed"


def error_message(kind: str, detail: str = "") -> str:
    return ERRORS.get(kind, ERRORS["failed"]).format(detail=detail or "unknown error")
