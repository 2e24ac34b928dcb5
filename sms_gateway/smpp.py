"""SMPP 3.4, the operators' own protocol, with python-smpplib: one transceiver session sends
`submit_sm` (a delivery receipt asked for each) and takes the SMSC's `deliver_sm` receipts.

smpplib is synchronous. The session lives in threads of its own, never on the event loop: a
reader thread reads every PDU the SMSC sends (responses, receipts, `enquire_link`), and the
loop waits on futures it resolves. Sends are serialised by a lock, so sequence numbers and
writes to the socket never interleave.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading

from smpplib import consts, exceptions, gsm, smpp
from smpplib.client import Client

from sms_gateway.providers import ReceiptHandler
from workflows.notifications import DeliveryRefused

log = logging.getLogger("paraphe.sms")

# submit_sm_resp statuses that say the number itself is wrong: no retry can help.
_REFUSED = {consts.SMPP_ESME_RINVDSTADR: "invalid destination address",
            0x00000033: "invalid number of destinations",  # ESME_RINVNUMDESTS
            0x00000050: "invalid destination TON", 0x00000051: "invalid destination NPI"}
# Final states of a receipt's `stat:` (SMPP 3.4, appendix B); ENROUTE/ACCEPTD are not final.
_DELIVERED = {"DELIVRD"}
_FAILED = {"UNDELIV", "EXPIRED", "REJECTD", "DELETED", "UNKNOWN"}
# message_state TLV values of the same states (SMPP 3.4, 5.3.2.35).
_STATE_NAMES = {2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 7: "UNKNOWN",
                8: "REJECTD"}
# Seconds before each try to record a receipt (about a minute in all).
_RECEIPT_RETRIES = (0, 0.1, 0.3, 1, 3, 10, 45)
_RECEIPT_RE = re.compile(r"\bid:(?P<id>\S+).*?\bstat:(?P<stat>[A-Z]+)", re.S)


def _text(value) -> str:
    if value is None:
        return ""
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def parse_receipt(pdu) -> tuple[str, str] | None:
    """(message id, final state) of a delivery receipt; None for anything else (a mobile
    originated message, an intermediate state)."""
    text = _text(getattr(pdu, "short_message", None))
    found = _RECEIPT_RE.search(text)
    ref = _text(getattr(pdu, "receipted_message_id", None)) or (found and found["id"]) or ""
    stat = (found and found["stat"]) or _STATE_NAMES.get(getattr(pdu, "message_state", None)
                                                         or 0, "")
    if not ref or stat not in _DELIVERED | _FAILED:
        return None
    return ref, stat


class SmppProvider:
    """A transceiver session with an SMSC, opened on the first message and kept open so that
    delivery receipts arrive; reopened after a drop."""

    name = "smpp"

    def __init__(self, host: str, port: int, system_id: str, password: str, *,
                 source_addr: str = "Paraphe", on_receipt: ReceiptHandler | None = None,
                 timeout: float = 10.0, enquire_every: float = 30.0) -> None:
        self.host, self.port = host, int(port)
        self.system_id, self.password = system_id, password
        self.source_addr = source_addr
        self.on_receipt = on_receipt
        self.timeout, self.enquire_every = timeout, enquire_every
        self._client: Client | None = None
        self._reader: threading.Thread | None = None
        self._send_lock = threading.Lock()
        self._pending: dict[int, asyncio.Future] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bind_lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings, on_receipt: ReceiptHandler | None = None) -> SmppProvider:
        password = settings.smpp_password.get_secret_value() if settings.smpp_password else ""
        return cls(settings.smpp_host, settings.smpp_port, settings.smpp_system_id, password,
                   source_addr=settings.smpp_source_addr or settings.sms_sender,
                   on_receipt=on_receipt)

    def describe(self) -> str:
        return f"SMPP {self.host}:{self.port} as {self.system_id}"

    # --- the session, in threads ------------------------------------------------------------

    def _bind(self) -> Client:
        client = Client(self.host, self.port, timeout=self.timeout,
                        allow_unknown_opt_params=True, logger_name="paraphe.sms.smpp")
        try:
            client.connect()
            client.bind_transceiver(system_id=self.system_id, password=self.password)
        except BaseException:
            client.disconnect()
            raise
        # From now on the reader thread alone reads; its timeout paces enquire_link.
        client._socket.settimeout(self.enquire_every)
        return client

    def _respond(self, client: Client, command: str, request) -> None:
        answer = smpp.make_pdu(command, client=client)
        answer.sequence = request.sequence
        with self._send_lock:
            client.send_pdu(answer)

    def _read(self, client: Client) -> None:
        """The reader thread: every PDU of the session until it ends."""
        try:
            while True:
                try:
                    pdu = client.read_pdu()
                except TimeoutError:
                    with self._send_lock:
                        client.send_pdu(smpp.make_pdu("enquire_link", client=client))
                    continue
                if pdu.command in ("unbind_resp", "unbind"):
                    if pdu.command == "unbind":
                        self._respond(client, "unbind_resp", pdu)
                    break
                self._dispatch(client, pdu)
        except (exceptions.ConnectionError, exceptions.PDUError, OSError) as exc:
            if self._client is client:
                log.warning("SMPP session with %s:%s ended: %s", self.host, self.port, exc)
        finally:
            self._drop(client, ConnectionError("the SMPP session ended"))

    def _dispatch(self, client: Client, pdu) -> None:
        if pdu.command in ("submit_sm_resp", "generic_nack"):
            self._resolve(pdu.sequence, pdu)
        elif pdu.command == "deliver_sm":
            self._respond(client, "deliver_sm_resp", pdu)
            receipt = parse_receipt(pdu)
            if receipt is not None and self.on_receipt is not None and self._loop is not None:
                ref, stat = receipt
                asyncio.run_coroutine_threadsafe(
                    self._report(ref, stat, _text(pdu.short_message)), self._loop)
        elif pdu.command == "enquire_link":
            self._respond(client, "enquire_link_resp", pdu)

    async def _report(self, ref: str, stat: str, text: str) -> None:
        # A receipt may come before the worker stored the message id it answers (the SMSC
        # is quick, the database commit is not): it is tried again for a while.
        for delay in _RECEIPT_RETRIES:
            await asyncio.sleep(delay)
            try:
                if await self.on_receipt(ref, stat in _DELIVERED, text or stat):
                    return
            except Exception:  # A receipt lost is a report missing, not a message lost.
                log.exception("SMPP delivery receipt for %s not recorded", ref)
                return
        log.info("SMPP delivery receipt for unknown message %s (%s)", ref, stat)

    def _resolve(self, sequence: int, pdu) -> None:
        future = self._pending.pop(sequence, None)
        if future is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(_settle, future, pdu)

    def _drop(self, client: Client, exc: Exception) -> None:
        if self._client is client:
            self._client = None
        try:
            client.disconnect()
        except Exception:  # Already closed by the far end.
            pass
        for sequence in list(self._pending):
            future = self._pending.pop(sequence, None)
            if future is not None and self._loop is not None:
                self._loop.call_soon_threadsafe(_fail, future, exc)

    def _submit(self, client: Client, future: asyncio.Future, **params) -> None:
        with self._send_lock:
            pdu = smpp.make_pdu("submit_sm", client=client, **params)
            self._pending[pdu.sequence] = future
            client.send_pdu(pdu)

    # --- the loop's side --------------------------------------------------------------------

    async def _session(self) -> Client:
        async with self._bind_lock:
            if self._client is None:
                self._loop = asyncio.get_running_loop()
                try:
                    client = await asyncio.to_thread(self._bind)
                except (exceptions.ConnectionError, exceptions.PDUError, OSError) as exc:
                    raise ConnectionError(f"SMSC {self.host}:{self.port} not bound: "
                                          f"{exc or type(exc).__name__}") from None
                self._client = client
                self._reader = threading.Thread(target=self._read, args=(client,),
                                                name="smpp-reader", daemon=True)
                self._reader.start()
            return self._client

    async def open(self) -> None:
        """Binds now, so that receipts of messages sent before a restart come in."""
        await self._session()

    async def send(self, to: str, text: str, request_id: str | None = None) -> str:
        """Sends `text` in as many parts as it needs (GSM 03.38, or UCS-2 when a character is
        not in the GSM alphabet; concatenated with a UDH); returns the first part's message
        id, the one its receipt is matched by. Raises DeliveryRefused for a refused number,
        ConnectionError or TimeoutError otherwise."""
        client = await self._session()
        parts, coding, esm_class = gsm.make_parts(text)
        ids = []
        for part in parts:
            future = asyncio.get_running_loop().create_future()
            await asyncio.to_thread(
                self._submit, client, future,
                source_addr_ton=(consts.SMPP_TON_ALNUM if not self.source_addr.isdigit()
                                 else consts.SMPP_TON_INTL),
                source_addr_npi=(consts.SMPP_NPI_UNK if not self.source_addr.isdigit()
                                 else consts.SMPP_NPI_ISDN),
                source_addr=self.source_addr,
                dest_addr_ton=consts.SMPP_TON_INTL, dest_addr_npi=consts.SMPP_NPI_ISDN,
                destination_addr=to.lstrip("+"), short_message=part, data_coding=coding,
                esm_class=esm_class,
                registered_delivery=consts.SMPP_SMSC_DELIVERY_RECEIPT_BOTH)
            ids.append(await asyncio.wait_for(future, self.timeout))
        return ids[0]

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return

        def unbind() -> None:
            try:
                with self._send_lock:
                    client.send_pdu(smpp.make_pdu("unbind", client=client))
            except Exception:  # The far end went first.
                pass
        await asyncio.to_thread(unbind)
        if self._reader is not None:
            await asyncio.to_thread(self._reader.join, self.timeout)
        self._drop(client, ConnectionError("the SMPP session was closed"))


def _settle(future: asyncio.Future, pdu) -> None:
    if future.done():
        return
    if pdu.command == "generic_nack":
        future.set_exception(ConnectionError(f"SMSC answered generic_nack ({pdu.status})"))
    elif pdu.status in _REFUSED:
        future.set_exception(DeliveryRefused("sms_undeliverable",
                                             f"SMSC: {_REFUSED[pdu.status]} ({pdu.status:#x})"))
    elif pdu.status != consts.SMPP_ESME_ROK:
        future.set_exception(ConnectionError(
            f"SMSC refused submit_sm for now: {consts.DESCRIPTIONS.get(pdu.status, '')} "
            f"({pdu.status:#x})"))
    else:
        future.set_result(_text(pdu.message_id))


def _fail(future: asyncio.Future, exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
