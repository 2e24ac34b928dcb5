"""The one rule for text from outside: what is repaired at intake and what is refused."""

import pytest

from workflows.errors import TextInvalidError
from workflows.text import check_line, check_text, clean_line, clean_text, decode_bytes


def test_clean_line_drops_controls_and_folds_breaks():
    assert clean_line("Lettre\x00 de\r\nmission\x1b") == "Lettre de mission"
    assert clean_line("a\u202eb\ufffdc\ud800") == "abc"
    assert clean_line("x" * 50, 10) == "x" * 10
    assert clean_line(None) == ""


def test_clean_text_keeps_lines_and_tabs():
    assert clean_text("a\r\nb\rc\td\x00e") == "a\nb\nc\tde"


def test_check_line_refuses_with_field_and_reason():
    assert check_line("  Zoé   Dupont ", "name") == "Zoé Dupont"
    for bad, reason in [("Zo\x00é", "unsafe_character"), ("a\ud800", "unsafe_character"),
                        ("Jean\ufffd", "unsafe_character"), ("a\nb", "line_break"),
                        ("", "required"), ("x" * 201, "too_long"), (42, "not_text")]:
        with pytest.raises(TextInvalidError) as err:
            check_line(bad, "name")
        assert err.value.details["field"] == "name"
        assert err.value.details["reason"] == reason


def test_check_text_allows_lines():
    assert check_text("Trop cher.\r\nMerci", "reason") == "Trop cher.\nMerci"
    with pytest.raises(TextInvalidError):
        check_text("a\x07", "reason")


def test_undeclared_8bit_reads_utf8_then_windows_1252():
    assert decode_bytes("Zoé".encode()) == "Zoé"
    assert decode_bytes("Zoé – 5 €".encode("cp1252")) == "Zoé – 5 €"
    assert decode_bytes(b"a\x81b") == "a\x81b"
    assert clean_line(decode_bytes(b"a\x81b")) == "ab"
