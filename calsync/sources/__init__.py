"""Calendar sources: one :class:`~calsync.sources.base.Source` protocol, several adapters."""

from calsync.sources.base import FetchResult, Source
from calsync.sources.memory import MemorySource

__all__ = ["FetchResult", "MemorySource", "Source"]
