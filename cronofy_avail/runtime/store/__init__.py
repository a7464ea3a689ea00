"""Persistence behind one protocol: SQLite by default, PostgreSQL for a cluster, in memory for
notebooks and tests.

* :mod:`.records`: what is kept about a user and a delivery;
* :mod:`.protocol`: the :class:`Store` protocol, and the narrow ones each consumer needs
  (:class:`ReceiverStore`, :class:`SyncStore`, :class:`AdminStore`);
* :mod:`cronofy_avail.core.intents`: the rules every backend follows (intents, claims, the
  scheduler's selection, the sync lock), pure; :mod:`.rules`: lock owners and what a commit
  writes;
* :mod:`.memory`, :mod:`.sqlite`, :mod:`.postgres`: the backends, each only its I/O;
  :mod:`.sql`: the statement text SQLite and PostgreSQL share; :mod:`.schema`: their schemas.

:func:`open_store` opens the store a location names; the PostgreSQL backend (the ``postgres``
extra) is imported only when a ``postgresql://`` URL is opened.
"""

from __future__ import annotations

import os

from cronofy_avail.core.intents import (
    Intent,
    UserState,
    claim_settles,
    merge_intent,
    scheduler_must_look,
    settle_intent,
)
from cronofy_avail.runtime.store.memory import MemoryStore
from cronofy_avail.runtime.store.protocol import (
    DEFAULT_DELIVERY_LOG,
    POSTGRES_EXTRA,
    AdminStore,
    ReceiverStore,
    Store,
    StoreSchemaError,
    StoreUnavailableError,
    SyncStore,
)
from cronofy_avail.runtime.store.records import (
    Delivery,
    Setup,
    StoredCredentials,
    SyncOutcome,
    UserRecord,
)
from cronofy_avail.runtime.store.rules import LockLost, holder_is_dead, lock_owner
from cronofy_avail.runtime.store.sqlite import SCHEMA_VERSION, SQLiteStore

__all__ = [
    "DEFAULT_DELIVERY_LOG",
    "POSTGRES_EXTRA",
    "SCHEMA_VERSION",
    "AdminStore",
    "Delivery",
    "Intent",
    "LockLost",
    "MemoryStore",
    "ReceiverStore",
    "SQLiteStore",
    "Setup",
    "Store",
    "StoreSchemaError",
    "StoreUnavailableError",
    "StoredCredentials",
    "SyncOutcome",
    "SyncStore",
    "UserRecord",
    "UserState",
    "claim_settles",
    "holder_is_dead",
    "lock_owner",
    "merge_intent",
    "open_store",
    "scheduler_must_look",
    "settle_intent",
]


async def open_store(location: str | os.PathLike[str]) -> Store:
    """The storage a location names: a ``postgresql://`` URL opens
    :class:`~cronofy_avail.runtime.store.postgres.PostgresStore` (the ``postgres`` extra,
    imported only then), anything else is a SQLite file path. Storage only: the application
    opens its store through :func:`cronofy_avail.app.system.open_system`, which on PostgreSQL
    adds the cluster's job queue (:class:`~cronofy_avail.runtime.cluster.ClusterStore`)."""
    text = os.fspath(location)
    if not text.startswith(("postgresql://", "postgres://")):
        return await SQLiteStore.open(text)
    try:
        from cronofy_avail.runtime.store.postgres import PostgresStore
    except ImportError as exc:
        raise StoreUnavailableError(
            f"a PostgreSQL store needs the postgres extra ({exc.name} is missing). "
            f"Fix: {POSTGRES_EXTRA}"
        ) from None
    return await PostgresStore.open(text)
