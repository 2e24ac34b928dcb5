"""The SMTP gateway on the service's own loop: refuse early, spool durably, then answer 250."""

from __future__ import annotations

import asyncio
import logging
import weakref

from aiosmtpd.smtp import SMTP, Envelope, Session

from mail_gateway import errors
from mail_gateway.addresses import Recipient, parse_recipient, single_address
from mail_gateway.pipeline import SpoolWorker
from mail_gateway.sender_auth import DnsResolver, SenderAuth, SenderAuthenticator, parse_headers
from mail_gateway.errors import RecipientUnknownError, SenderUnknownError
from mail_gateway.smtp_data import GatewaySMTP
from mail_gateway.spools import open_spool
from paraphe import metrics, networks
from workflows import clock, deliveries, mail_in, people
from workflows.errors import ParapheError
from workflows.services import Services


log = logging.getLogger(__name__)

MAX_RECIPIENTS = 10
# Seconds a connection has to send its PROXY header (PARAPHE_SMTP_PROXY_PROTOCOL).
PROXY_TIMEOUT = 5.0
# Room for the headers and text of a mail carrying a PDF at the 10 MB limit.
MIME_OVERHEAD = 512 * 1024


def size_limit(max_document_bytes: int) -> int:
    """The SIZE advertised: a maximal PDF in base64 (4/3, CRLF every 76 characters) plus headers."""
    encoded = -(-max_document_bytes // 3) * 4
    return encoded + (encoded // 76) * 2 + MIME_OVERHEAD


def client_of(session: Session):
    """The client's address: the one a trusted proxy's PROXY header gave, else the peer's."""
    proxied = getattr(session, "proxy_data", None)
    if proxied is not None and proxied.src_addr is not None:
        return (str(proxied.src_addr), proxied.src_port)
    return session.peer


class GatewayHandler:
    """aiosmtpd's handler: RCPT and DATA hooks returning status lines."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def handle_PROXY(self, server: SMTP, session: Session, envelope: Envelope,
                           proxy_data) -> bool:
        """PARAPHE_SMTP_PROXY_PROTOCOL: the header counts from a trusted proxy only; from any
        other peer the connection is closed (it could claim any client address)."""
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        trusted = networks.within(peer, self.gateway.settings.trusted_proxy_networks)
        if not trusted:
            log.warning("PROXY header from %s, which is not a trusted proxy: closed", peer)
        return trusted

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        planned = getattr(envelope, "paraphe_recipients", None)
        if planned is None:
            planned = envelope.paraphe_recipients = []
        if len(planned) >= MAX_RECIPIENTS:
            return errors.TOO_MANY_RECIPIENTS.line(limit=MAX_RECIPIENTS)
        recipient = parse_recipient(address, self.gateway.settings.mail_domain)
        person_id = None
        if recipient is not None and recipient.bounce:
            # A forged or stale token is refused here with 550 5.1.1: nothing is spooled, and
            # the report's sender (a null sender) gets no mail back from us, only the code.
            if deliveries.notification_id_of(self.gateway.settings, recipient.secret) is None:
                recipient = None
        elif recipient is not None and recipient.secret:
            person = await mail_in.find_person(self.gateway.settings, recipient.secret)
            person_id = person.id if person else None
            if person is None:
                recipient = None
        if recipient is None:
            return errors.smtp_status(RecipientUnknownError())
        planned.append((recipient, person_id))
        envelope.rcpt_tos.append(address)
        return errors.RCPT_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        try:
            # aiosmtpd keeps a null reverse-path (bounces, RFC 5321 4.5.5) as the text "<>".
            mail_from = "" if (envelope.mail_from or "").strip() == "<>" else envelope.mail_from
            await self.gateway.accept(mail_from or "", envelope.paraphe_recipients,
                                      envelope.original_content, peer=client_of(session))
        except ParapheError as exc:
            log.info("refused a message from %s: %s", client_of(session), exc.code)
            return errors.smtp_status(exc)
        except Exception:  # noqa: BLE001 - a broken disk or database: 451, not a dropped session.
            log.exception("could not accept a message")
            return errors.TEMPORARY_FAILURE.line()
        metrics.MAILS.labels("accepted").inc()
        return errors.QUEUED


class Gateway:
    """The SMTP server, its spool and the spool worker."""

    def __init__(self, svc: Services, *, dns: DnsResolver | None = None,
                 concurrency: int = 4) -> None:
        self.svc = svc
        self.settings = svc.settings
        # Files in PARAPHE_HOME, or rows in PostgreSQL that the fleet shares.
        self.spool = open_spool(self.settings)
        self.authenticator = SenderAuthenticator(
            self.settings.trusted_authserv_id_list, dns,
            trusted_relays=self.settings.trusted_relay_networks,
            mail_domain=self.settings.mail_domain)
        if self.settings.trusted_authserv_id_list and not self.authenticator.relays:
            log.warning("PARAPHE_TRUSTED_AUTHSERV_IDS is set but PARAPHE_TRUSTED_RELAYS is not: "
                        "no Authentication-Results header will be believed")
        self.worker = SpoolWorker(svc, self.spool, concurrency=concurrency)
        self.data_size_limit = size_limit(self.settings.max_document_bytes)
        self.server: asyncio.Server | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    @property
    def port(self) -> int:
        """The bound port (useful with smtp_port=0)."""
        return self.server.sockets[0].getsockname()[1]

    async def start(self) -> Gateway:
        loop = asyncio.get_running_loop()
        handler = GatewayHandler(self)

        def factory() -> SMTP:
            protocol = GatewaySMTP(handler, data_size_limit=self.data_size_limit,
                                   document_limit=self.settings.max_document_bytes,
                                   hostname=self.settings.mail_domain, ident="Paraphe",
                                   loop=loop, proxy_protocol_timeout=PROXY_TIMEOUT
                                   if self.settings.smtp_proxy_protocol else None)
            self._sessions.add(protocol)
            return protocol

        self.server = await loop.create_server(factory, self.settings.smtp_host,
                                               self.settings.smtp_port)
        self.worker.start()
        log.info("mail gateway listening on %s:%d", self.settings.smtp_host, self.port)
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        self._sessions.clear()
        await self.worker.stop()
        await self.worker.release_leases()

    async def accept(self, mail_from: str, recipients: list[tuple[Recipient, int | None]],
                     raw: bytes, *, peer=None) -> list:
        """Authenticates the sender and spools one entry per recipient (fsynced files, or
        rows committed in one transaction); raises on refusal.

        Raises SenderUnauthenticatedError (or SenderNotAddressedError) and SenderUnknownError
        (all 550 5.7.1). Nothing is written unless every recipient is accepted: SMTP has one
        answer for the whole DATA.
        """
        headers = parse_headers(raw)
        peer_ip = peer[0] if isinstance(peer, tuple) else str(peer or "")
        auth: SenderAuth | None = None
        commands = {r.command for r, _ in recipients if r.secret is None and not r.bounce}
        if commands:
            auth = await self.authenticator.authenticate(raw, headers, peer_ip=peer_ip,
                                                         commands=commands)
        plans = []
        for recipient, secret_person_id in recipients:
            if recipient.bounce:
                plans.append(self._bounce_plan(recipient, mail_from, peer_ip))
                continue
            if recipient.secret:
                person_id, how = secret_person_id, SenderAuth("secret")
            else:
                from_address = single_address(headers.get("From"))
                person = await people.find_person_by_email(from_address or "")
                if person is None:
                    raise SenderUnknownError()
                person_id, how = person.id, auth
            plans.append({
                "mail_from": mail_from, "rcpt": recipient.redacted(self.settings.mail_domain),
                "command": recipient.command, "cabinet": recipient.cabinet,
                "person_id": person_id, "auth": how.as_dict(),
                "peer": peer_ip,
                "received_at": clock.now().isoformat(),
            })
        holder = self.worker.lease_for_new() if self.spool.shared else None
        idents = await self.spool.write(plans, raw, holder=holder)
        if holder is not None or not self.spool.shared:
            for ident in idents:  # This instance processes them at once.
                self.worker.submit(ident)
        return idents

    def _bounce_plan(self, recipient: Recipient, mail_from: str, peer_ip: str) -> dict:
        """The envelope of a delivery report: no person, no sender authentication (a DSN
        comes from a null sender); the notification its token names (checked at RCPT)."""
        return {
            "mail_from": mail_from, "rcpt": recipient.redacted(self.settings.mail_domain),
            "command": recipient.command, "cabinet": None, "person_id": None,
            "notification_id": deliveries.notification_id_of(self.settings, recipient.secret),
            "auth": {"method": "none"}, "peer": peer_ip,
            "received_at": clock.now().isoformat(),
        }


async def start_gateway(svc: Services, *, dns: DnsResolver | None = None) -> Gateway:
    """Serves SMTP at settings.smtp_host:smtp_port on the running loop and starts the spool
    worker."""
    return await Gateway(svc, dns=dns).start()
