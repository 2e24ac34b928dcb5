"""`install()` fails loudly, naming the library, when a name an override relies on is gone."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
from aiogram import Router
from aiosmtpd.smtp import SMTP
from pyhanko.pdf_utils import xref
from tortoise import transactions

import compat
from compat import CompatError


def test_installing_again_changes_nothing():
    compat.install_all()
    compat.install_all()


@pytest.mark.parametrize(("library", "owner", "name", "expected"), [
    ("pyhanko", xref.XRefBuilder, "_read_xref_stream",
     "pyhanko 0.38: XRefBuilder._read_xref_stream missing or changed (installed: 0.38.0); "
     "see compat/pyhanko.py"),
    ("aiosmtpd", SMTP, "_set_post_data_state", "aiosmtpd 1.4: SMTP._set_post_data_state"),
    ("tortoise", transactions, "in_transaction", "tortoise-orm 1.1: tortoise.transactions.in"),
    ("aiogram", Router, "parent_router", "aiogram 3: Router.parent_router"),
])
def test_a_name_gone_stops_the_start(library, owner, name, expected, monkeypatch):
    module = importlib.import_module(f"compat.{library}")
    monkeypatch.setattr(module, "_checked", False)
    monkeypatch.delattr(owner, name)
    with pytest.raises(CompatError) as failed:
        compat.install_all()
    assert str(failed.value).startswith(expected)


def test_a_changed_signature_stops_the_start(monkeypatch):
    from compat import pyhanko

    monkeypatch.setattr(pyhanko, "_checked", False)
    monkeypatch.setattr(xref.XRefCache, "get_historical_ref", lambda self, ref: None)
    with pytest.raises(CompatError, match=r"XRefCache.get_historical_ref\("):
        pyhanko.install()


def test_a_changed_error_text_stops_the_start(monkeypatch):
    from pyhanko.sign.signers import pdf_byterange

    from compat import pyhanko

    def fill_reserved_region(self, output, content_bytes):
        raise ValueError("Final payload too large")

    monkeypatch.setattr(pyhanko, "_checked", False)
    monkeypatch.setattr(pdf_byterange.PreparedByteRangeDigest, "fill_reserved_region",
                        fill_reserved_region)
    with pytest.raises(CompatError, match="Final ByteRange payload larger than expected"):
        pyhanko.install()


def test_the_core_loads_no_transport_library():
    code = ("import sys, workflows.pdf.engine, workflows.trust.signers;"
            "print(sorted(m for m in ('aiosmtpd', 'aiogram') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
