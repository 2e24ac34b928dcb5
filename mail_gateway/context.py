"""What a rule and a command get for one accepted message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mail_gateway.mime import InboundMail
from workflows.actors import Actor


@dataclass
class MailContext:
    svc: Any  # workflows.services.Services
    key: str  # the exactly-once key (Message-ID, content, command)
    command: str
    mail: InboundMail
    person: Any  # workflows.models.Person
    actor: Actor
    # The envelope's reverse-path ("" when null) and the header section, as an email Message.
    mail_from: str = ""
    headers: Any = None
    # The cabinet named by the secret address (seal+<secret>+<slug>@), which wins over the subject.
    address_cabinet: str | None = None
    # Set by the rules: the cabinet acted for and the right that allows it.
    cabinet: Any = None
    extra: dict = field(default_factory=dict)
