"""What happened, for whoever watches: the core names an event and its labels, the wiring's
listener turns it into metrics (paraphe.metrics). With no listener nothing is done; a
listener that fails never fails the use case."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Listener = Callable[[str, dict], None]
_listeners: list[Listener] = []
log = logging.getLogger("paraphe.observations")


def listen(listener: Listener) -> None:
    """Adds `listener` (once) for every event."""
    if listener not in _listeners:
        _listeners.append(listener)


def emit(event: str, **labels) -> None:
    """Tells every listener; `labels` are short codes (a channel, an outcome) and `seconds`."""
    for listener in _listeners:
        try:
            listener(event, labels)
        except Exception:  # A metric must never fail a seal or a sign-in.
            log.exception("listener of %s failed", event)


@contextmanager
def timed(event: str, **labels) -> Iterator[None]:
    """Emits `event` with the seconds the block took, when it ends without an error."""
    started = time.perf_counter()
    yield
    emit(event, seconds=time.perf_counter() - started, **labels)
