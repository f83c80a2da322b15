"""Database engine set-up and schema migrations.

SQLite (the default) is opened in WAL mode with a busy timeout, and every
write transaction starts with ``BEGIN IMMEDIATE``: the write lock is taken
before the first read, so two processes doing read-modify-write on the same
array serialise instead of losing an update. Read-only transactions use a
plain deferred ``BEGIN``. Other databases (PostgreSQL) get their driver's
defaults and row locks (``SELECT … FOR UPDATE``) from the store.

The schema is versioned with Alembic and upgraded at start-up; a database
whose revision this calsync does not know was written by a newer version and
is refused with :class:`~calsync.errors.SchemaTooNewError`.

A SQLite database file is created 0600 (its directory 0700) before SQLite
opens it, whatever the umask, so its ``-wal`` and ``-shm`` files are private
too; one left open to others by an older calsync is tightened.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from calsync.errors import SchemaTooNewError, StoreError
from calsync.secrets import private_directory, private_file

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

logger = logging.getLogger(__name__)

#: Execution option that marks a connection's transaction as read-only.
READ_ONLY = "calsync_read_only"

_MIGRATIONS = Path(__file__).parent / "migrations"


def _prepare_sqlite(engine: Engine, busy_timeout_ms: int, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event, not pysqlite, decide how transactions start.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_store_engine(url: str, busy_timeout_ms: int = 5000) -> Engine:
    """Create an engine for ``url``; a SQLite file is made 0600 in a 0700 directory.

    ``sqlite://`` (no path) is an in-memory database shared by every use of
    the returned engine, which is what tests and simulations use.

    Raises:
        StoreError: for an unusable URL or a directory that cannot be created.

    """
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise StoreError(f"invalid database URL {url!r}: {err}") from err
    if parsed.get_backend_name() != "sqlite":
        try:
            return create_engine(parsed, pool_pre_ping=True)
        except (SQLAlchemyError, ImportError) as err:
            raise StoreError(f"cannot use database {parsed.render_as_string()}: {err}") from err

    database = parsed.database or ""
    in_memory = database in ("", ":memory:")
    kwargs: dict[str, Any] = {"connect_args": {"timeout": busy_timeout_ms / 1000}}
    if in_memory:
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        path = Path(database).expanduser()
        try:
            private_directory(path.resolve().parent)
        except OSError as err:
            raise StoreError(
                f"cannot create the database directory {path.resolve().parent}: {err}"
            ) from err
        try:
            # SQLite creates its -wal and -shm files with the database file's mode:
            # a database made 0600 here keeps all three private whatever the umask.
            private_file(path)
            for suffix in ("-wal", "-shm", "-journal"):
                private_file(path.with_name(path.name + suffix), create=False)
        except OSError as err:
            raise StoreError(f"cannot create the database {path}: {err}") from err
    engine = create_engine(parsed, **kwargs)
    _prepare_sqlite(engine, busy_timeout_ms, in_memory)
    return engine


def _alembic_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def known_revisions() -> list[str]:
    """Every schema revision this calsync knows, oldest first.

    Read from the migration files' names (``0007_update_log_indexes.py`` is
    revision ``0007_update_log_indexes``; the history is linear and numbered),
    so a start-up whose database is current never imports Alembic;
    ``tests/test_startup.py`` checks that Alembic's own view agrees.
    """
    return sorted(
        path.stem for path in (_MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")
    )


def head_revision() -> str:
    """The newest schema revision this calsync knows."""
    return known_revisions()[-1]


def current_revision(engine: Engine) -> str | None:
    """The schema revision a database is at (``None`` for an empty database)."""
    with engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        versions = [row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))]
        return versions[0] if len(versions) == 1 else None


def migrate(engine: Engine) -> None:
    """Upgrade the database schema to the newest revision.

    A database already at the newest revision costs one query, and Alembic
    is imported only when there is something to migrate.

    Raises:
        SchemaTooNewError: the database is at a revision this calsync does not know.
        StoreError: the database cannot be read or migrated.

    """
    known = known_revisions()
    head = known[-1]
    try:
        current = current_revision(engine)
        if current is not None and current not in known:
            raise SchemaTooNewError(
                f"the database is at schema revision {current!r}, newer than the newest this "
                f"calsync knows ({head!r}): it was written by a newer "
                "calsync. Upgrade calsync, or point store.url at another database."
            )
        if current == head:
            return
        from alembic import command

        cfg = _alembic_config()
        logger.info("migrating database schema from %s to %s", current, head)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SQLAlchemyError as err:
        raise StoreError(f"cannot migrate the database: {err}") from err
