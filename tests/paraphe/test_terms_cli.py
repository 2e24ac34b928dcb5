"""`paraphe terms show|accept`, and `paraphe seal` refused until the expert accepts."""

from tests.cli import paraphe
from tests.paraphe.test_cli import firm, ok, refused  # noqa: F401 - fixture
from tests.pdfs import make_pdf


def test_seal_refused_until_the_expert_accepts_the_terms(firm, tmp_path):  # noqa: F811
    src, out = tmp_path / "in.pdf", tmp_path / "out.pdf"
    src.write_bytes(make_pdf(text="Statuts"))
    ok(paraphe(firm, "credit", "add", "dupont", "5"))
    result = refused(paraphe(firm, "seal", "--cabinet", "dupont", str(src), "-o", str(out)),
                     "(terms_not_accepted)")
    assert "paraphe terms accept dupont --email" in result.err
    assert result.code == 1 and not out.exists()

    shown = ok(paraphe(firm, "terms", "show", "--json")).json()
    assert shown["version"] == "2026-01" and len(shown["sha256"]["fr"]) == 64
    assert [(c["slug"], c["accepted"]) for c in shown["cabinets"]] == [("dupont", False)]
    assert "dupont: NOT accepted" in ok(paraphe(firm, "terms", "show")).out
    assert "Paraphe terms of use" in ok(paraphe(firm, "terms", "show", "--text", "en")).out

    refused(paraphe(firm, "terms", "accept", "dupont", "--email", "collab@dupont.fr"),
            "only its expert accepts the terms")
    refused(paraphe(firm, "terms", "accept", "dupont", "--email", "expert@dupont.fr",
                    "--version", "2025-01"), "(terms_version_invalid)")
    refused(paraphe(firm, "terms", "accept", "dupont", "--email", "nobody@dupont.fr"),
            "(person_not_found)")
    refused(paraphe(firm, "terms", "accept", "nope", "--email", "expert@dupont.fr"),
            "(cabinet_not_found)")
    refused(paraphe(firm, "terms", "accept", "dupont"), "--email")

    done = ok(paraphe(firm, "terms", "accept", "dupont", "--email", "expert@dupont.fr"))
    assert done.out.strip() == "dupont: terms 2026-01 accepted by expert@dupont.fr"
    again = ok(paraphe(firm, "terms", "accept", "dupont", "--email", "expert@dupont.fr"))
    assert "already accepted by expert@dupont.fr" in again.out
    shown = ok(paraphe(firm, "terms", "show", "--json")).json()
    assert shown["cabinets"][0]["accepted_by"] == "expert@dupont.fr"

    ok(paraphe(firm, "seal", "--cabinet", "dupont", str(src), "-o", str(out)))
    assert out.read_bytes().startswith(b"%PDF")
    events = ok(paraphe(firm, "audit", "verify"))
    assert events.code == 0


def test_cabinet_add_accepts_nothing_and_demo_accepts_for_its_expert(settings):
    added = ok(paraphe(settings, "cabinet", "add", "solo", "--name", "Cabinet Solo"))
    assert "paraphe terms accept solo --email EXPERT_EMAIL" in added.out
    ok(paraphe(settings, "demo"))
    shown = ok(paraphe(settings, "terms", "show", "--json")).json()
    assert {c["slug"]: c["accepted_by"] for c in shown["cabinets"]} == {
        "cabinet-demo": "expert@demo.paraphe.localhost", "solo": None}
