"""Batches of single-object Avro records as one Avro container file ClickHouse decodes itself.

The sink's fast path: instead of decoding every record in Python, the Avro bodies of one
writer schema are concatenated into an Avro object container (``Obj\\x01`` header with the
writer schema, one block, sync marker) that ``INSERT ... FORMAT Avro`` reads in C++. The
sink's bookkeeping columns ride along as three fields appended to the writer schema
(``_topic``, ``_partition``, ``_offset``): Avro records are their fields' encodings in
order, so appending the three encodings to each body yields valid records of the
extended schema. Only the envelope (``event_id``, ``event_time``: always the first two
fields) is read here, for deduplication. Pure: bytes in, bytes out.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

OBJ_MAGIC = b"Obj\x01"
SYNC = b"cmo-history-sync"  # 16 bytes; any value works, it only frames the block
META_FIELDS = [
    {"name": "_topic", "type": "string"},
    {"name": "_partition", "type": "int"},
    {"name": "_offset", "type": "long"},
]


class EnvelopeError(ValueError):
    """The body does not start with an event_id string and an event_time long."""


def zigzag(value: int) -> bytes:
    """Avro ``int``/``long`` encoding (zig-zag varint)."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def avro_string(text: str | bytes) -> bytes:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return zigzag(len(raw)) + raw


def _read_long(data: bytes, pos: int) -> tuple[int, int]:
    shift, acc = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise EnvelopeError("truncated varint")
        byte = data[pos]
        pos += 1
        acc |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (acc >> 1) ^ -(acc & 1), pos
        shift += 7


def read_envelope(body: bytes) -> tuple[str, int]:
    """``(event_id, event_time)`` from the start of an event's Avro body."""
    if body and body[0] < 0x80:  # ids shorter than 64 bytes: a one-byte length
        size, pos = body[0] >> 1 if not body[0] & 1 else -1, 1
    else:
        size, pos = _read_long(body, 0)
    if size < 0 or pos + size > len(body):
        raise EnvelopeError("event_id length out of range")
    try:
        event_id = body[pos:pos + size].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnvelopeError("event_id is not UTF-8") from exc
    event_time, _ = _read_long(body, pos + size)
    return event_id, event_time


def with_meta(schema: dict[str, Any]) -> dict[str, Any]:
    """The record schema with the three bookkeeping fields appended."""
    extended = copy.deepcopy(schema)
    extended["fields"] = list(extended["fields"]) + META_FIELDS
    return extended


@functools.lru_cache(maxsize=4096)
def _position_prefix(topic: str, partition: int) -> bytes:
    return avro_string(topic) + zigzag(partition)


def meta_suffix(topic: str, partition: int, offset: int) -> bytes:
    """The encoded ``_topic``, ``_partition``, ``_offset`` fields of one record."""
    return _position_prefix(topic, partition) + zigzag(offset)


def container(schema: dict[str, Any], records: list[bytes]) -> bytes:
    """An uncompressed Avro object container file holding the encoded records in one block."""
    meta = {"avro.schema": json.dumps(schema).encode("utf-8"), "avro.codec": b"null"}
    header = [OBJ_MAGIC, zigzag(len(meta))]
    for key, value in meta.items():
        header += [avro_string(key), avro_string(value)]
    data = b"".join(records)
    return b"".join(header + [zigzag(0), SYNC, zigzag(len(records)), zigzag(len(data)), data, SYNC])
