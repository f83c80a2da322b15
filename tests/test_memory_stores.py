"""The memory stores against one contract: in memory, a real SQLite file, and Mem0 offline.

:class:`MemoryStoreContract` holds the behaviour every store must have; each
``Test…`` class below subclasses it once and supplies the ``store`` fixture,
then adds what only that store promises.

Mem0 runs for real: a Qdrant client in memory, its history in memory, and a
deterministic hashing bag-of-words embedder in place of the model — no torch,
no download. Every Mem0 test runs behind a socket guard that refuses and
records any connection or name lookup that is not loopback, and fails when
one was attempted. The helpers used for that are module-level functions, so
the fresh-interpreter test can import them too; nothing here imports mem0 at
module import (it must only be imported after its telemetry is switched off).
"""

from __future__ import annotations

import hashlib
import importlib.util
import ipaddress
import json
import math
import os
import re
import socket
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from calsync.clock import FixedClock
from calsync.errors import MemoryStoreError
from calsync.insights.memory import (
    InMemoryMemoryStore,
    Mem0MemoryStore,
    SqliteMemoryStore,
    fts5_query,
    open_memory_store,
)
from calsync.insights.types import MemoryStore

USER = "me"
OTHER = "bob"
NOBODY = "nobody"
TUESDAY = "Tuesday mornings are my sweet spot"
LUNCH = "Meetings after lunch drain me"
NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
REPO_ROOT = Path(__file__).resolve().parents[1]

HAS_MEM0 = all(importlib.util.find_spec(name) for name in ("mem0", "qdrant_client"))
needs_mem0 = pytest.mark.skipif(
    not HAS_MEM0,
    reason="mem0ai is not installed; `pip install -e '.[test]'` installs it (extra calsync[mem0])",
)


# --------------------------------------------------------------------------- socket guard


class NetworkBlockedError(OSError):
    """A test tried to reach something other than loopback."""


