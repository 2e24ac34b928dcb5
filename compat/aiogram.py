"""aiogram 3: routers attached to a new dispatcher, through aiogram's private parent link.

The bot's routers are module-level (one per feature); a bot started again in the same
process (tests, a restart of the bot alone) builds a new dispatcher, and aiogram refuses to
include a router that already has a parent. `detach()` clears the private `_parent_router`
that the `parent_router` setter checks (override `aiogram.parent_router`, for
PARAPHE_COMPAT_DISABLE and tests/compat/test_aiogram.py).
"""

from __future__ import annotations

from aiogram import Router

from compat import Checks, disabled

_detach = True
_checked = False


def detach(router: Router) -> None:
    """Lets `router` be included in a new dispatcher."""
    if _detach:
        router._parent_router = None


def install() -> None:
    """Checks that aiogram still keeps a router's parent where `detach` clears it (raises
    compat.CompatError), and reads PARAPHE_COMPAT_DISABLE. Idempotent."""
    global _checked, _detach
    if not _checked:
        _check()
        _checked = True
    _detach = not disabled("aiogram.parent_router")


def _check() -> None:
    c = Checks("aiogram", "3", "aiogram", "compat/aiogram.py")
    c.attribute(Router(), "_parent_router")
    parent = c.name(Router, "parent_router")
    if not isinstance(parent, property) or parent.fset is None:
        raise c.fail("Router.parent_router (a property with a setter)")
    c.uses(parent.fget, "_parent_router")
    c.uses(parent.fset, "_parent_router")
