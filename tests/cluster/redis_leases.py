"""Databases of the test bed's redis-server, leased so that users never share one.

Database 0 holds the allocator. A test leases a database for an hour (a lease left
by a killed run expires); the demo leases one with no expiry, because its
`previewbot serve` keeps using it until `make demo-down` gives it back.
"""

from __future__ import annotations

import redis

REDIS_DATABASES = 1024  # the test bed starts redis-server with --databases 1024
LEASE = "testbed:db-lease:{}"


def lease_database(allocator: redis.Redis, owner: str, ttl: int | None = 3600) -> int:
    """The next database (1…1023) nobody holds, leased to ``owner`` (for ``ttl`` seconds,
    None: until released); 0 when none is free."""
    for _ in range(REDIS_DATABASES):
        candidate = 1 + int(allocator.incr("testbed:next-db")) % (REDIS_DATABASES - 1)
        if allocator.set(LEASE.format(candidate), owner, nx=True, ex=ttl):
            return candidate
    return 0


def holds(allocator: redis.Redis, database: int, owner: str) -> bool:
    return allocator.get(LEASE.format(database)) == owner.encode()


def release_database(allocator: redis.Redis, database: int, owner: str) -> None:
    """Give the database back, if ``owner`` still holds it."""
    if holds(allocator, database, owner):
        allocator.delete(LEASE.format(database))
