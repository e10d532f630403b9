"""Avro schema compatibility checking (Avro "Schema Resolution" semantics).

Pure-Python, stdlib-only checker that answers "can a *reader* schema decode data
written with a *writer* schema?" and explains every reason it cannot.  Schemas are
the JSON-like objects produced by ``json.load`` on an ``.avsc`` file.

Rules (Avro specification, "Schema Resolution"; Confluent Schema Registry BACKWARD):

* primitives match themselves, plus the promotions int -> long/float/double,
  long -> float/double, float -> double and string <-> bytes;
* named types (record/enum/fixed) must have the same full name, or the writer's
  full name must be one of the reader's aliases; references by name are
  resolved inside each schema, honouring namespaces;
* records: every reader field must exist in the writer (by name or by one of the
  reader field's aliases) or carry a default; extra writer fields are skipped;
* enums: writer symbols unknown to the reader are an error unless the reader enum
  declares a ``default``; fixed: same size; arrays/maps: items/values recursively;
* unions: every branch of a writer union must be readable; a non-union writer
  must be readable by at least one branch of a reader union;
* logical types are ignored (the underlying type decides);
* recursive schemas terminate: (reader name, writer name) pairs are memoised and
  assumed compatible while being checked, like the Java reference implementation.

On top of BACKWARD_TRANSITIVE, :func:`check_backward_transitive` enforces the product
rule "a change that removes a field without a default is rejected" via
:func:`removed_fields_without_default`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, TypeAlias

__all__ = ["check_backward_transitive", "incompatibilities", "removed_fields_without_default"]

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})

# reader type -> writer types it can additionally read
_PROMOTIONS: dict[str, frozenset[str]] = {
    "long": frozenset({"int"}),
    "float": frozenset({"int", "long"}),
    "double": frozenset({"int", "long", "float"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}

_MISSING_FIELD, _OTHER = "missing_field", "other"


@dataclass(frozen=True)
class _Ref:
    """Reference to a named type by its full name."""

    name: str


@dataclass
class _Field:
    name: str
    aliases: tuple[str, ...]
    type: _Node
    has_default: bool


@dataclass
class _Record:
    name: str
    aliases: tuple[str, ...]
    fields: list[_Field] = field(default_factory=list)


@dataclass
class _Enum:
    name: str
    aliases: tuple[str, ...]
    symbols: tuple[str, ...]
    has_default: bool


@dataclass
class _Fixed:
    name: str
    aliases: tuple[str, ...]
    size: int


@dataclass
class _Array:
    items: _Node


@dataclass
class _Map:
    values: _Node


@dataclass
class _Union:
    branches: tuple[_Node, ...]


_Named: TypeAlias = _Record | _Enum | _Fixed
_Node: TypeAlias = str | _Ref | _Record | _Enum | _Fixed | _Array | _Map | _Union


class _InvalidSchemaError(ValueError):
    """Raised for malformed schemas (a ValueError, so callers can catch that)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"invalid Avro schema: {detail}")


class _Problem(NamedTuple):
    kind: str
    path: str
    detail: str


def _short(name: str) -> str:
    return name.rpartition(".")[2]


def _qualify(name: str, namespace: str) -> str:
    if "." in name or not namespace:
        return name.lstrip(".")
    return f"{namespace}.{name}"


