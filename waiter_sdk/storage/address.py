"""Storage addresses: the backend ``WAITER_STORAGE`` names, and the address as logs may show it.

Usage::

    backend = open_backend("sqlite", Path("data"), timeout=5.0)   # data/waiter.db
    redact_url("redis://:s3cret@db:6379/0")                       # "redis://:***@db:6379/0"
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from ..exceptions import StorageError
from .backend import Backend

__all__ = ["open_backend", "redact_url"]


def open_backend(url: str, data_dir: Path, timeout: float) -> Backend:
    """The backend ``WAITER_STORAGE=url`` names (imported only now)."""
    scheme = url.partition(":")[0].lower()
    if scheme == "memory":
        from .memory import MemoryBackend

        return MemoryBackend()
    if scheme == "sqlite":
        rest = url[len("sqlite") :]
        if rest in ("", ":", "://"):
            path = data_dir / "waiter.db"
        elif rest.startswith(":///"):
            path = Path(rest[4:])  # "sqlite:///rel.db" -> rel.db; "sqlite:////abs.db" -> /abs.db
        else:
            raise StorageError(
                f"WAITER_STORAGE={url!r}: an SQLite address is 'sqlite' (the data directory's "
                "waiter.db), 'sqlite:///relative/path.db' or 'sqlite:////absolute/path.db'"
            )
        from .sqlite import SqliteBackend

        return SqliteBackend(path, timeout)
    if scheme in ("redis", "rediss", "unix"):
        try:
            from .redis import RedisBackend
        except ImportError as exc:
            raise StorageError(
                f"WAITER_STORAGE={redact_url(url)} needs redis-py: pip install 'waiter-sdk[redis]'"
            ) from exc
        return RedisBackend(url, timeout)
    raise StorageError(
        f"WAITER_STORAGE={redact_url(url)!r}: unknown storage; use 'sqlite', "
        "'sqlite:///path.db', 'redis://host:6379/0' or 'memory'"
    )


def redact_url(url: str) -> str:
    """``url`` without its password, for logs and errors."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable address>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return parts._replace(netloc=user + netloc).geturl()
