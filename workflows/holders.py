"""Who holds a claim or a lease: a process named by host, home, pid and a random part.

A row claimed by a worker (a notification being sent, spooled mail being processed) names
its holder. When a process is killed, its restart on the same host and home finds the
claims of its predecessor and, its pid being dead, takes them back at once; a claim of any
other process (another instance of the fleet, alive or not) waits for its timeout.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from pathlib import Path

SEPARATOR = "|"


def _place(home: Path | str) -> str:
    """The host and home part of a holder's name (a home path may be long: hashed)."""
    digest = hashlib.sha256(str(Path(home).resolve()).encode()).hexdigest()[:16]
    return f"{socket.gethostname()[:100]}{SEPARATOR}{digest}"


def holder_name(home: Path | str) -> str:
    """A fresh name for a worker of this process working for the instance at `home`."""
    return SEPARATOR.join((_place(home), str(os.getpid()), secrets.token_hex(4)))


def same_place_prefix(home: Path | str) -> str:
    """What the names of the holders on this host and home start with."""
    return _place(home) + SEPARATOR


def left_by_dead_process(holder: str | None, home: Path | str) -> bool:
    """Whether `holder` was a process on this host and home that no longer runs.

    A pid that runs again (reused) counts as alive: its claims wait for their timeout,
    never taken from a live process."""
    if not holder or not holder.startswith(same_place_prefix(home)):
        return False
    try:
        pid = int(holder[len(same_place_prefix(home)):].split(SEPARATOR)[0])
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
