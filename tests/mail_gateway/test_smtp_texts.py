"""Every SMTP refusal of the gateway: its code, then French and English a sender can read."""

from __future__ import annotations

import pytest

from mail_gateway import errors

REFUSALS = {name: value for name, value in vars(errors).items()
            if isinstance(value, errors.Refusal)}
REFUSALS.update({code: refusal for code, refusal in errors.SMTP_STATUS.items()})


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_each_refusal_reads_in_french_then_english(name):
    refusal = REFUSALS[name]
    line = refusal.line(limit=10, mb=10)
    assert line.startswith(refusal.status + " ")
    assert refusal.status[0] in "45" and refusal.status[4] == refusal.status[0]
    french, sep, english = line[len(refusal.status) + 1:].partition(" / ")
    assert sep and len(french) > 20 and len(english) > 20
    assert "{{" not in line and "\n" not in line
    assert line.isascii()  # RFC 5321 4.2.1: reply text is US-ASCII
    assert len(line) + 2 <= 512  # RFC 5321 4.5.3.1.5: a reply line, CRLF included


def test_the_french_keeps_its_words_without_accents():
    assert errors.MESSAGE_TOO_BIG.line(mb=10) == (
        "552 5.3.4 Le message depasse la taille maximale : 10 Mo de pieces jointes au plus. / "
        "The message exceeds the size limit: at most 10 MB of attachments.")
