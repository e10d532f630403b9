"""A minimal Chainlit data layer: it exists so Chainlit shows the feedback buttons.

Thumbs up/down (with the optional comment) become UserFeedback events. The chat
registers each answer's run step (the id the feedback buttons send as ``forId``) with
the query id, session, pseudonymous user and rated ResponseGenerated. Threads and steps
are not stored (the event log on Kafka is the record), so the history list is empty.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chainlit.data.base import BaseDataLayer
from chainlit.types import (
    Feedback,
    PageInfo,
    PaginatedResponse,
    Pagination,
    ThreadDict,
    ThreadFilter,
)
from chainlit.user import PersistedUser, User

from ui.ui_events import ChatEvents

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RatedAnswer:
    query_id: str
    session_id: str
    user_id: str                      # pseudonymous (HMAC)
    response_event_id: str | None


class FeedbackDataLayer(BaseDataLayer):
    def __init__(self, events: ChatEvents, capacity: int = 10_000) -> None:
        self.events = events
        self.capacity = capacity
        self._answers: OrderedDict[str, RatedAnswer] = OrderedDict()
        self._users: dict[str, PersistedUser] = {}
        self._authors: dict[str, str] = {}

    def register(self, step_id: str, answer: RatedAnswer) -> None:
        """The feedback buttons of run step ``step_id`` rate this answer."""
        self._answers[step_id] = answer
        while len(self._answers) > self.capacity:
            self._answers.popitem(last=False)

    async def upsert_feedback(self, feedback: Feedback) -> str:
        answer = self._answers.get(feedback.forId)
        if answer is None:
            logger.warning("feedback for unknown message %s ignored (answer from before a restart?)",
                           feedback.forId)
            return feedback.id or str(uuid.uuid4())
        rating = 1 if feedback.value == 1 else -1
        event_id = self.events.feedback(answer.query_id, answer.session_id, answer.user_id, rating,
                                        feedback.comment, answer.response_event_id)
        logger.info("feedback %+d on query %s", rating, answer.query_id)
        return event_id

    async def delete_feedback(self, feedback_id: str) -> bool:
        return True  # a withdrawn rating stays in the event log; the next rating supersedes it

    async def get_user(self, identifier: str) -> PersistedUser | None:
        return self._users.get(identifier)

    async def create_user(self, user: User) -> PersistedUser | None:
        persisted = PersistedUser(id=str(uuid.uuid4()), createdAt=datetime.now(UTC).isoformat(),
                                  identifier=user.identifier, display_name=user.display_name,
                                  metadata=user.metadata)
        self._users[user.identifier] = persisted
        return persisted

    async def update_thread(self, thread_id: str, name: str | None = None, user_id: str | None = None,
                            metadata: dict[str, Any] | None = None, tags: list[str] | None = None) -> None:
        if user_id:
            self._authors[thread_id] = user_id

    async def get_thread_author(self, thread_id: str) -> str:
        return self._authors.get(thread_id, "")

    async def list_threads(self, pagination: Pagination,
                           filters: ThreadFilter) -> PaginatedResponse[ThreadDict]:
        return PaginatedResponse(pageInfo=PageInfo(hasNextPage=False, startCursor=None, endCursor=None),
                                 data=[])

    async def get_thread(self, thread_id: str) -> ThreadDict | None:
        return None

    async def delete_thread(self, thread_id: str) -> None:
        self._authors.pop(thread_id, None)

    async def create_step(self, step_dict: Any) -> None:
        return None

    async def update_step(self, step_dict: Any) -> None:
        return None

    async def delete_step(self, step_id: str) -> None:
        self._answers.pop(step_id, None)

    async def create_element(self, element: Any) -> None:
        return None

    async def get_element(self, thread_id: str, element_id: str) -> Any:
        return None

    async def delete_element(self, element_id: str, thread_id: str | None = None) -> None:
        return None

    async def get_favorite_steps(self, user_id: str) -> list[Any]:
        return []

    async def build_debug_url(self) -> str:
        return ""

    async def close(self) -> None:
        return None
