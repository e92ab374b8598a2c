"""What threads of one process share while rendering thumbnails (the dev server runs requests in
a thread pool; a Lambda environment runs one at a time, so there these never wait)."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager


class KeyedLocks:
    """One lock per key, held by one thread at a time. An entry lives only while a thread holds or
    waits for it, so the table never grows with the keys ever used."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._entries: dict[Hashable, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: Hashable, *, timeout: float) -> Iterator[bool]:
        """Yields whether the key's lock was taken within timeout seconds."""
        with self._guard:
            lock, users = self._entries.get(key, (threading.Lock(), 0))
            self._entries[key] = (lock, users + 1)
        taken = lock.acquire(timeout=max(timeout, 0))
        try:
            yield taken
        finally:
            if taken:
                lock.release()
            with self._guard:
                _, users = self._entries[key]
                if users == 1:
                    del self._entries[key]
                else:
                    self._entries[key] = (lock, users - 1)

    def __len__(self) -> int:
        with self._guard:
            return len(self._entries)


class ByteBudget:
    """Bytes that work in progress may hold together: a reservation waits until it fits."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._in_use = 0

    @contextmanager
    def reserve(self, amount: int, *, limit: int, timeout: float) -> Iterator[bool]:
        """Yields whether amount fitted under limit (alongside what others hold) within timeout
        seconds. An amount above limit alone never fits: the caller refuses it before asking."""
        with self._changed:
            fitted = self._changed.wait_for(lambda: self._in_use + amount <= limit, timeout=max(timeout, 0))
            if fitted:
                self._in_use += amount
        try:
            yield fitted
        finally:
            if fitted:
                with self._changed:
                    self._in_use -= amount
                    self._changed.notify_all()

    @property
    def in_use(self) -> int:
        with self._changed:
            return self._in_use
