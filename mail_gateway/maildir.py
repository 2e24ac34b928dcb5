"""The embedded outbox: a Maildir under `$PARAPHE_HOME/outbox`, one file per notification."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workflows.models import Notification


class Maildir:
    """The embedded outbox: tmp/, new/, cur/ under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for sub in ("tmp", "new", "cur"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def name_for(self, notification: Notification, message_id: str) -> str:
        token = message_id.strip("<>").split("@")[0]
        return f"{int(notification.created_at.timestamp())}.{token}.paraphe"

    def contains(self, name: str) -> bool:
        return (self.root / "new" / name).exists() or any(
            (self.root / "cur").glob(f"{name}:*")) or (self.root / "cur" / name).exists()

    def deliver(self, name: str, data: bytes) -> bool:
        """Writes the message once (fsynced); False when it was already there."""
        if self.contains(name):
            return False
        tmp = self.root / "tmp" / f"{name}.{os.getpid()}"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            # link() refuses to replace: two workers racing on one notification write it once.
            os.link(tmp, self.root / "new" / name)
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
        fd = os.open(self.root / "new", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def messages(self) -> list[Path]:
        return sorted([*(self.root / "new").iterdir(), *(self.root / "cur").iterdir()],
                      key=lambda p: p.name)
