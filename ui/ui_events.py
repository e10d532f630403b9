"""The events the chat itself produces (everything else comes from rag_service's router).

The router publishes QueryReceived, RoutingDecision and ResponseGenerated for every
question it gets. The chat adds UserFeedback, and when rag_service cannot be reached
at all, the QueryReceived it never saw plus a ResponseGenerated carrying the error, so
every user message is on Kafka exactly once.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from cmo.events import QueryReceived, ResponseGenerated, UserFeedback
from cmo.ports import EventPublisher

SERVICE = "ui"


def _env(correlation_id: str) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "event_time": int(time.time() * 1000),
            "correlation_id": correlation_id, "service": SERVICE}


class ChatEvents:
    def __init__(self, publisher: EventPublisher) -> None:
        self.publisher = publisher

    def unanswered(self, query_id: str, session_id: str, user_id: str, question: str, mode: str,
                   language: str | None, error: str, kind: str) -> None:
        """rag_service never saw the question: record it and why it got no answer."""
        self.publisher.publish_many([
            QueryReceived(**_env(query_id), session_id=session_id, user_id=user_id, query_text=question,
                          mode=mode, language=language, channel="ui"),
            ResponseGenerated(**_env(query_id), backend="none", mode=mode, answer="", citations=(),
                              latency_ms=0.0, error=error, error_kind=kind, question=question)])

    def feedback(self, query_id: str, session_id: str, user_id: str, rating: int, comment: str | None,
                 response_event_id: str | None) -> str:
        event = UserFeedback(**_env(query_id), user_id=user_id, session_id=session_id, rating=rating,
                             comment=comment or None, response_event_id=response_event_id)
        self.publisher.publish(event)
        return event.event_id

    def failed(self, query_id: str, question: str, mode: str, error: str) -> None:
        """The chat itself failed after the question was sent: record the error."""
        self.publisher.publish(ResponseGenerated(
            **_env(query_id), backend="none", mode=mode, answer="", citations=(), latency_ms=0.0,
            error=error, error_kind="internal", question=question))
