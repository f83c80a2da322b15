"""Memory stores: where qualitative insights are kept and searched.

Three implementations of :class:`~calsync.insights.types.MemoryStore`:

* :class:`InMemoryMemoryStore` — a dictionary; search ranks by word overlap.
  For tests and throw-away runs.
* :class:`SqliteMemoryStore` — the default: its own SQLite file (WAL, mode
  0600 in a 0700 directory) with an FTS5 index ranked by bm25. User text is
  split into words and every word is quoted, so a query can never use FTS5
  syntax; a query without words returns the most recent memories.
* :class:`Mem0MemoryStore` — `Mem0 <https://mem0.ai>`_ (``pip install
  'calsync[mem0]'``), imported only when used, with its telemetry switched off
  and its directory inside calsync's state directory before the import.

Every method is scoped to one user. Library errors are translated into
:class:`~calsync.errors.MemoryStoreError` at this boundary.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import os
import re
import sqlite3
import stat
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from calsync.clock import Clock, SystemClock
from calsync.errors import MemoryStoreError
from calsync.insights.types import MemoryHit, MemoryStore

logger = logging.getLogger(__name__)

#: Words of a query or a memory: runs of letters and digits (any script).
_WORD = re.compile(r"\w+", re.UNICODE)

MEM0_INSTALL_HINT = "install the Mem0 extra with: pip install 'calsync[mem0]'"


def _check_text(text: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise MemoryStoreError("a memory needs some text; got an empty one")


def _check_user(user_id: str) -> None:
    if not isinstance(user_id, str) or not user_id.strip():
        raise MemoryStoreError("a memory store needs a non-empty user id")


def _metadata_json(metadata: dict[str, Any] | None) -> str:
    """``metadata`` as JSON text; what cannot be stored as JSON is refused."""
    if metadata is None:
        return "{}"
    if not isinstance(metadata, dict):
        raise MemoryStoreError(f"memory metadata must be a dict, not {type(metadata).__name__}")
    try:
        return json.dumps(metadata, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise MemoryStoreError(f"memory metadata must be plain JSON values: {err}") from err


def _words(text: str) -> list[str]:
    return [word.casefold() for word in _WORD.findall(text)]


def _stems(text: str) -> set[str]:
    """Words with a plural ``s`` dropped, so "mornings" meets "morning"."""
    return {
        word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
        for word in _words(text)
    }


# --------------------------------------------------------------------------- in memory


class InMemoryMemoryStore:
    """Memories in a dictionary, searched by word overlap (for tests).

    The score of a memory is the number of distinct query words it contains
    (a plural ``s`` ignored); memories sharing no word with the query are not
    returned. A query without words returns the most recent memories with
    score 0.
    """

    def __init__(self) -> None:
        # id -> (user_id, text, metadata as JSON); dicts keep insertion order (oldest first).
        self._memories: dict[str, tuple[str, str, str]] = {}
        self._lock = threading.Lock()

    def add(self, text: str, user_id: str, metadata: dict[str, Any] | None = None) -> str:
        """Store ``text`` for ``user_id``; the same text twice keeps the first id."""
        _check_text(text)
        _check_user(user_id)
        encoded = _metadata_json(metadata)
        with self._lock:
            for memory_id, (owner, stored, _) in self._memories.items():
                if owner == user_id and stored == text:
                    return memory_id
            memory_id = str(uuid.uuid4())
            self._memories[memory_id] = (user_id, text, encoded)
        return memory_id

    def search(self, query: str, user_id: str, limit: int = 10) -> list[MemoryHit]:
        """The user's memories sharing the most words with ``query``, best first."""
        _check_user(user_id)
        if limit < 1:
            return []
        terms = _stems(query)
        mine = self._owned(user_id)
        if not terms:
            return [_hit(i, t, m) for i, t, m in reversed(mine)][:limit]
        scored = []
        for position, (memory_id, text, encoded) in enumerate(mine):
            overlap = len(terms & _stems(text))
            if overlap:
                scored.append((overlap, position, memory_id, text, encoded))
        # Most shared words first; on a tie the newer memory first.
        scored.sort(key=lambda row: (-row[0], -row[1]))
        return [_hit(i, t, m, float(score)) for score, _, i, t, m in scored[:limit]]

    def list(self, user_id: str) -> list[MemoryHit]:
        """Every memory of the user, oldest first."""
        _check_user(user_id)
        return [_hit(i, t, m) for i, t, m in self._owned(user_id)]

    def delete(self, memory_id: str, user_id: str) -> bool:
        """Delete one of the user's memories; ``False`` when the user has no such memory."""
        _check_user(user_id)
        with self._lock:
            found = self._memories.get(memory_id)
            if found is None or found[0] != user_id:
                return False
            del self._memories[memory_id]
        return True

    def close(self) -> None:
        """Nothing to release; present so every store can be closed alike."""

    def _owned(self, user_id: str) -> builtins.list[tuple[str, str, str]]:
        with self._lock:
            return [(i, t, m) for i, (u, t, m) in self._memories.items() if u == user_id]


