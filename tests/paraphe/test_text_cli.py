"""The CLI refuses unsafe text with the core's one rule, in one line."""

from tests.cli import paraphe


def test_a_name_with_a_control_character_is_refused_in_one_line(settings):
    result = paraphe(settings, "cabinet", "add", "neuf", "--name", "Cabinet\x1b[2J Neuf")
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert lines == ["paraphe: name: the character U+001B is not allowed (text_invalid)"]
    ok = paraphe(settings, "cabinet", "add", "neuf", "--name", "Cabinet Neuf")
    assert ok.code == 0, ok.err
