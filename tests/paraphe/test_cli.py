"""Every CLI command of SPEC §4 run as a real process, with its refusals."""

import re
from pathlib import Path

import pytest
from stdnum.fr import siren

from paraphe.commands import demo
from tests.cli import paraphe


def ok(result):
    assert result.code == 0, result.err
    return result


def refused(result, fragment):
    assert result.code != 0
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err  # a one-line reason
    assert fragment in lines[0], lines[0]
    return result


@pytest.fixture
def firm(settings):
    ok(paraphe(settings, "cabinet", "add", "dupont", "--name", "Cabinet Dupont",
               "--siren", "552100554"))
    ok(paraphe(settings, "user", "add", "expert@dupont.fr", "--name", "Claire Dupont",
               "--cabinet", "dupont", "--role", "expert"))
    ok(paraphe(settings, "user", "add", "collab@dupont.fr", "--name", "Paul Martin",
               "--cabinet", "dupont", "--role", "collaborator", "--phone", "+33 6 12 34 56 78"))
    return settings


def test_cabinet_add_issues_its_seal_certificate(settings):
    out = ok(paraphe(settings, "cabinet", "add", "dupont", "--name", "Cabinet Dupont",
                     "--siren", "552100554", "--json")).json()
    assert out["slug"] == "dupont"
    assert "Cabinet Dupont" in out["seal_certificate"]["subject"]
    refused(paraphe(settings, "cabinet", "add", "dupont", "--name", "Again"), "already exists")
    refused(paraphe(settings, "cabinet", "add", "Bad Slug", "--name", "X"), "invalid cabinet slug")
    # The cabinet space's own pages (/c/login, /c/sessions) are no cabinet's.
    refused(paraphe(settings, "cabinet", "add", "sessions", "--name", "X"), "is reserved")
    refused(paraphe(settings, "cabinet", "add", "x2", "--name", "X", "--siren", "12"),
            "invalid SIREN")
    # Nine digits are not enough: the last one is a Luhn check digit (python-stdnum).
    luhn = refused(paraphe(settings, "cabinet", "add", "x2", "--name", "X", "--siren",
                           "123456789"), "invalid SIREN '123456789'")
    assert "check digit" in luhn.err and "(siren_invalid)" in luhn.err
    refused(paraphe(settings, "user", "add", "a@x2.fr", "--name", "A B", "--cabinet", "x2",
                    "--role", "expert"), "unknown cabinet")  # Nothing was created.


def test_a_cabinet_without_siren_gets_its_seal_once_it_has_one(settings):
    out = ok(paraphe(settings, "cabinet", "add", "solo", "--name", "Cabinet Solo", "--json"))
    assert out.json()["seal_certificate"] is None and out.json()["siren"] is None
    refused(paraphe(settings, "cabinet", "siren", "solo", "552 100 555"), "check digit")
    given = ok(paraphe(settings, "cabinet", "siren", "solo", "552 100 554", "--json")).json()
    assert given["siren"] == "552100554"
    assert "2.5.4.97=NTRFR-552100554" in given["seal_certificate"]["subject"]
    refused(paraphe(settings, "cabinet", "siren", "ghost", "552100554"), "unknown cabinet")


def test_user_show_lists_cabinets_delegations_and_private_addresses(firm):
    ok(paraphe(firm, "delegation", "grant", "collab@dupont.fr", "--cabinet", "dupont", "seal"))
    info = ok(paraphe(firm, "user", "show", "collab@dupont.fr", "--json")).json()
    assert info["phone"] == "+33612345678"
    assert info["cabinets"] == [{"slug": "dupont", "name": "Cabinet Dupont",
                                 "role": "collaborator", "delegations": ["seal"]}]
    local, domain = info["mail_in_address"].split("@")
    assert local.startswith("seal+") and len(local) > 20 and domain == "paraphe.localhost"
    assert info["telegram"]["start_command"].startswith("/start ")
    expert = ok(paraphe(firm, "user", "show", "expert@dupont.fr", "--json")).json()
    assert expert["cabinets"][0]["delegations"] == ["sign", "seal", "prepare", "launch"]
    assert expert["mail_in_address"] != info["mail_in_address"]
    text = ok(paraphe(firm, "user", "show", "collab@dupont.fr")).out
    assert "dupont" in text and "seal" in text and info["mail_in_address"] in text
    # Only who signs in their own name registers, and gets a personal link to its page.
    assert info["registration"] == {"needed": False, "step": None, "link": None}
    assert "Registration" not in text
    assert expert["registration"]["needed"] and expert["registration"]["step"] is None
    assert re.fullmatch(r"https?://[^/]+/r/[A-Za-z0-9_-]{43}", expert["registration"]["link"])
    text = ok(paraphe(firm, "user", "show", "expert@dupont.fr")).out
    assert re.search(r"Registration: not started; web page: https?://[^/]+/r/[A-Za-z0-9_-]{43}\n",
                     text)


def test_user_add_refusals(firm):
    refused(paraphe(firm, "user", "add", "collab@dupont.fr", "--name", "P", "--cabinet",
                    "dupont", "--role", "collaborator"), "already a member")
    refused(paraphe(firm, "user", "add", "x@y.fr", "--name", "X", "--cabinet", "nope",
                    "--role", "expert"), "unknown cabinet")
    refused(paraphe(firm, "user", "add", "not-an-email", "--name", "X", "--cabinet", "dupont",
                    "--role", "expert"), "invalid e-mail")
    refused(paraphe(firm, "user", "add", "x@y.fr", "--name", "X", "--cabinet", "dupont",
                    "--role", "boss"), "invalid choice")
    refused(paraphe(firm, "user", "add", "x@y.fr", "--name", "X", "--cabinet", "dupont",
                    "--role", "expert", "--phone", "06"), "invalid mobile")
    refused(paraphe(firm, "user", "show", "ghost@dupont.fr"), "unknown person")