def _hit(memory_id: str, text: str, encoded: str, score: float = 0.0) -> MemoryHit:
    return MemoryHit(id=memory_id, text=text, metadata=json.loads(encoded), score=score)


# --------------------------------------------------------------------------- SQLite

_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS memories (
    rowid      INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL,
    text       TEXT NOT NULL,
    metadata   TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    UNIQUE (user_id, text)
);
CREATE INDEX IF NOT EXISTS memories_by_user ON memories (user_id, created_at);
CREATE VIRTUAL TABLE IF NOT EXISTS memories_fts USING fts5(
    text,
    content = 'memories',
    content_rowid = 'rowid',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS memories_after_insert AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER IF NOT EXISTS memories_after_delete AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
CREATE TRIGGER IF NOT EXISTS memories_after_update AFTER UPDATE OF text ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
    INSERT INTO memories_fts (rowid, text) VALUES (new.rowid, new.text);
END;
"""


def fts5_query(query: str) -> str | None:
    """A safe FTS5 expression for user text: its words, each quoted, joined with OR.

    Only runs of letters and digits survive, and each is written as an FTS5
    string, so quotes, ``*``, ``-``, ``^``, ``:``, parentheses and the
    operators ``AND``/``OR``/``NOT``/``NEAR`` are searched as plain words or
    dropped. ``None`` when the query has no words.
    """
    terms = list(dict.fromkeys(_words(query)))
    if not terms:
        return None
    return " OR ".join(f'"{term}"' for term in terms)


def _utc_text(instant: datetime) -> str:
    """A fixed-width UTC ISO text (sorts like the instants); naive values are refused."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise MemoryStoreError(
            f"refusing the naive datetime {instant.isoformat()}: give a timezone"
        )
    return instant.astimezone(UTC).isoformat(timespec="microseconds")


