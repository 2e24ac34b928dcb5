"""Parsing of command arguments shared by the collection commands."""

from __future__ import annotations

from aiogram.filters import CommandObject


def collection_id(command: CommandObject) -> int | None:
    """The collection number given first after the command, if it is one."""
    first = (command.args or "").split(maxsplit=1)
    if not first or not first[0].lstrip("#").isdigit():
        return None
    return int(first[0].lstrip("#"))


def rest(command: CommandObject) -> str:
    """What follows the collection number (a reason)."""
    parts = (command.args or "").split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""
