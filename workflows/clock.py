"""The one clock of the core; tests move it instead of sleeping."""

from __future__ import annotations

from datetime import datetime, timedelta, UTC

_offset = timedelta(0)


def now() -> datetime:
    """The current time, timezone-aware UTC, shifted by any fast-forward."""
    return datetime.now(UTC) + _offset


def fast_forward(**delta: float) -> None:
    """Moves the clock forward (``days=``, ``hours=``, ``minutes=``…), like Mailman's."""
    global _offset
    _offset += timedelta(**delta)


def reset() -> None:
    """Puts the clock back to real time."""
    global _offset
    _offset = timedelta(0)


def offset() -> timedelta:
    """How far the clock is moved: signing workers get it with each job, so the time they
    stamp is the service's."""
    return _offset


def set_offset(delta: timedelta) -> None:
    """Moves the clock to `delta` from real time (a worker, to follow the service)."""
    global _offset
    _offset = delta
