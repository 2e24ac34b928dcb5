"""Which numbers get SMS: valid mobiles (phonenumbers, E.164) of the regions served, French by
default; the sender refuses the others for good."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from paraphe.settings import Settings
from sms_gateway.providers import FileSmsProvider
from sms_gateway.sender import SmsSender
from workflows import people
from workflows.models import Notification
from workflows.notifications import DeliveryRefused


def test_french_mobiles_only_by_default():
    assert people.is_sms_number("+33611223344")
    assert people.is_sms_number("+33756123456")
    assert not people.is_sms_number("+33140000000")  # A Paris landline.
    assert not people.is_sms_number("+32470123456")  # A Belgian mobile, not served.
    assert not people.is_sms_number("0611223344")  # Not E.164.
    assert people.normalize_phone("06 11 22 33 44") == "+33611223344"


def test_regions_are_a_setting(tmp_path):
    s = Settings(home=tmp_path, sms_regions="fr, be")
    assert people.sms_regions(s) == ("FR", "BE")
    assert people.is_sms_number("+32470123456", people.sms_regions(s))
    with pytest.raises(ValidationError):
        Settings(home=tmp_path, sms_regions="XX")
    with pytest.raises(ValidationError):
        Settings(home=tmp_path, sms_provider="smpp")  # Without its system id.


async def test_sender_refuses_a_landline_for_good(tmp_path):
    sender = SmsSender(Settings(home=tmp_path), FileSmsProvider(tmp_path / "sms"))
    n = Notification(id=1, channel="sms", template="registrant/mobile_code", language="fr",
                     recipient="+33140000000", context={"code": "123456", "minutes": 10})
    with pytest.raises(DeliveryRefused) as info:
        await sender.send(n)
    assert info.value.reason == "sms_undeliverable"
    assert not (tmp_path / "sms").exists()
