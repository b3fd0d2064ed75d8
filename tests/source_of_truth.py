"""A SQLite table of users as the source of truth for the consistency tests, remembering when
each row version was current so a read from the cache can be checked against it."""

from __future__ import annotations

import math
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any

User = dict[str, Any]


@dataclass
class Version:
    """One version of a row (``version`` None: the row was deleted). It became current at some
    moment during the write that produced it (``start``..``end``)."""

    version: int | None
    start: float
    end: float


class Users:
    def __init__(self, count: int) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL,"
            " name TEXT NOT NULL, version INTEGER NOT NULL)"
        )
        self.history: dict[int, list[Version]] = {}
        self._last_version: dict[int, int] = {}
        self._assigned: list[str] = []
        self._assign_lock = threading.Lock()
        for user_id in range(count):
            self._db.execute(
                "INSERT INTO users VALUES (?, ?, ?, 1)", (user_id, self.new_email(user_id), "n0")
            )
            self.history[user_id] = [Version(1, -math.inf, -math.inf)]
            self._last_version[user_id] = 1
        self._db.commit()

    def new_email(self, user_id: int) -> str:
        with self._assign_lock:
            email = f"u{user_id}.{len(self._assigned)}@example.com"
            self._assigned.append(email)
        return email

    def emails(self) -> list[str]:
        """Every e-mail ever assigned (some no longer in use)."""
        with self._assign_lock:
            return list(self._assigned)

    # Reads

    def _one(self, where: str, arg: Any) -> User | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT id, email, name, version FROM users WHERE {where} = ?", (arg,)
            ).fetchone()
        if row is None:
            return None
        return {"id": row[0], "email": row[1], "name": row[2], "version": row[3]}

    def by_id(self, user_id: int) -> User | None:
        return self._one("id", user_id)

    def by_email(self, email: str) -> User | None:
        return self._one("email", email)

    # Writes (the callers serialise writes per id, as a row lock would)

    def _next_version(self, user_id: int) -> int:
        self._last_version[user_id] += 1
        return self._last_version[user_id]

    def update(
        self, user_id: int, *, name: str | None = None, email: str | None = None
    ) -> User | None:
        with self._lock:
            row = self._db.execute(
                "SELECT email, name FROM users WHERE id = ?", (user_id,)
            ).fetchone()
            if row is None:
                return None
            version = self._next_version(user_id)
            self._db.execute(
                "UPDATE users SET email = ?, name = ?, version = ? WHERE id = ?",
                (email or row[0], name or row[1], version, user_id),
            )
            self._db.commit()
        return self.by_id(user_id)

    def delete(self, user_id: int) -> bool:
        with self._lock:
            deleted = self._db.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount
            self._db.commit()
        return bool(deleted)

    def insert(self, user_id: int, email: str, name: str) -> User:
        with self._lock:
            version = self._next_version(user_id)
            self._db.execute(
                "INSERT INTO users VALUES (?, ?, ?, ?)", (user_id, email, name, version)
            )
            self._db.commit()
        user = self.by_id(user_id)
        assert user is not None
        return user

    def record(self, user_id: int, version: int | None, start: float, end: float) -> None:
        """A write through the cache layer, called from `start` to `end`, left the row at
        `version` (None: deleted)."""
        self.history[user_id].append(Version(version, start, end))

    # Checks

    def was_current(self, user: User, start: float, end: float) -> bool:
        """Whether `user` (its id and version) was the row at some moment in start..end."""
        return self._held(user["id"], user["version"], start, end)

    def was_absent(self, user_id: int, start: float, end: float) -> bool:
        """Whether row `user_id` was deleted at some moment in start..end."""
        return self._held(user_id, None, start, end)

    def _held(self, user_id: int, version: int | None, start: float, end: float) -> bool:
        versions = self.history[user_id]
        for i, v in enumerate(versions):
            if v.version == version:
                superseded = versions[i + 1].end if i + 1 < len(versions) else math.inf
                if v.start <= end and superseded >= start:
                    return True
        return False