def _str_list(value: object, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _InvalidSchemaError(f"{what} must be a list of strings")
    return tuple(str(v) for v in value)


class _Schema:
    """A parsed schema: its root node plus a registry of named types by full name."""

    def __init__(self, raw: object) -> None:
        self.named: dict[str, _Named] = {}
        self.refs: list[_Ref] = []
        self.root: _Node = self._parse(raw, "")
        for ref in self.refs:  # fail fast on unknown names, even where never compared
            self.deref(ref)

    def _parse(self, s: object, ns: str) -> _Node:
        if isinstance(s, str):
            if s in _PRIMITIVES:
                return s
            self.refs.append(ref := _Ref(_qualify(s, ns)))
            return ref
        if isinstance(s, list):
            return _Union(tuple(self._parse(b, ns) for b in s))
        if not isinstance(s, Mapping):
            raise _InvalidSchemaError(f"unexpected {type(s).__name__} {s!r}")
        t = s.get("type")
        if isinstance(t, (list, Mapping)):
            return self._parse(t, ns)
        if not isinstance(t, str):
            raise _InvalidSchemaError(f"missing or bad 'type' in {dict(s)!r}")
        if t == "array":
            return _Array(self._parse(self._require(s, "items"), ns))
        if t == "map":
            return _Map(self._parse(self._require(s, "values"), ns))
        if t in ("record", "error", "enum", "fixed"):
            return self._parse_named(s, t, ns)
        return self._parse(t, ns)  # primitive (possibly with a logicalType) or a reference

    @staticmethod
    def _require(s: Mapping[object, object], key: str) -> object:
        if key not in s:
            raise _InvalidSchemaError(f"{s.get('type')!r} needs {key!r}")
        return s[key]

    def _parse_named(self, s: Mapping[object, object], t: str, ns: str) -> _Named:
        name = s.get("name")
        if not isinstance(name, str) or not name:
            raise _InvalidSchemaError(f"{t} without a name")
        if "." in name:
            full = name.lstrip(".")
            own_ns = full.rpartition(".")[0]
        else:
            declared = s.get("namespace")
            own_ns = declared if isinstance(declared, str) else ns
            full = _qualify(name, own_ns)
        if full in self.named:
            raise _InvalidSchemaError(f"{full!r} is defined twice")
        aliases = tuple(_qualify(a, own_ns) for a in _str_list(s.get("aliases"), "aliases"))
        node: _Named
        if t == "enum":
            symbols = _str_list(self._require(s, "symbols"), "symbols")
            node = _Enum(full, aliases, symbols, "default" in s)
        elif t == "fixed":
            size = self._require(s, "size")
            if not isinstance(size, int):
                raise _InvalidSchemaError(f"fixed {full!r} size must be an int")
            node = _Fixed(full, aliases, size)
        else:
            node = _Record(full, aliases)
        self.named[full] = node  # registered before fields so self-references resolve
        if isinstance(node, _Record):
            raw_fields = self._require(s, "fields")
            if not isinstance(raw_fields, list):
                raise _InvalidSchemaError(f"fields of {full!r} must be a list")
            for f in raw_fields:
                if not isinstance(f, Mapping) or not isinstance(f.get("name"), str):
                    raise _InvalidSchemaError(f"bad field in {full!r}: {f!r}")
                node.fields.append(
                    _Field(
                        name=str(f["name"]),
                        aliases=_str_list(f.get("aliases"), "field aliases"),
                        type=self._parse(self._require(f, "type"), own_ns),
                        has_default="default" in f,
                    )
                )
        return node

    def deref(self, node: _Node) -> _Node:
        if not isinstance(node, _Ref):
            return node
        found = self.named.get(node.name)
        if found is None:  # lenient fallback: a null-namespace type referenced from a namespace
            found = self.named.get(_short(node.name))
        if found is None:
            raise _InvalidSchemaError(f"unknown type name {node.name!r}")
        return found


def _describe(node: _Node) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, (_Ref, _Record, _Enum, _Fixed)):
        return node.name
    if isinstance(node, _Array):
        return f"array<{_describe(node.items)}>"
    if isinstance(node, _Map):
        return f"map<{_describe(node.values)}>"
    return "[" + ", ".join(_describe(b) for b in node.branches) + "]"


def _same_kind(reader: _Node, writer: _Node) -> bool:
    """Whether a reader union branch is the evident counterpart of the writer type."""
    if isinstance(reader, (_Record, _Enum, _Fixed)):
        pair = _named_pair(reader, writer)
        return pair is not None and _names_match(*pair)
    if isinstance(reader, str):
        return reader == writer
    return type(reader) is type(writer)


def _named_pair(reader: _Node, writer: _Node) -> tuple[_Named, _Named] | None:
    """The two nodes as a (reader, writer) pair if both are named types of the same kind."""
    for cls in (_Record, _Enum, _Fixed):
        if isinstance(reader, cls) and isinstance(writer, cls):
            return reader, writer
    return None


def _names_match(reader: _Named, writer: _Named) -> bool:
    return reader.name == writer.name or writer.name in reader.aliases


