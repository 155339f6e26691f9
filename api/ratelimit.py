"""Sign-in throttling, per username and per client address, shared by all API replicas.

Attempts are rows in `login_attempts` (migration 0103), so every replica sees the same counts
and a restart forgets nothing. A username is locked after `max_failures` failures since its
last success within the window; an address after `max_failures` failures within the window
whatever the usernames (password spraying). The lock lifts when the oldest counted failure
leaves the window, which is what Retry-After reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from api.db import Connection


@dataclass(frozen=True, slots=True)
class Throttle:
    max_failures: int
    window: timedelta

    async def retry_after(self, conn: Connection, username: str, ip: str) -> int | None:
        """Seconds until another attempt is allowed, or None when one is allowed now."""
        cur = await conn.execute(
            """
            WITH last_success AS (
                SELECT max(at) AS at FROM login_attempts
                WHERE username = %(user)s AND success AND at > now() - %(window)s
            ), by_user AS (
                SELECT at FROM login_attempts
                WHERE username = %(user)s AND NOT success AND at > now() - %(window)s
                  AND at > coalesce((SELECT at FROM last_success), '-infinity')
                ORDER BY at DESC LIMIT %(max)s
            ), by_ip AS (
                SELECT at FROM login_attempts
                WHERE client_ip = %(ip)s AND NOT success AND at > now() - %(window)s
                ORDER BY at DESC LIMIT %(max)s
            )
            SELECT (SELECT count(*) FROM by_user), (SELECT min(at) FROM by_user),
                   (SELECT count(*) FROM by_ip), (SELECT min(at) FROM by_ip), now()
            """,
            {"user": username, "ip": ip, "window": self.window, "max": self.max_failures},
        )
        row = await cur.fetchone()
        assert row is not None
        user_count: int = row[0]
        user_oldest: datetime = row[1]
        ip_count: int = row[2]
        ip_oldest: datetime = row[3]
        now: datetime = row[4]
        waits: list[datetime] = []
        if user_count >= self.max_failures:
            waits.append(user_oldest + self.window)
        if ip_count >= self.max_failures:
            waits.append(ip_oldest + self.window)
        if not waits:
            return None
        return max(1, math.ceil((max(waits) - now).total_seconds()))

    async def record(self, conn: Connection, username: str, ip: str, success: bool) -> None:
        await conn.execute(
            "INSERT INTO login_attempts (username, client_ip, success) VALUES (%s, %s, %s)",
            (username, ip, success),
        )