def test_person_joins_a_second_cabinet(firm):
    ok(paraphe(firm, "cabinet", "add", "martin", "--name", "Cabinet Martin"))
    ok(paraphe(firm, "user", "add", "collab@dupont.fr", "--name", "Paul Martin",
               "--cabinet", "martin", "--role", "expert"))
    info = ok(paraphe(firm, "user", "show", "collab@dupont.fr", "--json")).json()
    assert [(c["slug"], c["role"]) for c in info["cabinets"]] == [
        ("dupont", "collaborator"), ("martin", "expert")]


def test_delegation_grant_and_revoke(firm):
    out = ok(paraphe(firm, "delegation", "grant", "collab@dupont.fr", "--cabinet", "dupont",
                     "prepare")).out
    assert "granted" in out
    assert "already held" in ok(paraphe(firm, "delegation", "grant", "collab@dupont.fr",
                                        "--cabinet", "dupont", "prepare")).out
    assert "revoked" in ok(paraphe(firm, "delegation", "revoke", "collab@dupont.fr",
                                   "--cabinet", "dupont", "prepare")).out
    info = ok(paraphe(firm, "user", "show", "collab@dupont.fr", "--json")).json()
    assert info["cabinets"][0]["delegations"] == []
    refused(paraphe(firm, "delegation", "grant", "collab@dupont.fr", "--cabinet", "dupont",
                    "signer"), "unknown delegation")
    refused(paraphe(firm, "delegation", "grant", "collab@dupont.fr", "--cabinet", "nope",
                    "seal"), "unknown cabinet")
    refused(paraphe(firm, "delegation", "grant", "expert@dupont.fr", "--cabinet", "dupont",
                    "seal"), "expert")


def test_credit_add_and_show(firm):
    ok(paraphe(firm, "credit", "add", "dupont", "50"))
    ok(paraphe(firm, "credit", "add", "dupont", "25"))
    assert ok(paraphe(firm, "credit", "show", "dupont", "--json")).json() == {
        "cabinet": "dupont", "available": 75, "reserved": 0,
        "tariffs": {"seal": 1, "signature": 1}}
    assert "75 credits available" in ok(paraphe(firm, "credit", "show", "dupont")).out
    refused(paraphe(firm, "credit", "add", "dupont", "-5"), "invalid amount")
    refused(paraphe(firm, "credit", "add", "dupont", "ten"), "invalid amount")
    refused(paraphe(firm, "credit", "add", "nope", "5"), "unknown cabinet")
    assert ok(paraphe(firm, "credit", "show", "dupont", "--json")).json()["available"] == 75


def test_audit_verify_sees_the_chain_and_its_tampering(firm):
    out = ok(paraphe(firm, "audit", "verify")).out
    assert "intact" in out
    import sqlite3

    if firm.database_url.startswith("sqlite://"):
        conn = sqlite3.connect(firm.database_url[len("sqlite://"):])
        conn.execute("UPDATE evidence_event SET kind = 'forged' WHERE seq = 2")
        conn.commit()
        conn.close()
    else:
        import asyncio

        import asyncpg

        async def tamper():
            c = await asyncpg.connect(firm.database_url)
            await c.execute("UPDATE evidence_event SET kind = 'forged' WHERE seq = 2")
            await c.close()

        asyncio.run(tamper())
    result = paraphe(firm, "audit", "verify")
    assert result.code == 1
    assert "BROKEN at event 2" in result.out


def test_demo_twice_neither_fails_nor_duplicates(settings):
    first = ok(paraphe(settings, "demo"))
    assert "Created" in first.out
    second = ok(paraphe(settings, "demo"))
    assert "Already there" in second.out
    credit = ok(paraphe(settings, "credit", "show", "cabinet-demo", "--json")).json()
    assert credit["available"] == 100
    collab = ok(paraphe(settings, "user", "show", "collab@demo.paraphe.localhost",
                        "--json")).json()
    assert collab["cabinets"][0]["delegations"] == ["seal", "prepare"]
    assert collab["mail_in_address"] in second.out
    assert collab["mail_in_address"].replace("seal+", "collect+") in second.out
    # Each run makes a working API key for the expert and shows it once.
    key = re.search(r"Bearer (pk_\S+)'", second.out)[1]
    assert key not in first.out
    listed = ok(paraphe(settings, "apikey", "list", "cabinet-demo", "--json")).json()
    assert [k["person"] for k in listed] == ["expert@demo.paraphe.localhost"] * 2
    assert any(key.startswith(k["prefix"]) for k in listed)


def test_the_demo_siren_passes_the_luhn_check_and_the_readme_names_it():
    assert siren.is_valid(demo.SIREN)
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert f"SIREN {demo.SIREN[:3]} {demo.SIREN[3:6]} {demo.SIREN[6:]}" in readme


def test_usage_errors_are_one_line(settings):
    refused(paraphe(settings, "credit"), "required")
    refused(paraphe(settings, "nonsense"), "invalid choice")