class _Checker:
    def __init__(self, reader: _Schema, writer: _Schema) -> None:
        self.reader = reader
        self.writer = writer
        # (reader full name, writer full name) -> problems; None while in progress
        self.memo: dict[tuple[str, str], list[_Problem] | None] = {}

    def run(self) -> list[_Problem]:
        return self.check(self.reader.root, self.writer.root, "")

    def check(self, reader: _Node, writer: _Node, path: str) -> list[_Problem]:
        r = self.reader.deref(reader)
        w = self.writer.deref(writer)
        if isinstance(w, _Union):
            out: list[_Problem] = []
            for branch in w.branches:
                out.extend(self.check(r, branch, path))
            return out
        if isinstance(r, _Union):
            return self._reader_union(r, w, path)
        if isinstance(r, str) and isinstance(w, str):
            if r == w or w in _PROMOTIONS.get(r, frozenset()):
                return []
        elif isinstance(r, _Array) and isinstance(w, _Array):
            return self.check(r.items, w.items, f"{path}[]")
        elif isinstance(r, _Map) and isinstance(w, _Map):
            return self.check(r.values, w.values, f"{path}{{}}")
        elif (pair := _named_pair(r, w)) is not None:
            return self._named(*pair, path)
        return [_Problem(_OTHER, path, f"type '{_describe(w)}' cannot be read as '{_describe(r)}'")]

    def _reader_union(self, r: _Union, w: _Node, path: str) -> list[_Problem]:
        for branch in r.branches:
            if not self.check(branch, w, path):
                return []
        for branch in r.branches:  # explain via the evident counterpart, if there is one
            resolved = self.reader.deref(branch)
            if _same_kind(resolved, w):
                return self.check(resolved, w, path)
        detail = f"type '{_describe(w)}' matches no branch of reader union {_describe(r)}"
        return [_Problem(_OTHER, path, detail)]

    def _named(self, r: _Named, w: _Named, path: str) -> list[_Problem]:
        kind = type(r).__name__.lstrip("_").lower()
        if not _names_match(r, w):
            detail = f"{kind} name '{w.name}' cannot be read as '{r.name}' (no matching alias)"
            return [_Problem(_OTHER, path, detail)]
        key = (r.name, w.name)
        if key in self.memo:
            return self.memo[key] or []  # in progress: assume compatible (recursion)
        self.memo[key] = None
        if isinstance(r, _Record) and isinstance(w, _Record):
            result = self._record(r, w, path or _short(r.name))
        elif isinstance(r, _Enum) and isinstance(w, _Enum):
            result = self._enum(r, w, path)
        elif isinstance(r, _Fixed) and isinstance(w, _Fixed) and r.size != w.size:
            detail = f"fixed '{r.name}' has size {r.size} but the writer's has size {w.size}"
            result = [_Problem(_OTHER, path, detail)]
        else:
            result = []
        self.memo[key] = result
        return result

    def _record(self, r: _Record, w: _Record, path: str) -> list[_Problem]:
        by_name = {f.name: f for f in w.fields}
        out: list[_Problem] = []
        for rf in r.fields:
            fpath = f"{path}.{rf.name}"
            wf = by_name.get(rf.name)
            for alias in rf.aliases:
                if wf is None:
                    wf = by_name.get(alias)
            if wf is not None:
                out.extend(self.check(rf.type, wf.type, fpath))
            elif not rf.has_default:
                detail = f"reader field '{rf.name}' has no default and is missing from the writer"
                out.append(_Problem(_MISSING_FIELD, fpath, detail))
        return out

    @staticmethod
    def _enum(r: _Enum, w: _Enum, path: str) -> list[_Problem]:
        known = set(r.symbols)
        missing = [s for s in w.symbols if s not in known]
        if not missing or r.has_default:
            return []
        listed = ", ".join(repr(s) for s in missing)
        detail = f"writer enum symbol(s) {listed} missing from reader enum '{r.name}' (no default)"
        return [_Problem(_OTHER, path, detail)]


def _dedupe(messages: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(messages))  # order-preserving


def incompatibilities(reader: object, writer: object) -> list[str]:
    """Problems preventing ``reader`` from decoding data written with ``writer``.

    Both arguments are Avro schemas as JSON-like objects.  An empty list means the
    reader can read the writer's data.  Raises ValueError on a malformed schema.
    """
    problems = _Checker(_Schema(reader), _Schema(writer)).run()
    return _dedupe([f"{p.path or '<root>'}: {p.detail}" for p in problems])


def removed_fields_without_default(new: object, old: object) -> list[str]:
    """Fields of ``old`` that have no default and are absent from ``new``.

    Such removals break consumers still using ``old`` to read data written with
    ``new`` (they have nothing to fill the field with).  Nested records reachable
    through fields, arrays, maps and unions are inspected too; a field counts as
    present if ``new`` has a field with the same name (Avro resolution from the old
    reader's point of view: aliases declared only in ``new`` do not help).
    """
    problems = _Checker(_Schema(old), _Schema(new)).run()
    return _dedupe(
        [
            f"{p.path}: field removed, but it has no default in the old schema "
            "(older readers cannot read new data)"
            for p in problems
            if p.kind == _MISSING_FIELD
        ]
    )


def check_backward_transitive(new: object, previous_versions: Sequence[object]) -> list[str]:
    """BACKWARD_TRANSITIVE check of ``new`` against every earlier version, plus the
    product rule that fields without a default may not be removed.

    Each message is prefixed ``"against version N: "`` (N is 1-based in the given order).
    """
    out: list[str] = []
    for number, old in enumerate(previous_versions, start=1):
        found = incompatibilities(new, old) + removed_fields_without_default(new, old)
        out.extend(f"against version {number}: {m}" for m in _dedupe(found))
    return out
