"""Signing in to the cabinet space by a mailed code or link, over HTTP on loopback: the
refusals (wrong codes, a burst of guesses, an unknown address, a forged form), the cookie,
the sessions listed and ended."""

from __future__ import annotations

import asyncio

from tests.web.cabinet.browser import csrf_of, last_code, last_sign_in, problem_of
from workflows import clock, otp
from workflows.models import CabinetSession, EvidenceEvent, Notification, PersonCode

ANNE = "expert@dupre.test"


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1000000:06d}"


async def test_sign_in_by_code_sets_a_safe_cookie_and_signs_out(site, browser):
    b = browser()
    r, page = await b.get("/c/")
    assert r.status == 200 and "Connexion à l'espace cabinet" in page  # Redirected.
    assert r.headers["Cache-Control"] == "no-store"
    r, page = await b.post("/c/login", email="  Expert@Dupre.test ")
    assert r.status == 200 and 'role="status" id="asked"' in page
    mail = await last_sign_in(ANNE)
    code, link = mail.context["code"], mail.context["link"]
    assert len(code) == 6 and code.isdigit() and link.startswith(f"{site.base}/c/login/")
    row = await PersonCode.filter(purpose="cabinet_sign_in").first()
    assert code not in (row.digest, row.salt) and row.bound_to not in link  # Hashes only.
    r, page = await b.post("/c/login/code", email=ANNE, code=code)
    assert r.status == 303 and r.headers["Location"] == "/c/"
    cookie = r.headers.getall("Set-Cookie")
    session_cookie = next(c for c in cookie if c.startswith("paraphe_session="))
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    assert "Path=/c/" in session_cookie and "Secure" not in session_cookie  # http here.
    token = session_cookie.split("=", 1)[1].split(";", 1)[0]
    stored = await CabinetSession.get(person_id=site.world.expert.id)
    assert stored.token_hash != token and len(token) >= 43
    assert stored.user_agent.startswith("Mozilla/5.0") and stored.ip == "127.0.0.1"
    r, page = await b.get("/c/")
    assert "Mes cabinets" in page and "Cabinet Dupré" in page
    assert await EvidenceEvent.exists(kind="cabinet_session.opened",
                                      person_id=site.world.expert.id)
    # The code served once.
    b2 = browser()
    await b2.get("/c/login")
    r, page = await b2.post("/c/login/code", email=ANNE, code=code)
    assert r.status == 410 and problem_of(page) == "otp_expired"
    # Sign-out ends the session server-side.
    await b.get("/c/")
    r, _ = await b.post("/c/logout")
    assert r.status == 303 and r.headers["Location"] == "/c/login"
    assert (await CabinetSession.get(id=stored.id)).revoked_at is not None
    r, page = await b.get("/c/")
    assert "Connexion à l'espace cabinet" in page
    # The old cookie replayed gets nothing either.
    b3 = browser()
    b3.session.cookie_jar.update_cookies({"paraphe_session": token})
    r, page = await b3.get("/c/dupre")
    assert "Connexion à l'espace cabinet" in page


async def test_secure_cookie_under_https(site, browser):
    svc = site.world.svc
    b = browser()
    await b.get("/c/login")
    await b.post("/c/login", email=ANNE)
    # Served behind https from now on (this test client keeps talking plain http to it).
    svc.settings = svc.settings.model_copy(update={"public_url": "https://paraphe.example"})
    r, _ = await browser().get("/c/login")
    anon = next(c for c in r.headers.getall("Set-Cookie") if c.startswith("paraphe_csrf="))
    assert "Secure" in anon and "HttpOnly" in anon and "SameSite=Lax" in anon
    r, _ = await b.post("/c/login/code", email=ANNE, code=await last_code(ANNE))
    cookie = next(c for c in r.headers.getall("Set-Cookie")
                  if c.startswith("paraphe_session="))
    assert "Secure" in cookie and "HttpOnly" in cookie


