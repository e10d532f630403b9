"""The pure core imports no I/O library and never reads the clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "cmo"
PURE = sorted([*CORE.glob("domain/*.py"), *CORE.glob("events/*.py"), CORE / "topics.py",
               CORE / "schema_compat.py"])
FORBIDDEN = {"confluent_kafka", "faust", "clickhouse_connect", "chdb", "fastapi", "httpx",
             "lightrag", "sqlite3", "requests", "openai"}


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(CORE)))
def test_pure_modules_stay_pure(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                assert (node.value.id, node.attr) not in {("time", "time"), ("datetime", "now"),
                                                          ("time", "monotonic")}, path
            continue
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN, f"{path} imports {name}"
