"""`paraphe user show` gives the Telegram deep link, and a new one-time code on request."""

from tests.cli import paraphe
from tests.paraphe.test_cli import firm, ok  # noqa: F401 - the fixture is used by name


def test_user_show_prints_the_deep_link_and_renews_the_code(firm):  # noqa: F811
    # The bot's username comes from the configuration file the CLI reads.
    (firm.home / "absent.toml").write_text('PARAPHE_TELEGRAM_BOT_USERNAME = "paraphe_bot"\n')
    info = ok(paraphe(firm, "user", "show", "collab@dupont.fr", "--json")).json()["telegram"]
    code = info["link_code"]
    assert info["deep_link"] == f"https://t.me/paraphe_bot?start={code}"
    assert info["link_expires_at"]
    # Shown again, the same code (still valid); --new-link-code replaces it.
    again = ok(paraphe(firm, "user", "show", "collab@dupont.fr", "--json")).json()["telegram"]
    assert again["link_code"] == code
    renewed = ok(paraphe(firm, "user", "show", "collab@dupont.fr", "--new-link-code",
                         "--json")).json()["telegram"]
    assert renewed["link_code"] != code
    assert renewed["deep_link"] == f"https://t.me/paraphe_bot?start={renewed['link_code']}"
    text = ok(paraphe(firm, "user", "show", "collab@dupont.fr")).out
    assert f"link with https://t.me/paraphe_bot?start={renewed['link_code']} (one-time" in text
