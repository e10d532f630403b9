"""Tests for cmo.schema_compat (Avro schema resolution / BACKWARD_TRANSITIVE)."""

from __future__ import annotations

import copy
import io
from typing import Any

import fastavro
import pytest
from fastavro.utils import generate_many

from cmo.schema_compat import (
    check_backward_transitive,
    incompatibilities,
    removed_fields_without_default,
)

NS = "cmo.events"


def record(
    fields: list[dict[str, Any]], name: str = "QueryReceived", **extra: Any
) -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": NS, "fields": fields, **extra}


def fld(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


BASE_FIELDS = [fld("query_id", "string"), fld("user_id", "string"), fld("mode", "string")]
BASE = record(BASE_FIELDS)


def with_fields(*fields: dict[str, Any], drop: tuple[str, ...] = ()) -> dict[str, Any]:
    kept = [f for f in BASE_FIELDS if f["name"] not in drop]
    return record(copy.deepcopy(kept) + list(fields))


def changed(field_name: str, type_: Any) -> dict[str, Any]:
    return record(
        [fld(f["name"], type_ if f["name"] == field_name else f["type"]) for f in BASE_FIELDS]
    )


def enum(symbols: list[str], **extra: Any) -> dict[str, Any]:
    return {"type": "enum", "name": "Mode", "symbols": symbols, **extra}


def item(fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "record", "name": "Citation", "fields": fields}


def batch(item_fields: list[dict[str, Any]]) -> dict[str, Any]:
    return record([fld("items", {"type": "array", "items": item(item_fields)})], name="Batch")


def linked_list(value_type: str, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "type": "record",
        "name": "Node",
        "namespace": NS,
        "fields": [
            fld("value", value_type),
            fld("next", ["null", "Node"], default=None),
            *(extra or []),
        ],
    }


# (id, reader, writer) -- the reader can read the writer's data
COMPATIBLE: list[tuple[str, Any, Any]] = [
    ("identical", BASE, BASE),
    ("add field with default", with_fields(fld("lang", "string", default="en")), BASE),
    (
        "add nullable field with default",
        with_fields(fld("lang", ["null", "string"], default=None)),
        BASE,
    ),
    ("reader drops a writer field", with_fields(drop=("mode",)), BASE),
    ("int -> long", changed("mode", "long"), changed("mode", "int")),
    ("int -> float", changed("mode", "float"), changed("mode", "int")),
    ("int -> double", changed("mode", "double"), changed("mode", "int")),
    ("long -> float", changed("mode", "float"), changed("mode", "long")),
    ("long -> double", changed("mode", "double"), changed("mode", "long")),
    ("float -> double", changed("mode", "double"), changed("mode", "float")),
    ("string -> bytes", changed("mode", "bytes"), changed("mode", "string")),
    ("bytes -> string", changed("mode", "string"), changed("mode", "bytes")),
    (
        "enum symbol added",
        changed("mode", enum(["A", "B", "C"])),
        changed("mode", enum(["A", "B"])),
    ),
    (
        "enum symbol removed, reader default",
        changed("mode", enum(["A", "B"], default="A")),
        changed("mode", enum(["A", "B", "C"])),
    ),
    ("union widening from non-union", changed("mode", ["null", "string"]), BASE),
    (
        "union widening",
        changed("mode", ["null", "string", "int"]),
        changed("mode", ["null", "string"]),
    ),
    ("union reordered", changed("mode", ["string", "null"]), changed("mode", ["null", "string"])),
    ("union branch promotion", changed("mode", ["null", "long"]), changed("mode", "int")),
    (
        "writer union into wider primitive",
        changed("mode", "double"),
        changed("mode", ["int", "long"]),
    ),
    (
        "nested record in array: add field with default",
        batch([fld("doi", "string"), fld("year", "int", default=0)]),
        batch([fld("doi", "string")]),
    ),
    (
        "nested record in array: drop field",
        batch([fld("doi", "string")]),
        batch([fld("doi", "string"), fld("pmid", "long")]),
    ),
    (
        "map value promotion",
        changed("mode", {"type": "map", "values": "long"}),
        changed("mode", {"type": "map", "values": "int"}),
    ),
    (
        "array item promotion",
        changed("mode", {"type": "array", "items": "double"}),
        changed("mode", {"type": "array", "items": "float"}),
    ),
    (
        "fixed same size",
        changed("mode", {"type": "fixed", "name": "H", "size": 16}),
        changed("mode", {"type": "fixed", "name": "H", "size": 16}),
    ),
    (
        "logical type ignored",
        changed("mode", {"type": "long", "logicalType": "timestamp-millis"}),
        changed("mode", "long"),
    ),
    (
        "logical type on both sides",
        changed("mode", {"type": "long", "logicalType": "timestamp-micros"}),
        changed("mode", {"type": "int", "logicalType": "date"}),
    ),
    (
        "record renamed with alias",
        record(BASE_FIELDS, name="QueryAsked", aliases=["QueryReceived"]),
        BASE,
    ),
    (
        "field renamed with alias",
        record(
            [
                fld("query_id", "string"),
                fld("uid", "string", aliases=["user_id"]),
                fld("mode", "string"),
            ]
        ),
        BASE,
    ),
    (
        "namespace from enclosing record",
        record([fld("a", item([fld("doi", "string")])), fld("b", "Citation")]),
        record([fld("a", item([fld("doi", "string")])), fld("b", f"{NS}.Citation")]),
    ),
    ("dotted name", record(BASE_FIELDS, name=f"{NS}.QueryReceived"), BASE),
    ("top-level primitive promotion", "long", "int"),
    ("recursive linked list", linked_list("long"), linked_list("int")),
    (
        "recursive linked list, reader adds defaulted field",
        linked_list("int", [fld("tag", "string", default="")]),
        linked_list("int"),
    ),
]

# (id, reader, writer, expected message substrings)
INCOMPATIBLE: list[tuple[str, Any, Any, list[str]]] = [
    (
        "add field without default",
        with_fields(fld("lang", "string")),
        BASE,
        ["QueryReceived.lang: reader field 'lang' has no default and is missing from the writer"],
    ),
    (
        "string -> int",
        changed("mode", "int"),
        BASE,
        ["QueryReceived.mode: type 'string' cannot be read as 'int'"],
    ),
    (
        "long -> int",
        changed("mode", "int"),
        changed("mode", "long"),
        ["QueryReceived.mode: type 'long' cannot be read as 'int'"],
    ),
    (
        "double -> float",
        changed("mode", "float"),
        changed("mode", "double"),
        ["type 'double' cannot be read as 'float'"],
    ),
    (
        "enum symbol removed",
        changed("mode", enum(["A", "B"])),
        changed("mode", enum(["A", "B", "C"])),
        [
            "QueryReceived.mode: writer enum symbol(s) 'C' missing from reader enum 'cmo.events.Mode'"
        ],
    ),
    (
        "union narrowing to non-union",
        BASE,
        changed("mode", ["null", "string"]),
        ["QueryReceived.mode: type 'null' cannot be read as 'string'"],
    ),
    (
        "union narrowing",
        changed("mode", ["null", "string"]),
        changed("mode", ["null", "string", "int"]),
        ["QueryReceived.mode: type 'int' matches no branch of reader union [null, string]"],
    ),
    (
        "nested record in array: add field without default",
        batch([fld("doi", "string"), fld("year", "int")]),
        batch([fld("doi", "string")]),
        ["Batch.items[].year: reader field 'year' has no default"],
    ),
    (
        "map value type change",
        changed("mode", {"type": "map", "values": "int"}),
        changed("mode", {"type": "map", "values": "string"}),
        ["QueryReceived.mode{}: type 'string' cannot be read as 'int'"],
    ),
    (
        "fixed size change",
        changed("mode", {"type": "fixed", "name": "H", "size": 32}),
        changed("mode", {"type": "fixed", "name": "H", "size": 16}),
        ["fixed 'cmo.events.H' has size 32 but the writer's has size 16"],
    ),
    (
        "fixed renamed",
        changed("mode", {"type": "fixed", "name": "H2", "size": 16}),
        changed("mode", {"type": "fixed", "name": "H", "size": 16}),
        ["fixed name 'cmo.events.H' cannot be read as 'cmo.events.H2'"],
    ),
    (
        "record renamed without alias",
        record(BASE_FIELDS, name="QueryAsked"),
        BASE,
        [
            "<root>: record name 'cmo.events.QueryReceived' cannot be read as 'cmo.events.QueryAsked'"
        ],
    ),
    (
        "namespace changed",
        {**BASE, "namespace": "cmo.other"},
        BASE,
        ["record name 'cmo.events.QueryReceived' cannot be read as 'cmo.other.QueryReceived'"],
    ),
    (
        "field renamed without alias",
        record([fld("query_id", "string"), fld("uid", "string"), fld("mode", "string")]),
        BASE,
        ["QueryReceived.uid: reader field 'uid' has no default"],
    ),
    (
        "logical type does not hide underlying change",
        changed("mode", {"type": "int", "logicalType": "date"}),
        changed("mode", "long"),
        ["type 'long' cannot be read as 'int'"],
    ),
    (
        "array vs map",
        changed("mode", {"type": "array", "items": "string"}),
        changed("mode", {"type": "map", "values": "string"}),
        ["type 'map<string>' cannot be read as 'array<string>'"],
    ),
    ("top-level primitive", "int", "string", ["<root>: type 'string' cannot be read as 'int'"]),
    (
        "recursive linked list, incompatible value",
        linked_list("int"),
        linked_list("string"),
        ["Node.value: type 'string' cannot be read as 'int'"],
    ),
    (
        "recursive linked list, field without default",
        linked_list("int", [fld("tag", "string")]),
        linked_list("int"),
        ["Node.tag: reader field 'tag' has no default"],
    ),
    (
        "evolved record inside a union is explained",
        changed("mode", ["null", item([fld("doi", "string"), fld("year", "int")])]),
        changed("mode", ["null", item([fld("doi", "string")])]),
        [
            "QueryReceived.mode.year: reader field 'year' has no default and is missing from the writer"
        ],
    ),
]


@pytest.mark.parametrize(
    ("reader", "writer"), [c[1:] for c in COMPATIBLE], ids=[c[0] for c in COMPATIBLE]
)
def test_compatible(reader: Any, writer: Any) -> None:
    assert incompatibilities(reader, writer) == []


@pytest.mark.parametrize(
    ("reader", "writer", "expected"),
    [c[1:] for c in INCOMPATIBLE],
    ids=[c[0] for c in INCOMPATIBLE],
)
def test_incompatible(reader: Any, writer: Any, expected: list[str]) -> None:
    problems = incompatibilities(reader, writer)
    assert problems, "expected the change to be rejected"
    for needle in expected:
        assert any(needle in p for p in problems), (needle, problems)


# Recursive cases: random data generation may not terminate.  bytes -> string: random
# bytes are not valid UTF-8, which is a data problem, not a schema one.
NON_RECURSIVE_OK = [c for c in COMPATIBLE if "recursive" not in c[0] and c[0] != "bytes -> string"]


@pytest.mark.parametrize(
    ("reader", "writer"), [c[1:] for c in NON_RECURSIVE_OK], ids=[c[0] for c in NON_RECURSIVE_OK]
)
def test_compatible_cases_really_decode_with_fastavro(reader: Any, writer: Any) -> None:
    """Cross-check the verdicts against fastavro's actual schema resolution."""
    parsed_writer = fastavro.parse_schema(copy.deepcopy(writer), named_schemas={})
    parsed_reader = fastavro.parse_schema(copy.deepcopy(reader), named_schemas={})
    for datum in generate_many(parsed_writer, 5):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed_writer, datum)
        buf.seek(0)
        fastavro.schemaless_reader(buf, parsed_writer, parsed_reader)


