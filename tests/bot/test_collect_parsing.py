"""The signer lines of the /collect conversation."""

from bot.routers.collect import parse_signers


def test_signer_lines():
    signers, unreadable = parse_signers(
        "Jean Client <Jean@Client.test>\n\n  Marie Curie <marie@x.test> +33 6 12 34 56 78\n"
        "no address here\nBad <not-an-email>")
    assert signers == [
        {"name": "Jean Client", "email": "jean@client.test", "phone": None},
        {"name": "Marie Curie", "email": "marie@x.test", "phone": "+33612345678"}]
    assert unreadable == ["no address here", "Bad <not-an-email>"]
