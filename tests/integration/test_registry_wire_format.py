"""Confluent wire format (SCHEMA_REGISTRY_URL set) through the real broker.

No Schema Registry server can be installed on this machine (Confluent's is not on Maven
Central, Karapace is not on PyPI), so the registry is a loopback HTTP server speaking
the subset of the Confluent REST API the serializers use: register a subject version,
fetch a schema by id. Everything else — serializers, broker, consumer — is real.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cmo.adapters.avro import SchemaStore
from cmo.adapters.factory import make_producer, make_serializer
from cmo.adapters.registry_serde import RegistrySerializer
from cmo.config import Settings
from cmo.exceptions import SerializationError
from cmo.topics import topic_name
from producers.samples import sample_events
from tests.integration.helpers import consume_events

pytestmark = pytest.mark.integration


class _Registry(BaseHTTPRequestHandler):
    schemas: list[str] = []
    subjects: dict[str, list[int]] = {}
    requests: list[str] = []

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def _reply(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self.requests.append(f"POST {self.path}")
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        match = re.match(r"^/subjects/([^/?]+)/versions", self.path)
        if not match:
            return self._reply(404, {"error_code": 40401, "message": "not found"})
        schema = body["schema"]
        if schema not in self.schemas:
            self.schemas.append(schema)
        schema_id = self.schemas.index(schema) + 1
        self.subjects.setdefault(match.group(1), []).append(schema_id)
        self._reply(200, {"id": schema_id})

    def do_GET(self) -> None:
        self.requests.append(f"GET {self.path}")
        match = re.match(r"^/schemas/ids/(\d+)", self.path)
        if match and int(match.group(1)) <= len(self.schemas):
            return self._reply(200, {"schema": self.schemas[int(match.group(1)) - 1]})
        self._reply(404, {"error_code": 40403, "message": "Schema not found"})


@pytest.fixture
def registry_url() -> Iterator[str]:
    _Registry.schemas, _Registry.subjects, _Registry.requests = [], {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_events_round_trip_in_confluent_wire_format(settings: Settings, registry_url: str) -> None:
    s = settings.model_copy(update={"schema_registry_url": registry_url})
    serializer = make_serializer(s)
    assert isinstance(serializer, RegistrySerializer)
    events = sample_events(int(time.time() * 1000))
    topics = sorted({topic_name(s.kafka_topic_prefix, e) for e in events})
    with make_producer(s, "registry-test", serializer) as producer:
        for event in events:
            producer.publish(event)
        assert producer.flush(30) == 0
        got = consume_events(s.kafka_bootstrap_servers, topics, serializer, producer,
                             s.kafka_topic_prefix, lambda g: len(g) >= len(events))
    assert sorted((c.event for c in got), key=lambda e: e.event_id) == sorted(events, key=lambda e: e.event_id)
    assert f"{s.kafka_topic_prefix}.queries-value" in _Registry.subjects


def test_single_object_bytes_are_rejected_by_the_registry_decoder(settings: Settings,
                                                                  registry_url: str,
                                                                  schema_store: SchemaStore) -> None:
    serializer = RegistrySerializer(registry_url, schema_store, settings.kafka_topic_prefix)
    event = sample_events(1)[0]
    with pytest.raises(SerializationError, match="Confluent wire format"):
        serializer.decode(b"\xc3\x01" + b"\x00" * 12, topic_name(settings.kafka_topic_prefix, event))
