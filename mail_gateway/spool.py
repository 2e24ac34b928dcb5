"""The durable intake: one file per accepted message and recipient, fsynced before the 250."""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass
class SpooledMail:
    path: Path
    envelope: dict
    raw: bytes


class Spool:
    """Files `<home>/spool/new/<time>-<random>.eml`: one JSON line (the envelope), then the message.

    A file is written under tmp/, fsynced, renamed into new/ and the directory fsynced: once
    `write` returns, the message survives a crash or a power cut. It is removed only after the
    message was processed (and its reply recorded), so a restart finds what was left.
    A message that cannot be processed (its MIME unreadable, or failing past the retry
    deadline) moves to quarantine/, next to a `<name>.json` saying why, for an operator.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.new = self.root / "new"
        self.tmp = self.root / "tmp"
        self.quarantine_dir = self.root / "quarantine"
        for folder in (self.new, self.tmp, self.quarantine_dir):
            folder.mkdir(parents=True, exist_ok=True)

    def write(self, envelope: dict, raw: bytes) -> Path:
        """Writes one message durably and returns its path (blocking: run it in an executor)."""
        name = f"{time.time_ns():020d}-{secrets.token_hex(6)}.eml"
        tmp, final = self.tmp / name, self.new / name
        header = json.dumps(envelope, separators=(",", ":"), ensure_ascii=True).encode() + b"\n"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, header)
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, final)
        _fsync_dir(self.new)
        return final

    def pending(self) -> list[Path]:
        """The messages not yet processed, oldest first."""
        return sorted(p for p in self.new.iterdir() if p.suffix == ".eml")

    def read(self, path: Path) -> SpooledMail:
        data = Path(path).read_bytes()
        header, _, raw = data.partition(b"\n")
        return SpooledMail(path=Path(path), envelope=json.loads(header), raw=raw)

    def quarantine(self, path: Path, reason: dict) -> Path | None:
        """Moves a message to quarantine/ with `<name>.json` saying why; None when it is gone.

        The reason is written (and fsynced) first: a quarantined message never lacks one.
        """
        path = Path(path)
        target = self.quarantine_dir / path.name
        note = target.with_suffix(".json")
        data = json.dumps(reason, ensure_ascii=False, sort_keys=True, default=str).encode()
        with open(note, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.rename(path, target)
        except FileNotFoundError:
            note.unlink(missing_ok=True)
            return None
        _fsync_dir(self.quarantine_dir)
        return target

    def quarantined(self) -> list[Path]:
        """The messages set aside, oldest first."""
        return sorted(p for p in self.quarantine_dir.iterdir() if p.suffix == ".eml")

    def reason(self, path: Path) -> dict:
        """Why a quarantined message was set aside."""
        try:
            return json.loads(Path(path).with_suffix(".json").read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def release(self, path: Path, envelope_update: dict) -> Path:
        """Puts a quarantined message back into new/ (its envelope updated), for another try."""
        spooled = self.read(path)
        final = self.write({**spooled.envelope, **envelope_update}, spooled.raw)
        Path(path).unlink()
        Path(path).with_suffix(".json").unlink(missing_ok=True)
        return final

    def drop(self, path: Path) -> None:
        Path(path).unlink()
        Path(path).with_suffix(".json").unlink(missing_ok=True)

    def find(self, ident: str) -> Path | None:
        """The pending or quarantined message whose file name (with or without .eml) is `ident`."""
        name = Path(ident).name
        name = name if name.endswith(".eml") else f"{name}.eml"
        for folder in (self.new, self.quarantine_dir):
            if (folder / name).is_file():
                return folder / name
        return None

    def envelope(self, path: Path) -> dict:
        """The envelope line alone, without reading the message."""
        with open(path, "rb") as fh:
            return json.loads(fh.readline())

    def remove(self, path: Path) -> None:
        # Not fsynced: if the removal is lost in a crash the message is processed again, and
        # processing is idempotent (the InboundMessage row says it is done).
        Path(path).unlink(missing_ok=True)

    def clean_tmp(self, older_than: float = 3600.0) -> None:
        """Drops half-written files of a process that died before its 250.

        Only old ones: another instance sharing this home may be writing the recent ones.
        """
        limit = time.time() - older_than
        for leftover in self.tmp.iterdir():
            if leftover.stat().st_mtime < limit:
                leftover.unlink(missing_ok=True)


def age_seconds(envelope: dict, now: datetime) -> float:
    """Seconds since the message was accepted (or released from quarantine by an operator)."""
    since = envelope.get("retried_at") or envelope.get("received_at")
    try:
        return max(0.0, (now - datetime.fromisoformat(since)).total_seconds())
    except (TypeError, ValueError):
        return 0.0


def oldest_unanswered(spool: Spool, now: datetime) -> float:
    """The age in seconds of the oldest message still waiting in new/ (0 when none waits)."""
    oldest = 0.0
    for path in spool.pending():
        try:
            envelope = spool.envelope(path)
        except (FileNotFoundError, ValueError):
            continue  # Finished meanwhile, or being written.
        oldest = max(oldest, age_seconds(envelope, now))
    return oldest


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