def test_recursive_schema_terminates_with_mutual_recursion() -> None:
    tree: dict[str, Any] = {
        "type": "record",
        "name": "Tree",
        "fields": [
            fld("label", "string"),
            fld(
                "children",
                {
                    "type": "array",
                    "items": {
                        "type": "record",
                        "name": "Edge",
                        "fields": [fld("to", "Tree"), fld("w", "float")],
                    },
                },
            ),
        ],
    }
    evolved = copy.deepcopy(tree)
    evolved["fields"][1]["type"]["items"]["fields"][1]["type"] = "double"
    assert incompatibilities(evolved, tree) == []
    assert incompatibilities(tree, evolved) == [
        "Tree.children[].w: type 'double' cannot be read as 'float'"
    ]


def test_messages_are_deduplicated_and_unknown_names_raise() -> None:
    reader = record([fld("a", item([fld("x", "int")])), fld("b", "Citation")])
    writer = record([fld("a", item([fld("x", "string")])), fld("b", "Citation")])
    assert incompatibilities(reader, writer) == [
        "QueryReceived.a.x: type 'string' cannot be read as 'int'"
    ]
    with pytest.raises(ValueError, match="unknown type name 'cmo.events.Nope'"):
        incompatibilities(record([fld("a", "Nope")]), BASE)