def _is_loopback(host: object) -> bool:
    if host is None or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def install_socket_guard(set_attribute: Callable[..., Any], attempts: list[str]) -> None:
    """Make non-loopback connects and name lookups raise, and record them in ``attempts``.

    ``set_attribute`` is ``monkeypatch.setattr`` in tests (undone afterwards)
    or the builtin ``setattr`` in a throw-away process.
    """
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def refuse(what: str) -> NetworkBlockedError:
        attempts.append(what)
        return NetworkBlockedError(f"network access blocked in tests: {what}")

    def connect(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise refuse(f"connect {address!r}")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise refuse(f"connect_ex {address!r}")
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if not _is_loopback(name):
            raise refuse(f"getaddrinfo {name!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    set_attribute(socket.socket, "connect", connect)
    set_attribute(socket.socket, "connect_ex", connect_ex)
    set_attribute(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def network_attempts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The socket guard, installed for the test; the list of blocked attempts."""
    attempts: list[str] = []
    install_socket_guard(monkeypatch.setattr, attempts)
    return attempts


def test_the_socket_guard_blocks_the_network_and_lets_loopback_through(
    network_attempts: list[str],
) -> None:
    with socket.socket() as client, pytest.raises(NetworkBlockedError):
        client.connect(("192.0.2.1", 80))  # TEST-NET-1: refused before any packet
    with pytest.raises(NetworkBlockedError):
        socket.getaddrinfo("example.com", 443)
    assert network_attempts == ["connect ('192.0.2.1', 80)", "getaddrinfo 'example.com'"]

    with socket.create_server(("127.0.0.1", 0)) as server, socket.socket() as client:
        client.connect(server.getsockname())
        accepted, _ = server.accept()
        accepted.close()
    assert len(network_attempts) == 2  # loopback is not an attempt


# --------------------------------------------------------------------------- Mem0 helpers

_EMBEDDING_DIMS = 256


def hashing_vector(text: str, dims: int = _EMBEDDING_DIMS) -> list[float]:
    """A unit bag-of-words vector: every word (plural ``s`` dropped) hashed into a bucket."""
    vector = [0.0] * dims
    for word in re.findall(r"\w+", text.casefold()):
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vector[int.from_bytes(digest, "big") % dims] += 1.0
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0:
        return [1.0 / math.sqrt(dims)] * dims
    return [x / norm for x in vector]


def hashing_embedder(dims: int = _EMBEDDING_DIMS) -> Any:
    """A deterministic offline ``mem0`` embedder (import mem0 only after ``from_config``)."""
    from mem0.configs.embeddings.base import BaseEmbedderConfig
    from mem0.embeddings.base import EmbeddingBase

    class HashingEmbedder(EmbeddingBase):
        def embed(self, text: str, memory_action: str | None = None) -> list[float]:
            return hashing_vector(text, dims)

    return HashingEmbedder(BaseEmbedderConfig(embedding_dims=dims))


def offline_mem0_config(dims: int = _EMBEDDING_DIMS) -> dict[str, Any]:
    """A ``mem0.Memory.from_config`` dictionary that needs no server, key or model."""
    from qdrant_client import QdrantClient

    return {
        "vector_store": {
            "provider": "qdrant",
            "config": {
                "client": QdrantClient(location=":memory:"),
                "collection_name": "calsync_test",
                "embedding_model_dims": dims,
            },
        },
        "history_db_path": ":memory:",
        # Built but never called: add() uses infer=False and the embedder is replaced.
        "llm": {"provider": "openai", "config": {"api_key": "offline-unused"}},
        "embedder": {
            "provider": "openai",
            "config": {"api_key": "offline-unused", "embedding_dims": dims},
        },
    }


def offline_mem0_store(state_dir: Path) -> Mem0MemoryStore:
    """A Mem0 store built through ``from_config``, with the hashing embedder."""
    store = Mem0MemoryStore.from_config(offline_mem0_config(), state_dir)
    store.memory.embedding_model = hashing_embedder()
    return store


@pytest.fixture
def mem0_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start without MEM0_* variables and put them back as they were afterwards.

    ``from_config`` writes ``os.environ`` itself; setting then deleting through
    monkeypatch records the original values, so teardown restores them.
    """
    for name in ("MEM0_TELEMETRY", "MEM0_DIR"):
        monkeypatch.setenv(name, "replaced-by-the-test")
        monkeypatch.delenv(name)


# --------------------------------------------------------------------------- the contract


class MemoryStoreContract:
    """What every memory store does; subclasses provide the ``store`` fixture."""

    @pytest.fixture
    def store(self) -> MemoryStore:
        raise NotImplementedError

    def test_add_list_search_delete_round_trip(self, store: MemoryStore) -> None:
        assert isinstance(store, MemoryStore)
        first = store.add(TUESDAY, USER, {"kind": "behavioural"})
        second = store.add(LUNCH, USER)
        assert isinstance(first, str)
        assert first != second

        listed = store.list(USER)
        assert [(hit.id, hit.text) for hit in listed] == [(first, TUESDAY), (second, LUNCH)]
        assert [hit.score for hit in listed] == [0.0, 0.0]

        hits = store.search("tuesday morning", USER)
        assert hits[0].id == first
        assert hits[0].text == TUESDAY
        assert hits[0].score > 0

        assert store.delete(first, USER) is True
        assert store.delete(first, USER) is False  # already gone
        assert store.delete("no-such-id", USER) is False
        assert [hit.id for hit in store.list(USER)] == [second]
        assert first not in {hit.id for hit in store.search("tuesday morning", USER)}

    def test_memories_are_scoped_to_their_user(self, store: MemoryStore) -> None:
        mine = store.add(TUESDAY, USER)
        theirs = store.add("Tuesday mornings are for the gym", OTHER, {"owner": OTHER})
        their_copy = store.add(TUESDAY, OTHER)  # the same words, another user
        assert their_copy != mine

        assert [hit.id for hit in store.list(USER)] == [mine]
        assert [hit.id for hit in store.list(OTHER)] == [theirs, their_copy]
        assert [hit.id for hit in store.search("tuesday morning gym", USER)] == [mine]
        assert store.search("gym", USER) == []
        assert store.list(NOBODY) == []
        assert store.search("tuesday morning", NOBODY) == []
        assert store.search("", NOBODY) == []

        assert store.delete(theirs, USER) is False
        assert store.delete(mine, OTHER) is False
        assert [hit.id for hit in store.list(OTHER)] == [theirs, their_copy]
        assert [hit.id for hit in store.list(USER)] == [mine]

    def test_search_ranks_the_relevant_memory_first(self, store: MemoryStore) -> None:
        store.add("Friday afternoons are for email", USER)
        relevant = store.add(TUESDAY, USER)
        store.add("Long meetings on Monday wear me out", USER)
        partial = store.add("Tuesday evenings belong to the family", USER)
        store.add("Tuesday mornings are perfect for deep work", OTHER)

        hits = store.search("tuesday morning", USER)
        assert hits[0].id == relevant
        assert partial in {hit.id for hit in hits}
        assert all(hit.text != "Tuesday mornings are perfect for deep work" for hit in hits)
        scores = [hit.score for hit in hits]
        assert scores == sorted(scores, reverse=True)
        assert scores[0] > scores[-1]

    def test_search_honours_the_limit(self, store: MemoryStore) -> None:
        ids = [store.add(f"Tuesday focus block number {n}", USER) for n in range(5)]
        hits = store.search("tuesday focus", USER, limit=3)
        assert len(hits) == 3
        assert {hit.id for hit in hits} <= set(ids)
        assert {hit.id for hit in store.search("tuesday focus", USER, limit=10)} == set(ids)
        assert store.search("tuesday focus", USER, limit=0) == []

    def test_metadata_round_trips(self, store: MemoryStore) -> None:
        metadata = {
            "kind": "behavioural",
            "confidence": 0.75,
            "source": "weekly review",
            "tags": ["focus", "morning"],
            "details": {"weeks": 3, "verified": True, "note": None},
        }
        memory_id = store.add(TUESDAY, USER, metadata)
        bare = store.add(LUNCH, USER)
        assert {hit.id: hit.metadata for hit in store.list(USER)} == {memory_id: metadata, bare: {}}
        assert store.search("tuesday morning", USER)[0].metadata == metadata

    def test_the_same_text_is_stored_once_per_user(self, store: MemoryStore) -> None:
        first = store.add(TUESDAY, USER, {"n": 1})
        assert store.add(TUESDAY, USER, {"n": 2}) == first
        assert [(hit.id, hit.metadata) for hit in store.list(USER)] == [(first, {"n": 1})]
        assert store.add(TUESDAY.upper(), USER) != first  # only exactly the same text

    def test_a_query_without_words_returns_the_most_recent(self, store: MemoryStore) -> None:
        ids = [store.add(text, USER) for text in ("first memory", "second memory", "third memory")]
        store.add("not mine at all", OTHER)
        for query in ("", "   ", "?!", '"*" -'):
            assert [hit.id for hit in store.search(query, USER, limit=2)] == [ids[2], ids[1]]

    def test_invalid_input_is_refused_and_stores_nothing(self, store: MemoryStore) -> None:
        with pytest.raises(MemoryStoreError, match="text"):
            store.add("   ", USER)
        with pytest.raises(MemoryStoreError, match="user id"):
            store.add(TUESDAY, "")
        with pytest.raises(MemoryStoreError, match="JSON"):
            store.add(TUESDAY, USER, {"when": NOW})
        assert store.list(USER) == []


# --------------------------------------------------------------------------- in memory


class TestInMemoryMemoryStore(MemoryStoreContract):
    @pytest.fixture
    def store(self) -> InMemoryMemoryStore:
        return InMemoryMemoryStore()


# --------------------------------------------------------------------------- SQLite


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class TestSqliteMemoryStore(MemoryStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqliteMemoryStore]:
        with SqliteMemoryStore(tmp_path / "state" / "memory.db") as store:
            yield store

    def test_fts5_syntax_in_queries_is_searched_as_plain_words(
        self, store: SqliteMemoryStore
    ) -> None:
        operators = store.add('Tea or coffee, NEAR the deadline - never "after" it*', USER)
        tuesday = store.add(TUESDAY, USER)
        queries = [
            '"', '""', "'", "*", "-", "^", ":", "(", ")", "OR", "AND", "NOT", "NEAR(",
            "NEAR(tuesday morning, 2)", 'tuesday" OR "x', '"tuesday', "tues*", "text:tuesday",
            "{text}: tuesday", "^tuesday", "tuesday -morning", "NOT tuesday", "tuesday AND",
            "morning + tuesday", "\x00", "🙂 tuesday",
        ]  # fmt: skip
        for query in queries:
            assert isinstance(store.search(query, USER), list), query

        # Operators are ordinary words, and "-" excludes nothing.
        assert [hit.id for hit in store.search("OR", USER)] == [operators]
        assert [hit.id for hit in store.search("NEAR(", USER)] == [operators]
        assert store.search("NOT tuesday", USER)[0].id == tuesday
        assert store.search("tuesday -morning", USER)[0].id == tuesday
        assert store.search('"*"', USER)[0].id == tuesday  # no words: the most recent
        assert fts5_query('x" OR "y* NEAR(') == '"x" OR "or" OR "y" OR "near"'
        assert fts5_query("-*^") is None

    def test_memories_survive_reopening(self, tmp_path: Path) -> None:
        path = tmp_path / "state" / "memory.db"
        with SqliteMemoryStore(path) as store:
            first = store.add(TUESDAY, USER, {"kind": "behavioural"})
            second = store.add(LUNCH, USER)
            store.add("Tuesday mornings are for the gym", OTHER)
        with SqliteMemoryStore(path) as store:
            assert [(h.id, h.metadata) for h in store.list(USER)] == [
                (first, {"kind": "behavioural"}),
                (second, {}),
            ]
            assert store.search("tuesday morning", USER)[0].id == first
            assert store.add(TUESDAY, USER) == first  # still de-duplicated
            assert store.delete(second, USER) is True
        with SqliteMemoryStore(path) as store:
            assert [hit.id for hit in store.list(USER)] == [first]
            assert len(store.list(OTHER)) == 1

    def test_the_file_is_private_and_in_wal_mode(self, tmp_path: Path) -> None:
        directory = tmp_path / "state" / "nested"
        path = directory / "memory.db"
        with SqliteMemoryStore(path) as store:
            store.add(TUESDAY, USER)
            assert _mode(path) == 0o600
            assert _mode(directory) == 0o700
            wal = path.with_name("memory.db-wal")
            assert wal.exists()
            assert _mode(wal) == 0o600
        raw = sqlite3.connect(path)
        try:
            assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        finally:
            raw.close()

    def test_an_existing_file_open_to_others_is_made_private(self, tmp_path: Path) -> None:
        path = tmp_path / "memory.db"
        path.touch()
        path.chmod(0o644)
        with SqliteMemoryStore(path) as store:
            store.add(TUESDAY, USER)
        assert _mode(path) == 0o600

    def test_created_at_comes_from_the_clock_and_naive_times_are_refused(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "memory.db"
        with SqliteMemoryStore(path, clock=FixedClock(NOW)) as store:
            now_id = store.add(TUESDAY, USER)
            earlier_id = store.add(LUNCH, USER, created_at=NOW - timedelta(days=1))
            with pytest.raises(MemoryStoreError, match="naive"):
                store.add("never stored", USER, created_at=datetime(2026, 11, 24, 9))  # noqa: DTZ001
            assert [hit.id for hit in store.list(USER)] == [earlier_id, now_id]  # oldest first
        raw = sqlite3.connect(path)
        try:
            rows = raw.execute("SELECT id, created_at FROM memories ORDER BY rowid").fetchall()
        finally:
            raw.close()
        assert rows == [
            (now_id, "2026-11-24T12:00:00.000000+00:00"),
            (earlier_id, "2026-11-23T12:00:00.000000+00:00"),
        ]

    def test_the_full_text_index_follows_adds_and_deletes(self, store: SqliteMemoryStore) -> None:
        ids = [store.add(f"Tuesday note {n}", USER) for n in range(4)]
        for memory_id in ids[:2]:
            assert store.delete(memory_id, USER) is True
        assert {hit.id for hit in store.search("tuesday", USER)} == set(ids[2:])
        raw = sqlite3.connect(store.path)
        try:
            # Raises SQLITE_CORRUPT_VTAB when the index and the table disagree.
            raw.execute("INSERT INTO memories_fts (memories_fts) VALUES ('integrity-check')")
            assert raw.execute("SELECT count(*) FROM memories_fts").fetchone() == (2,)
        finally:
            raw.close()

    def test_a_file_that_is_not_a_database_raises_memory_store_error(self, tmp_path: Path) -> None:
        path = tmp_path / "memory.db"
        path.write_bytes(b"this is not a database, just some text " * 50)
        path.chmod(0o600)
        with pytest.raises(MemoryStoreError, match="cannot open the memory store"):
            SqliteMemoryStore(path)

    def test_a_newer_schema_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "memory.db"
        SqliteMemoryStore(path).close()
        raw = sqlite3.connect(path)
        raw.execute("PRAGMA user_version = 99")
        raw.close()
        with pytest.raises(MemoryStoreError, match="newer calsync"):
            SqliteMemoryStore(path)

    def test_a_closed_store_raises_memory_store_error(self, tmp_path: Path) -> None:
        store = SqliteMemoryStore(tmp_path / "memory.db")
        store.add(TUESDAY, USER)
        store.close()
        store.close()  # closing twice is harmless
        with pytest.raises(MemoryStoreError, match="closed"):
            store.list(USER)
        with pytest.raises(MemoryStoreError, match="closed"):
            store.add(LUNCH, USER)


# --------------------------------------------------------------------------- Mem0


@needs_mem0
@pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")
class TestMem0MemoryStore(MemoryStoreContract):
    @pytest.fixture
    def store(
        self, tmp_path: Path, mem0_env: None, network_attempts: list[str]
    ) -> Iterator[Mem0MemoryStore]:
        store = offline_mem0_store(tmp_path / "state")
        yield store
        store.close()
        assert network_attempts == [], f"the Mem0 store tried the network: {network_attempts}"

    def test_from_config_switches_telemetry_off_and_keeps_mem0_in_the_state_dir(
        self, store: Mem0MemoryStore, tmp_path: Path
    ) -> None:
        from mem0.memory import main as mem0_main
        from mem0.memory import telemetry as mem0_telemetry

        assert os.environ["MEM0_TELEMETRY"] == "false"
        assert mem0_telemetry.MEM0_TELEMETRY is False
        assert mem0_main.MEM0_TELEMETRY is False
        mem0_dir = Path(os.environ["MEM0_DIR"])
        assert mem0_dir == tmp_path / "state" / "mem0"
        assert mem0_dir.is_dir()
        assert _mode(mem0_dir) == 0o700

    def test_a_round_trip_attempts_no_network(
        self, store: Mem0MemoryStore, network_attempts: list[str]
    ) -> None:
        assert socket.socket.connect.__name__ == "connect"
        assert socket.socket.connect.__module__ == __name__  # the guard is in place
        memory_id = store.add(TUESDAY, USER, {"kind": "behavioural"})
        assert store.search("tuesday morning", USER)[0].id == memory_id
        assert store.delete(memory_id, USER) is True
        assert network_attempts == []

    def test_metadata_keys_reserved_by_mem0_are_refused(self, store: Mem0MemoryStore) -> None:
        with pytest.raises(MemoryStoreError, match="reserved by Mem0: role, user_id"):
            store.add(TUESDAY, USER, {"user_id": OTHER, "role": "system"})
        assert store.list(USER) == []
        assert store.list(OTHER) == []

    def test_a_bad_config_raises_memory_store_error(
        self, tmp_path: Path, mem0_env: None, network_attempts: list[str]
    ) -> None:
        with pytest.raises(MemoryStoreError, match="cannot build the Mem0 memory store"):
            Mem0MemoryStore.from_config({"vector_store": {"provider": "no-such-store"}}, tmp_path)
        assert network_attempts == []

    def test_the_factory_builds_mem0_from_its_config(
        self, tmp_path: Path, mem0_env: None, network_attempts: list[str]
    ) -> None:
        store = open_memory_store("mem0", tmp_path / "state", offline_mem0_config())
        assert isinstance(store, Mem0MemoryStore)
        store.memory.embedding_model = hashing_embedder()
        memory_id = store.add(TUESDAY, USER)
        assert [hit.id for hit in store.list(USER)] == [memory_id]
        store.close()
        assert network_attempts == []

    def test_a_fresh_process_imports_mem0_offline_and_inside_the_state_dir(
        self, tmp_path: Path
    ) -> None:
        # mem0 reads MEM0_TELEMETRY and MEM0_DIR once, at import: only a new
        # interpreter shows what importing it through from_config does.
        script = textwrap.dedent(
            """
            import json, sys
            from pathlib import Path

            from tests.test_memory_stores import (
                hashing_embedder, install_socket_guard, offline_mem0_config,
            )

            attempts = []
            install_socket_guard(setattr, attempts)
            from calsync.insights.memory import Mem0MemoryStore

            store = Mem0MemoryStore.from_config(offline_mem0_config(), Path(sys.argv[1]))
            store.memory.embedding_model = hashing_embedder()
            added = store.add("Tuesday mornings are my sweet spot", "me")
            found = [hit.id for hit in store.search("tuesday morning", "me")]
            store.close()

            from mem0.memory import main, setup, telemetry

            print(json.dumps({
                "added": added, "found": found, "attempts": attempts,
                "telemetry": [telemetry.MEM0_TELEMETRY, main.MEM0_TELEMETRY],
                "mem0_dir": setup.mem0_dir,
            }))
            """
        )
        home = tmp_path / "home"
        home.mkdir()
        state = tmp_path / "state"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEM0_")}
        env["HOME"] = str(home)
        result = subprocess.run(
            [sys.executable, "-c", script, str(state)],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout.strip().splitlines()[-1])
        assert report["attempts"] == []
        assert report["telemetry"] == [False, False]
        assert report["found"] == [report["added"]]
        assert Path(report["mem0_dir"]) == state / "mem0"
        assert (state / "mem0" / "config.json").is_file()  # mem0 writes here…
        assert not (home / ".mem0").exists()  # …and not in the home directory


def test_without_mem0_the_error_says_how_to_install_it(
    tmp_path: Path, mem0_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mem0", None)  # `import mem0` now raises ImportError
    with pytest.raises(MemoryStoreError, match=r"pip install 'calsync\[mem0\]'"):
        Mem0MemoryStore.from_config({}, tmp_path)
    assert os.environ["MEM0_TELEMETRY"] == "false"  # switched off before the import


# --------------------------------------------------------------------------- factory


def test_the_factory_opens_sqlite_as_memory_db_in_the_state_dir(tmp_path: Path) -> None:
    store = open_memory_store("sqlite", tmp_path / "state")
    assert isinstance(store, SqliteMemoryStore)
    try:
        memory_id = store.add(TUESDAY, USER)
        assert store.path == tmp_path / "state" / "memory.db"
        assert store.path.is_file()
    finally:
        store.close()
    with SqliteMemoryStore(tmp_path / "state" / "memory.db") as reopened:
        assert [hit.id for hit in reopened.list(USER)] == [memory_id]


def test_the_factory_refuses_an_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(MemoryStoreError, match=r"unknown memory store 'redis'.*sqlite, mem0"):
        open_memory_store("redis", tmp_path)
    assert not (tmp_path / "memory.db").exists()