class SqliteMemoryStore:
    """Memories in their own SQLite file, searched with FTS5 and ranked by bm25.

    Args:
        path: The database file; it is created with mode 0600 (its directory
            0700 when created), and a file open to others is made private.
        clock: Where ``created_at`` comes from when :meth:`add` is not given one.
        timeout: Seconds to wait for another process's write lock.

    Raises:
        MemoryStoreError: the file cannot be created, opened or migrated, was
            written by a newer calsync, or this SQLite has no FTS5.

    """

    def __init__(self, path: Path, clock: Clock | None = None, timeout: float = 5.0):
        self.path = Path(path).expanduser()
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._make_private_file()
            # One connection shared by the threads of the daemon, serialized by the lock.
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as err:
            raise MemoryStoreError(f"cannot open the memory store {self.path}: {err}") from err
        try:
            self._migrate()
        except MemoryStoreError:
            self.close()
            raise
        except sqlite3.Error as err:
            self.close()
            raise MemoryStoreError(f"cannot open the memory store {self.path}: {err}") from err
        logger.debug("memory store opened at %s", self.path)

    def _make_private_file(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            info = os.fstat(fd)
            if info.st_mode & 0o077:
                logger.warning(
                    "%s was open to group or others (mode %04o); making it private",
                    self.path,
                    stat.S_IMODE(info.st_mode),
                )
                os.fchmod(fd, 0o600)
        finally:
            os.close(fd)

    def _migrate(self) -> None:
        conn = self._connection()
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > _SCHEMA_VERSION:
            raise MemoryStoreError(
                f"{self.path} was written by a newer calsync (memory schema {version}, "
                f"this one knows {_SCHEMA_VERSION}); upgrade calsync"
            )
        if version == _SCHEMA_VERSION:
            return
        try:
            # Every statement is idempotent, so processes racing to create it are harmless.
            conn.executescript(
                f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version = {_SCHEMA_VERSION};COMMIT;"
            )
        except sqlite3.OperationalError as err:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if "fts5" in str(err).lower():
                raise MemoryStoreError(
                    "this Python's SQLite has no FTS5 full-text search, which the memory "
                    "store needs; use a Python built with FTS5 or the mem0 memory store"
                ) from err
            raise

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise MemoryStoreError(f"the memory store {self.path} is closed")
        return self._conn

    @contextlib.contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock; SQLite errors become MemoryStoreError."""
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException as err:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(err, sqlite3.Error):
                    raise MemoryStoreError(f"cannot {what} in {self.path}: {err}") from err
                raise

    def _query(self, what: str, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            conn = self._connection()
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as err:
                raise MemoryStoreError(f"cannot {what} in {self.path}: {err}") from err

    # ------------------------------------------------------------------ the protocol

    def add(
        self,
        text: str,
        user_id: str,
        metadata: dict[str, Any] | None = None,
        *,
        created_at: datetime | None = None,
    ) -> str:
        """Store ``text`` for ``user_id``; return its id.

        Exactly the same text for the same user is stored once: the id of the
        memory already there is returned (and its metadata kept).

        Args:
            text: The words.
            user_id: Whose memory it is.
            metadata: JSON values stored with it.
            created_at: When it was learned (timezone-aware; default: the clock's now).

        """
        _check_text(text)
        _check_user(user_id)
        encoded = _metadata_json(metadata)
        stamp = _utc_text(created_at if created_at is not None else self._clock.now())
        new_id = str(uuid.uuid4())
        with self._transaction("add a memory") as conn:
            conn.execute(
                "INSERT INTO memories (id, user_id, text, metadata, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, text) DO NOTHING",
                (new_id, user_id, text, encoded, stamp),
            )
            (memory_id,) = conn.execute(
                "SELECT id FROM memories WHERE user_id = ? AND text = ?", (user_id, text)
            ).fetchone()
        if memory_id != new_id:
            logger.debug("memory %s already holds that text for %s", memory_id, user_id)
        return str(memory_id)

    def search(self, query: str, user_id: str, limit: int = 10) -> list[MemoryHit]:
        """The user's memories matching any word of ``query``, best bm25 first.

        A query without words (empty, or only punctuation) returns the most
        recent memories, newest first, with score 0.
        """
        _check_user(user_id)
        if limit < 1:
            return []
        expression = fts5_query(query)
        if expression is None:
            rows = self._query(
                "list recent memories",
                "SELECT id, text, metadata, 0.0 FROM memories WHERE user_id = ? "
                "ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (user_id, limit),
            )
        else:
            # bm25() is lower-is-better; the score handed out is its negation.
            rows = self._query(
                "search memories",
                "SELECT m.id, m.text, m.metadata, -bm25(memories_fts) AS score "
                "FROM memories_fts JOIN memories AS m ON m.rowid = memories_fts.rowid "
                "WHERE memories_fts MATCH ? AND m.user_id = ? "
                "ORDER BY score DESC, m.created_at DESC, m.rowid DESC LIMIT ?",
                (expression, user_id, limit),
            )
        return [_hit(i, t, m, float(s)) for i, t, m, s in rows]

    def list(self, user_id: str) -> list[MemoryHit]:
        """Every memory of the user, oldest first."""
        _check_user(user_id)
        rows = self._query(
            "list memories",
            "SELECT id, text, metadata FROM memories WHERE user_id = ? ORDER BY created_at, rowid",
            (user_id,),
        )
        return [_hit(i, t, m) for i, t, m in rows]

    def delete(self, memory_id: str, user_id: str) -> bool:
        """Delete one of the user's memories; ``False`` when the user has no such memory."""
        _check_user(user_id)
        with self._transaction("delete a memory") as conn:
            deleted = conn.execute(
                "DELETE FROM memories WHERE id = ? AND user_id = ?", (memory_id, user_id)
            ).rowcount
        return deleted > 0

    def close(self) -> None:
        """Close the database; the store cannot be used afterwards."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> SqliteMemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- Mem0

#: Payload keys Mem0 keeps for itself: metadata using them would be lost or change scoping.
MEM0_RESERVED_KEYS = frozenset(
    {
        "data",
        "hash",
        "created_at",
        "updated_at",
        "id",
        "text_lemmatized",
        "attributed_to",
        "user_id",
        "agent_id",
        "run_id",
        "actor_id",
        "role",
        "expiration_date",
    }
)


def _import_mem0(state_dir: Path) -> Any:
    """Import ``mem0`` with its telemetry off and its directory in ``state_dir``.

    Both are read by mem0 once, at import, so they are set before it.
    """
    os.environ["MEM0_TELEMETRY"] = "false"
    os.environ.setdefault("MEM0_DIR", str(state_dir.expanduser().absolute() / "mem0"))
    already_imported = "mem0" in sys.modules
    try:
        # mem0 creates the directory on import; create it private first.
        Path(os.environ["MEM0_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as err:
        raise MemoryStoreError(f"cannot create the Mem0 directory: {err}") from err
    try:
        import mem0
        from mem0.memory import main as mem0_main
        from mem0.memory import setup as mem0_setup
        from mem0.memory import telemetry as mem0_telemetry
    except ImportError as err:
        raise MemoryStoreError(f"the mem0 memory store needs mem0ai; {MEM0_INSTALL_HINT}") from err
    if mem0_telemetry.MEM0_TELEMETRY or mem0_main.MEM0_TELEMETRY:
        raise MemoryStoreError(
            "mem0 was imported with its telemetry on before calsync could switch it off; "
            "set MEM0_TELEMETRY=false in the environment"
        )
    if already_imported and Path(mem0_setup.mem0_dir) != Path(os.environ["MEM0_DIR"]):
        logger.warning(
            "mem0 was imported earlier and keeps its files in %s, not %s",
            mem0_setup.mem0_dir,
            os.environ["MEM0_DIR"],
        )
    logger.debug("mem0 %s keeps its files in %s", mem0.__version__, mem0_setup.mem0_dir)
    return mem0


class Mem0MemoryStore:
    """Memories in Mem0, searched by meaning.

    Memories are stored verbatim (``infer=False``: no LLM call on add) and
    every call is scoped with ``filters={"user_id": ...}``. Metadata keys
    that Mem0 reserves for itself (:data:`MEM0_RESERVED_KEYS`) are refused.

    Args:
        memory: A built ``mem0.Memory``; use :meth:`from_config` to build one
            with telemetry off.
        list_limit: Most memories :meth:`list` returns for one user.

    """

    def __init__(self, memory: Any, *, list_limit: int = 10_000):
        self.memory = memory
        self._list_limit = list_limit

    @classmethod
    def from_config(cls, config: dict[str, Any], state_dir: Path) -> Mem0MemoryStore:
        """Build the store from a ``mem0.Memory.from_config`` dictionary.

        Sets ``MEM0_TELEMETRY=false`` and (unless set) ``MEM0_DIR`` to
        ``state_dir/mem0`` before importing mem0.

        Raises:
            MemoryStoreError: mem0ai is not installed, was imported with
                telemetry on, or refuses the configuration.

        """
        mem0 = _import_mem0(Path(state_dir))
        try:
            memory = mem0.Memory.from_config(config)
        except Exception as err:  # mem0 raises many types for a bad configuration
            raise MemoryStoreError(f"cannot build the Mem0 memory store: {err}") from err
        return cls(memory)

    def add(self, text: str, user_id: str, metadata: dict[str, Any] | None = None) -> str:
        """Store ``text`` verbatim for ``user_id``; return its id.

        Exactly the same text for the same user is stored once: the id of the
        memory already there is returned.
        """
        _check_text(text)
        _check_user(user_id)
        _metadata_json(metadata)  # the same JSON rule as the other stores
        reserved = sorted(MEM0_RESERVED_KEYS.intersection(metadata or {}))
        if reserved:
            raise MemoryStoreError(f"metadata keys reserved by Mem0: {', '.join(reserved)}")
        for hit in self.list(user_id):
            if hit.text == text:
                return hit.id
        with self._translated("add a memory"):
            result = self.memory.add(
                text, user_id=user_id, metadata=dict(metadata or {}), infer=False
            )
        added = [item for item in result.get("results", []) if item.get("event") == "ADD"]
        if len(added) != 1:
            raise MemoryStoreError(f"Mem0 did not add the memory: {result!r}")
        return str(added[0]["id"])

    def search(self, query: str, user_id: str, limit: int = 10) -> list[MemoryHit]:
        """The user's memories closest in meaning to ``query``, best first.

        A query without words returns the most recent memories, newest first.
        """
        _check_user(user_id)
        if limit < 1:
            return []
        if not _words(query):
            return list(reversed(self.list(user_id)))[:limit]
        with self._translated("search memories"):
            result = self.memory.search(query, top_k=limit, filters={"user_id": user_id})
        hits = [
            self._hit(item, float(item.get("score") or 0.0))
            for item in result.get("results", [])
            if item.get("user_id") == user_id
        ]
        return sorted(hits, key=lambda hit: -hit.score)[:limit]

    def list(self, user_id: str) -> list[MemoryHit]:
        """Every memory of the user, oldest first (at most ``list_limit``)."""
        _check_user(user_id)
        with self._translated("list memories"):
            result = self.memory.get_all(filters={"user_id": user_id}, top_k=self._list_limit)
        items = [item for item in result.get("results", []) if item.get("user_id") == user_id]
        if len(items) >= self._list_limit:
            logger.warning("listing only the first %d memories of %s", self._list_limit, user_id)
        items.sort(key=lambda item: _mem0_time(item.get("created_at")))
        return [self._hit(item) for item in items]

    def delete(self, memory_id: str, user_id: str) -> bool:
        """Delete one of the user's memories; ``False`` when the user has no such memory."""
        _check_user(user_id)
        try:
            uuid.UUID(str(memory_id))  # Mem0 makes every id with uuid4
        except ValueError:
            return False  # a server-side vector store would reject it with an error
        with self._translated("read a memory"):
            found = self.memory.get(memory_id)
        if not found or found.get("user_id") != user_id:
            return False
        with self._translated("delete a memory"):
            self.memory.delete(memory_id)
        return True

    def close(self) -> None:
        """Release Mem0's history database and the vector store's client."""
        with self._translated("close the memory store"):
            self.memory.close()
            client = getattr(getattr(self.memory, "vector_store", None), "client", None)
            if client is not None and hasattr(client, "close"):
                client.close()  # a local Qdrant path stays locked until closed

    @staticmethod
    def _hit(item: dict[str, Any], score: float = 0.0) -> MemoryHit:
        return MemoryHit(
            id=str(item["id"]),
            text=str(item.get("memory", "")),
            metadata=dict(item.get("metadata") or {}),
            score=score,
        )

    @contextlib.contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except MemoryStoreError:
            raise
        except Exception as err:  # mem0 and its vector stores raise many types
            raise MemoryStoreError(f"Mem0 could not {what}: {err}") from err


def _mem0_time(text: Any) -> datetime:
    """Mem0's ISO ``created_at`` as an aware instant (unknown: the earliest)."""
    try:
        parsed = datetime.fromisoformat(str(text))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- factory

MEMORY_STORE_KINDS = ("sqlite", "mem0")


def open_memory_store(
    kind: str, state_dir: Path, mem0_config: dict[str, Any] | None = None
) -> MemoryStore:
    """Open the memory store named ``kind``.

    Args:
        kind: ``"sqlite"`` (the file ``memory.db`` in ``state_dir``) or ``"mem0"``.
        state_dir: calsync's state directory.
        mem0_config: The ``mem0.Memory.from_config`` dictionary (``"mem0"`` only;
            default: Mem0's own defaults).

    Raises:
        MemoryStoreError: an unknown kind, or the store cannot be opened.

    """
    state_dir = Path(state_dir).expanduser()
    if kind == "sqlite":
        return SqliteMemoryStore(state_dir / "memory.db")
    if kind == "mem0":
        return Mem0MemoryStore.from_config(mem0_config or {}, state_dir)
    raise MemoryStoreError(
        f"unknown memory store {kind!r}; choose one of: {', '.join(MEMORY_STORE_KINDS)}"
    )
