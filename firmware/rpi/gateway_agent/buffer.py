"""Bounded on-disk telemetry queue (SQLite from Python's standard library).

Every reading goes in here first and leaves only when the broker has acknowledged it (QoS 1
PUBACK), so readings survive a broker outage and an agent restart and are replayed in the order
they were taken. When full, the oldest readings are dropped (and counted) so a long outage cannot
fill the SD card.
"""

from __future__ import annotations

import os
import sqlite3
from typing import List, Tuple


class TelemetryBuffer:
    def __init__(self, path: str, max_messages: int) -> None:
        self.max_messages = max_messages
        self.dropped = 0
        os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload TEXT NOT NULL)"
        )

    def append(self, topic: str, payload: str) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT INTO queue (topic, payload) VALUES (?, ?)", (topic, payload))
            excess = self.count() - self.max_messages
            if excess > 0:
                self._db.execute(
                    "DELETE FROM queue WHERE id IN (SELECT id FROM queue ORDER BY id LIMIT ?)", (excess,)
                )
                self.dropped += excess

    def next_after(self, after_id: int, limit: int) -> List[Tuple[int, str, str]]:
        cur = self._db.execute(
            "SELECT id, topic, payload FROM queue WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        )
        return [(int(r[0]), str(r[1]), str(r[2])) for r in cur.fetchall()]

    def remove(self, row_id: int) -> None:
        self._db.execute("DELETE FROM queue WHERE id = ?", (row_id,))

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM queue").fetchone()[0])

    def close(self) -> None:
        self._db.close()
