"""Schema evolution guard: ``cmo schemas check`` and ``cmo schemas freeze``.

Every released version of a record lives in ``schemas/versions/<Name>/v<N>.avsc``
(committed; the single-object decoder also uses them to read old data). ``check``
fails when the current ``schemas/<Name>.avsc`` breaks BACKWARD_TRANSITIVE
compatibility with any earlier version, drops a field that had no default, lacks field
documentation, or leaves the shared namespace/envelope. ``freeze`` records the current
schema as the next version when it changed.
"""

from __future__ import annotations

import json
from pathlib import Path

from cmo.adapters.avro import SchemaStore, fingerprint
from cmo.schema_compat import check_backward_transitive

NAMESPACE = "org.cmo.events"
ENVELOPE = ("event_id", "event_time", "correlation_id", "service")


def lint(name: str, raw: object) -> list[str]:
    """House rules every event schema follows."""
    if not isinstance(raw, dict):
        return [f"{name}: top level must be a record"]
    problems = []
    if raw.get("namespace") != NAMESPACE:
        problems.append(f"{name}: namespace must be {NAMESPACE!r}")
    fields = raw.get("fields", [])
    names = [f.get("name") for f in fields]
    if tuple(names[: len(ENVELOPE)]) != ENVELOPE:
        problems.append(f"{name}: must start with the envelope fields {', '.join(ENVELOPE)}")
    for field in fields:
        if not str(field.get("doc", "")).strip():
            problems.append(f"{name}.{field.get('name')}: field has no doc")
    return problems


def check(schema_dir: Path) -> list[str]:
    """Every problem with the schemas in schema_dir (empty list = OK)."""
    store = SchemaStore(schema_dir)
    problems: list[str] = []
    for name, current in sorted(store.current.items()):
        problems += lint(name, current.raw)
        versions = [v.raw for v in store.history.get(name, [])]
        if not versions:
            problems.append(f"{name}: no released version in versions/{name}/ (run `cmo schemas freeze`)")
            continue
        problems += [f"{name} {p}" for p in check_backward_transitive(current.raw, versions)]
    return problems


def freeze(schema_dir: Path) -> list[str]:
    """Record each changed current schema as versions/<Name>/v<N+1>.avsc; returns what was written."""
    problems = check(schema_dir)
    blocking = [p for p in problems if "no released version" not in p]
    if blocking:
        raise ValueError("refusing to freeze incompatible schemas:\n" + "\n".join(blocking))
    store = SchemaStore(schema_dir)
    written = []
    for name, current in sorted(store.current.items()):
        history = store.history.get(name, [])
        if history and history[-1].fingerprint == fingerprint(current.raw) and history[-1].raw == current.raw:
            continue
        number = (history[-1].version or 0) + 1 if history else 1
        target = schema_dir / "versions" / name / f"v{number}.avsc"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(current.raw, indent=2) + "\n", encoding="utf-8")
        written.append(str(target))
    return written