async def test_unknown_address_gets_the_same_page_and_no_mail(site, browser):
    b = browser()
    await b.get("/c/login")
    _, known = await b.post("/c/login", email=ANNE)
    await b.get("/c/login")
    r, unknown = await b.post("/c/login", email="nobody@nowhere.test")
    assert r.status == 200
    assert unknown.replace("nobody@nowhere.test", "X") == known.replace(ANNE, "X").replace(
        csrf_of(known), csrf_of(unknown))
    assert not await Notification.exists(recipient="nobody@nowhere.test")
    r, page = await b.post("/c/login/code", email="nobody@nowhere.test", code="123456")
    assert r.status == 410 and problem_of(page) == "otp_expired"
    # Asking again at once: the same page, and no second mail (rate-limited per address).
    await b.get("/c/login")
    r, again = await b.post("/c/login", email=ANNE)
    assert r.status == 200 and 'id="asked"' in again
    assert await Notification.filter(recipient=ANNE, template="member/sign_in").count() == 1


async def test_five_wrong_codes_lock_the_code(site, browser):
    b = browser()
    await b.get("/c/login")
    await b.post("/c/login", email=ANNE)
    code = await last_code(ANNE)
    for left in range(otp.MAX_ATTEMPTS - 1, 0, -1):
        r, page = await b.post("/c/login/code", email=ANNE, code=_wrong(code))
        assert r.status == 422 and problem_of(page) == "otp_invalid"
        assert f"Essais restants : {left}." in page
    r, page = await b.post("/c/login/code", email=ANNE, code=_wrong(code))
    assert r.status == 403 and problem_of(page) == "otp_locked"
    r, page = await b.post("/c/login/code", email=ANNE, code=code)
    assert r.status == 403 and problem_of(page) == "otp_locked"
    assert not await CabinetSession.exists()


async def test_a_burst_of_guesses_gets_five_comparisons(site, browser):
    b = browser()
    await b.get("/c/login")
    await b.post("/c/login", email=ANNE)
    code, token = await last_code(ANNE), csrf_of(b.page)
    guesses = [f"{n:06d}" for n in range(20) if f"{n:06d}" != code] + [code]

    async def guess(value):
        r, page = await b.post("/c/login/code", csrf=token, email=ANNE, code=value)
        return r.status, problem_of(page)
    answers = await asyncio.gather(*(guess(g) for g in guesses))
    compared = [a for a in answers if a[1] == "otp_invalid" or a[0] == 303]
    assert len(compared) <= otp.MAX_ATTEMPTS - 1 + 1
    assert (await PersonCode.get(purpose="cabinet_sign_in")).attempts == otp.MAX_ATTEMPTS
    assert await CabinetSession.filter().count() <= 1


async def test_the_mailed_link_signs_in_once_after_a_click(site, browser):
    await browser().post("/c/login", csrf="", email=ANNE)  # Refused: no token.
    assert not await Notification.exists(template="member/sign_in")
    b = browser()
    await b.get("/c/login")
    await b.post("/c/login", email=ANNE)
    link = (await last_sign_in(ANNE)).context["link"]
    path = link[len(site.base):]
    other = browser()
    r, page = await other.get(path)  # A GET (a mail scanner) signs nobody in.
    assert r.status == 200 and "Me connecter" in page
    assert not await CabinetSession.exists()
    r, _ = await other.post(path)
    assert r.status == 303 and r.headers["Location"] == "/c/"
    _, page = await other.get("/c/")
    assert "Cabinet Dupré" in page
    again = browser()
    await again.get(path)
    r, page = await again.post(path)
    assert r.status == 410 and problem_of(page) == "otp_expired"
    # The link used, its code is dead too.
    r, page = await b.post("/c/login/code", email=ANNE, code=await last_code(ANNE))
    assert r.status == 410