# (id, new, old, expected substrings; [] = nothing removed)
REMOVALS: list[tuple[str, Any, Any, list[str]]] = [
    ("nothing removed", BASE, BASE, []),
    ("field added", with_fields(fld("lang", "string", default="en")), BASE, []),
    (
        "removed field without default",
        with_fields(drop=("user_id",)),
        BASE,
        ["QueryReceived.user_id: field removed, but it has no default"],
    ),
    (
        "removed field that had a default",
        BASE,
        with_fields(fld("lang", "string", default="en")),
        [],
    ),
    (
        "removed nested field without default",
        batch([fld("doi", "string")]),
        batch([fld("doi", "string"), fld("pmid", "long")]),
        ["Batch.items[].pmid: field removed"],
    ),
    (
        "renamed even with alias in new",
        record(
            [
                fld("query_id", "string"),
                fld("uid", "string", aliases=["user_id"]),
                fld("mode", "string"),
            ]
        ),
        BASE,
        ["QueryReceived.user_id: field removed"],
    ),
    ("type change is not a removal", changed("mode", "int"), BASE, []),
]


@pytest.mark.parametrize(
    ("new", "old", "expected"), [c[1:] for c in REMOVALS], ids=[c[0] for c in REMOVALS]
)
def test_removed_fields_without_default(new: Any, old: Any, expected: list[str]) -> None:
    found = removed_fields_without_default(new, old)
    assert len(found) == len(expected), found
    for needle, message in zip(expected, found, strict=True):
        assert needle in message


