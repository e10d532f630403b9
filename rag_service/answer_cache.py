"""Answer cache keyed by normalized question + mode + top_k + index version.

A new index version (a document indexed or removed) makes every older entry
unreachable, and the cache drops them. Bounded LRU, per process.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")


def normalize(question: str) -> str:
    """Case, whitespace and trailing punctuation do not make a different question."""
    return re.sub(r"\s+", " ", question).strip().rstrip("?!. ").lower()


class AnswerCache(Generic[V]):
    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, str, int, str], V] = OrderedDict()
        self._version = ""
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _key(self, question: str, mode: str, top_k: int, version: str) -> tuple[str, str, int, str]:
        return (normalize(question), mode, top_k, version)

    def get(self, question: str, mode: str, top_k: int, version: str) -> V | None:
        with self._lock:
            self._sync(version)
            value = self._entries.get(self._key(question, mode, top_k, version))
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(self._key(question, mode, top_k, version))
            self.hits += 1
            return value

    def put(self, question: str, mode: str, top_k: int, version: str, value: V) -> None:
        with self._lock:
            self._sync(version)
            self._entries[self._key(question, mode, top_k, version)] = value
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _sync(self, version: str) -> None:
        if version != self._version:
            self._entries.clear()
            self._version = version