async def test_forms_without_the_token_are_refused_with_a_clear_page(site, browser):
    b = browser()
    r, page = await b.post("/c/login", csrf="", email=ANNE)
    assert r.status == 403 and problem_of(page) == "cross_site_request"
    assert "jeton de sécurité absent ou faux" in page
    await b.sign_in(ANNE)
    r, page = await b.post("/c/dupre/members/invite", csrf="forged" * 8,
                           email="x@dupre.test", name="X")
    assert r.status == 403 and problem_of(page) == "cross_site_request"
    r, page = await b.post("/c/dupre/members/invite", csrf="", email="x@dupre.test", name="X")
    assert r.status == 403
    # A token of the sign-in page (before the session) does not pass either.
    anon = browser()
    _, login = await anon.get("/c/login")
    r, _ = await b.post("/c/dupre/keys", csrf=csrf_of(login), name="x", email=ANNE)
    assert r.status == 403
    assert not await Notification.exists(recipient="x@dupre.test")
    r, page = await b.post("/c/logout", csrf="")
    assert r.status == 403
    r, page = await b.get("/c/")
    assert "Mes cabinets" in page  # Still signed in: the forged sign-out did nothing.


async def test_sessions_are_listed_and_one_ends_another(site, browser):
    phone, desk = browser(user_agent="Phone/1.0"), browser(user_agent="Desk/2.0")
    await phone.sign_in(ANNE)
    clock.fast_forward(seconds=otp.RESEND_INTERVAL.total_seconds() + 1)
    await desk.sign_in(ANNE)
    r, page = await phone.get("/c/sessions")
    assert r.status == 200 and "Phone/1.0" in page and "Desk/2.0" in page
    assert "cette session" in page
    rows = await CabinetSession.filter(person_id=site.world.expert.id).order_by("id")
    assert [s.user_agent for s in rows] == ["Phone/1.0", "Desk/2.0"]
    # The phone ends the desk's session: the desk is signed out at its next page.
    r, _ = await phone.post(f"/c/sessions/{rows[1].id}/revoke")
    assert r.status == 303 and r.headers["Location"] == "/c/sessions?done=revoked"
    r, page = await desk.get("/c/dupre")
    assert "Connexion à l'espace cabinet" in page
    _, page = await phone.get("/c/sessions?done=revoked")
    assert "Desk/2.0" not in page and "La session est terminée." in page
    # Another person cannot end the phone's session.
    omar = browser()
    await omar.sign_in("other@autre.test")
    await omar.get("/c/sessions")
    r, page = await omar.post(f"/c/sessions/{rows[0].id}/revoke")
    assert r.status == 404 and problem_of(page) == "session_not_found"
    r, page = await phone.get("/c/")
    assert "Mes cabinets" in page
    assert await EvidenceEvent.filter(kind="cabinet_session.revoked").count() == 1


async def test_english_pages_and_mails(site, browser):
    from mail_gateway.delivery import render_mail

    b = browser()
    r, page = await b.get("/c/login?lang=en")
    assert r.status == 200 and "Sign in to the cabinet space" in page and 'lang="en"' in page
    r, page = await b.post("/c/login", csrf="", email=ANNE)
    assert r.status == 403  # No token: refused, in the browser's language below.
    b.session.headers["Accept-Language"] = "en"
    r, page = await b.post("/c/login", csrf="", email=ANNE)
    assert "security token missing or wrong" in page
    for lang, words in (("fr", "Votre code de connexion"), ("en", "Your sign-in code")):
        subject, body = render_mail("mail/member/sign_in", lang, {
            "name": "Anne", "code": "123456", "link": "https://x/c/login/t", "minutes": 10})
        assert words in subject and "123456" in subject and "https://x/c/login/t" in body
        subject, body = render_mail("mail/member/welcome", lang, {
            "name": "Claire", "email": "c@x.test", "cabinet": "Cabinet Dupré",
            "expert": "Anne Dupré", "link": "https://x/c/login"})
        assert "Anne Dupré" in subject and "https://x/c/login" in body
