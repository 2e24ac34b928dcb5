"""Canary of compat.aiogram: the bot's routers join a second dispatcher in one process."""

from __future__ import annotations

from bot.app import build_dispatcher


def test_a_bot_built_again_gets_every_router():
    """aiogram.parent_router: aiogram refuses a router that has a parent, unless detached."""
    build_dispatcher(svc=None)
    again = build_dispatcher(svc=None)
    assert again.sub_routers
    assert all(router.parent_router is again for router in again.sub_routers)
