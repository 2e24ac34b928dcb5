"""A small SMPP 3.4 server (an SMSC) on loopback for the tests, built on smpplib's PDU classes.

It answers bind_transceiver, enquire_link and unbind; takes each submit_sm (kept in
`submitted`, its text decoded), answers it with a message id, and when a receipt was asked
for sends a deliver_sm delivery receipt ("id:… stat:DELIVRD …") for it, as an operator's
SMSC does.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field

from smpplib import consts, smpp


class _Sequence:
    """What smpplib's PDUs ask of a client: sequence numbers."""

    def __init__(self) -> None:
        self.sequence = 0

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


def _text(value) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value or "")


@dataclass
class Submitted:
    source_addr: str
    destination_addr: str
    data_coding: int
    registered_delivery: int
    esm_class: int
    short_message: bytes
    message_id: str

    @property
    def text(self) -> str:
        body = self.short_message
        if self.esm_class & consts.SMPP_GSMFEAT_UDHI:
            body = body[body[0] + 1:]  # The user data header of a concatenated part.
        if self.data_coding == consts.SMPP_ENCODING_ISO10646:
            return body.decode("utf-16-be")
        from smpplib.gsm import GSM_CHARACTER_TABLE

        out, escape = [], False
        for byte in body:
            if byte == 0x1B:
                escape = True
                continue
            out.append(GSM_CHARACTER_TABLE[byte + 0x80 if escape else byte])
            escape = False
        return "".join(out)


@dataclass
class TinySmsc:
    system_id: str = "paraphe"
    password: str = "secret"
    receipt_stat: str = "DELIVRD"
    # A submit_sm_resp status to answer with instead of accepting (e.g. ESME_RINVDSTADR).
    refuse_status: int = 0
    submitted: list[Submitted] = field(default_factory=list)
    binds: list[dict] = field(default_factory=list)
    receipts_answered: list[int] = field(default_factory=list)
    port: int = 0

    async def start(self) -> TinySmsc:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._changed = asyncio.Condition()
        return self

    async def close(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def wait_for(self, predicate, timeout: float = 10.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def _note(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seq = _Sequence()

        def answer(command: str, request, **params) -> None:
            pdu = smpp.make_pdu(command, client=seq, **params)
            pdu.sequence = request.sequence
            writer.write(pdu.generate())

        try:
            while True:
                head = await reader.readexactly(4)
                (length,) = struct.unpack(">L", head)
                data = head + await reader.readexactly(length - 4)
                pdu = smpp.parse_pdu(data, client=seq, allow_unknown_opt_params=True)
                if pdu.command == "bind_transceiver":
                    ok = (_text(pdu.system_id) == self.system_id
                          and _text(pdu.password) == self.password)
                    self.binds.append({"system_id": _text(pdu.system_id), "ok": ok})
                    answer("bind_transceiver_resp", pdu, system_id="tinysmsc",
                           status=consts.SMPP_ESME_ROK if ok else consts.SMPP_ESME_RBINDFAIL)
                elif pdu.command == "submit_sm":
                    await self._submit(pdu, seq, answer, writer)
                elif pdu.command == "enquire_link":
                    answer("enquire_link_resp", pdu)
                elif pdu.command == "deliver_sm_resp":
                    self.receipts_answered.append(pdu.sequence)
                elif pdu.command == "unbind":
                    answer("unbind_resp", pdu)
                    await writer.drain()
                    break
                await writer.drain()
                await self._note()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _submit(self, pdu, seq, answer, writer) -> None:
        if self.refuse_status:
            answer("submit_sm_resp", pdu, status=self.refuse_status)
            return
        message_id = f"tiny{len(self.submitted) + 1:04d}"
        self.submitted.append(Submitted(
            _text(pdu.source_addr), _text(pdu.destination_addr), pdu.data_coding or 0,
            pdu.registered_delivery or 0, pdu.esm_class or 0, pdu.short_message or b"",
            message_id))
        answer("submit_sm_resp", pdu, message_id=message_id)
        await writer.drain()
        if pdu.registered_delivery:
            receipt = (f"id:{message_id} sub:001 dlvrd:001 submit date:2601011200 "
                       f"done date:2601011201 stat:{self.receipt_stat} err:000 text:")
            deliver = smpp.make_pdu(
                "deliver_sm", client=seq, source_addr=_text(pdu.destination_addr),
                destination_addr=_text(pdu.source_addr), esm_class=0x04,
                short_message=receipt.encode(), receipted_message_id=message_id,
                message_state=2 if self.receipt_stat == "DELIVRD" else 5)
            writer.write(deliver.generate())
