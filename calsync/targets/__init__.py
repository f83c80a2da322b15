"""Write-back targets: where calsync's suggested blocks are written."""

from calsync.targets.base import BlockContent, OwnedEvent, Target, TargetOwnershipError
from calsync.targets.memory import MemoryTarget

__all__ = ["BlockContent", "MemoryTarget", "OwnedEvent", "Target", "TargetOwnershipError"]
