"""Every place Paraphe relies on a dependency's internals, checked when a process starts.

A speed-up that overrides a private method is silently dropped when a release renames the
method (ours is simply never called), and a match on a library's error text silently stops
matching. Each module here holds the overrides of one library and an `install()` that checks
every name they replace or call still exists with the parameters they were written for, and
raises CompatError at start-up otherwise. tests/compat holds a canary per override that
fails when the override is not in effect on the real path.

PARAPHE_COMPAT_DISABLE (a comma-separated list of override names such as
`pyhanko.revisions`, or of libraries such as `aiosmtpd`) turns overrides off at `install()`:
the canaries use it to show they notice, and an operator can fall back to the library's own
code while an upgrade is sorted out.

`workflows` imports `compat.pyhanko` only; `install_all()` imports the other modules when
called, so the core never loads a transport's library.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import inspect
import os

DISABLE_ENV = "PARAPHE_COMPAT_DISABLE"
LIBRARIES = ("pyhanko", "aiosmtpd", "tortoise", "aiogram")

_MISSING = object()


class CompatError(RuntimeError):
    """A dependency no longer has a name, parameter or text an override relies on."""


def install_all() -> None:
    """Checks and installs every library's overrides (idempotent); raises CompatError."""
    for library in LIBRARIES:
        # By name: importing compat (as the core does) must not load aiosmtpd or aiogram.
        importlib.import_module(f"compat.{library}").install()


def disabled(override: str) -> bool:
    """Whether PARAPHE_COMPAT_DISABLE names this override (`library.override`) or its library."""
    names = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
    return override in names or override.split(".", 1)[0] in names


class Checks:
    """The checks of one library's overrides, failing with the library's name and version."""

    def __init__(self, library: str, written_for: str, distribution: str, module: str) -> None:
        self.library, self.written_for = library, written_for
        self.distribution, self.module = distribution, module

    def fail(self, what: str) -> CompatError:
        try:
            installed = importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        return CompatError(
            f"{self.library} {self.written_for}: {what} missing or changed (installed:"
            f" {installed}); see {self.module}")

    def name(self, owner, name: str, params: tuple[str, ...] | None = None):
        """`owner.name`, checked to exist and, given `params`, to take exactly those
        parameters in that order; returns it."""
        value = getattr(owner, name, _MISSING)
        label = f"{getattr(owner, '__name__', type(owner).__name__)}.{name}"
        if value is _MISSING:
            raise self.fail(label)
        if params is not None:
            self.params(value, params, label)
        return value

    def params(self, function, params: tuple[str, ...], label: str | None = None) -> None:
        """`function` takes exactly `params`, in that order."""
        label = label or function.__qualname__
        try:
            found = tuple(inspect.signature(function).parameters)
        except (TypeError, ValueError):
            raise self.fail(label) from None
        if found != params:
            raise self.fail(f"{label}{params}")

    def uses(self, function, *names: str) -> None:
        """`function`'s code still refers to these names (globals or attributes): where a
        library looks up a name we replace, or sets an attribute we read."""
        found = set(_names(function.__code__))
        for name in names:
            if name not in found:
                raise self.fail(f"{name} in {function.__qualname__}")

    def fields(self, cls, *names: str) -> None:
        """A dataclass that still has these fields."""
        found = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else ()
        for name in names:
            if name not in found:
                raise self.fail(f"{cls.__name__}.{name}")

    def attribute(self, instance, name: str) -> None:
        """An attribute that instances hold (set in `__init__`), checked on `instance`."""
        if not hasattr(instance, name):
            raise self.fail(f"{type(instance).__name__}().{name}")

    def text(self, function, text: str) -> None:
        """A message `function` builds, checked among its compiled constants (an f-string's
        literal parts, adjacent literals joined)."""
        if not any(text in c for c in _constants(function.__code__)):
            raise self.fail(f"the text {text!r} of {function.__qualname__}")


def _names(code):
    yield from code.co_names
    for const in code.co_consts:
        if inspect.iscode(const):
            yield from _names(const)


def _constants(code):
    for const in code.co_consts:
        if isinstance(const, str):
            yield const
        elif inspect.iscode(const):
            yield from _constants(const)
