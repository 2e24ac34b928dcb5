"""Octopush (a French SMS operator) through its public HTTP API.

As documented at https://dev.octopush.com/en/sms-gateway-api-documentation/send-sms/ :
`POST https://api.octopush.com/v1/public/sms-campaign/send`, UTF-8 JSON, the account's
identifiers in the `api-login` and `api-key` headers, a body holding `text` (1 to 1224
characters), `recipients` (a list of contacts, each with its `phone_number` in international
form), `type` ("sms_premium" or "sms_low_cost"), `purpose` ("alert" for transactional
messages, "wholesale" for marketing), `sender` (3 to 11 characters a-zA-Z0-9) and the
optional `request_id` that makes Octopush refuse a duplicate for 24 hours (here: the
notification's own id, so a retry after a lost answer never sends twice). A success is
`200 OK` with `{"sms_ticket": …, "number_of_contacts": …, …}`; a refusal carries one of the
return codes of https://octopush.com/en/sms-gateway-api-documentation/return-codes/
(`{"code": …, "message": …}`).
"""

from __future__ import annotations

import re

import aiohttp

from workflows.notifications import DeliveryRefused

DEFAULT_BASE_URL = "https://api.octopush.com/v1/public"
# Return codes that say the recipient cannot get the message: 103 (no recipients), 117 (no
# correct number in the list). 120 (request_id already used) means it went out already.
_NUMBER_REFUSED = {103, 117}
_ALREADY_SENT = 120
_SENDER_RE = re.compile(r"[^A-Za-z0-9]")


class OctopushProvider:
    name = "octopush"

    def __init__(self, login: str, api_key: str, *, sender: str = "Paraphe",
                 base_url: str = DEFAULT_BASE_URL, sms_type: str = "sms_premium",
                 timeout: float = 15.0) -> None:
        self.login, self.api_key = login, api_key
        # Octopush refuses any other character in a sender (return code 106).
        self.sender = _SENDER_RE.sub("", sender)[:11] or "Paraphe"
        self.url = base_url.rstrip("/") + "/sms-campaign/send"
        self.sms_type = sms_type
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings) -> OctopushProvider:
        key = settings.octopush_api_key.get_secret_value() if settings.octopush_api_key else ""
        return cls(settings.octopush_api_login, key, sender=settings.sms_sender,
                   base_url=settings.octopush_base_url, sms_type=settings.octopush_type)

    def describe(self) -> str:
        return f"Octopush {self.url} as {self.login}"

    def body(self, to: str, text: str, request_id: str | None = None) -> dict:
        """The JSON body the documentation describes, for one recipient."""
        body = {"text": text, "recipients": [{"phone_number": to}], "type": self.sms_type,
                "purpose": "alert", "sender": self.sender}
        if request_id:
            body["request_id"] = request_id
        return body

    async def send(self, to: str, text: str, request_id: str | None = None) -> str:
        """Returns Octopush's `sms_ticket`. Raises DeliveryRefused when Octopush says the
        number is wrong; aiohttp.ClientError, TimeoutError or RuntimeError (any other answer:
        credit, identifiers, a 5xx) to be retried."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        headers = {"Content-Type": "application/json", "api-login": self.login,
                   "api-key": self.api_key, "cache-control": "no-cache"}
        async with self._session.post(self.url, json=self.body(to, text, request_id),
                                      headers=headers) as response:
            try:
                answer = await response.json(content_type=None)
            except ValueError:
                answer = None
            status = response.status
        if status == 200 and isinstance(answer, dict) and answer.get("sms_ticket"):
            return str(answer["sms_ticket"])
        code = _code(answer)
        message = str(answer.get("message", "")) if isinstance(answer, dict) else ""
        if code in _NUMBER_REFUSED:
            raise DeliveryRefused("sms_undeliverable", f"Octopush {code}: {message}"[:500])
        if code == _ALREADY_SENT and request_id:
            return f"request:{request_id}"
        raise RuntimeError(f"Octopush answered {status} (code {code}): {message}"[:500])

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _code(answer) -> int | None:
    if not isinstance(answer, dict):
        return None
    try:
        return int(answer.get("code"))
    except (TypeError, ValueError):
        return None