V1 = BASE
V2 = with_fields(fld("lang", "string", default="en"))
V3 = with_fields(
    fld("lang", "string", default="en"), fld("mode_v2", ["null", "long"], default=None)
)

# (id, new, previous versions, expected message prefixes/substrings; [] = accepted)
TRANSITIVE: list[tuple[str, Any, list[Any], list[str]]] = [
    ("no history", BASE, [], []),
    ("compatible with all", V3, [V1, V2], []),
    (
        "add field without default breaks every version",
        with_fields(fld("lang", "string"), fld("x", "int")),
        [V1, V2],
        [
            "against version 1: QueryReceived.lang",
            "against version 1: QueryReceived.x",
            "against version 2: QueryReceived.x",
        ],
    ),
    (
        "only the oldest version breaks",
        with_fields(fld("lang", "string")),
        [V1, V2],
        ["against version 1: QueryReceived.lang: reader field 'lang' has no default"],
    ),
    (
        "removing a field without default is rejected",
        with_fields(drop=("mode",)),
        [V1],
        ["against version 1: QueryReceived.mode: field removed"],
    ),
    ("removing a field that had a default passes", BASE, [V2], []),
    (
        "type change breaks the version that wrote it",
        changed("mode", "long"),
        [changed("mode", "int"), changed("mode", "string")],
        ["against version 2: QueryReceived.mode: type 'string' cannot be read as 'long'"],
    ),
]


@pytest.mark.parametrize(
    ("new", "previous", "expected"), [c[1:] for c in TRANSITIVE], ids=[c[0] for c in TRANSITIVE]
)
def test_check_backward_transitive(new: Any, previous: list[Any], expected: list[str]) -> None:
    found = check_backward_transitive(new, previous)
    assert len(found) == len(expected), found
    for needle in expected:
        assert any(m.startswith(needle) or needle in m for m in found), (needle, found)
