"""Telegram bot state in the database: updates handled, PDFs awaiting a button, conversations.

The bot's own tables, in the tortoise app of the core's models (paraphe.db lists this
module), so their foreign keys reach `models.Person` and the migrations stay one history."""

from tortoise import fields
from tortoise.models import Model


class TelegramUpdate(Model):
    # One row per (bot, update_id) handled: the same update delivered twice finds the row
    # and is skipped, whichever process or restart sees it second.
    id = fields.IntField(primary_key=True)
    bot_id = fields.BigIntField()
    update_id = fields.BigIntField()
    kind = fields.CharField(max_length=32, default="")
    received_at = fields.DatetimeField()

    class Meta:
        table = "telegram_update"
        unique_together = (("bot_id", "update_id"),)


class TelegramUpload(Model):
    # A PDF a linked person sent to the bot; the inline buttons under the bot's answer name
    # this row, so a tap finds the file (by Telegram file_id) and who may act on it.
    id = fields.IntField(primary_key=True)
    person = fields.ForeignKeyField("models.Person", related_name="telegram_uploads",
                                    on_delete=fields.CASCADE)
    chat_id = fields.BigIntField()
    file_id = fields.CharField(max_length=255)
    filename = fields.CharField(max_length=255)
    size = fields.IntField(default=0)
    created_at = fields.DatetimeField()
    # Set once an action used it (seal, verify, collection); later taps are stale.
    done_at = fields.DatetimeField(null=True)
    outcome = fields.CharField(max_length=32, default="")

    class Meta:
        table = "telegram_upload"


class TelegramConversation(Model):
    # A chat conversation's state (aiogram FSM: state name and data), one row per storage key,
    # so a conversation such as /collect survives a restart of the bot.
    id = fields.IntField(primary_key=True)
    # bot:chat:thread:user:business:destiny, built by bot/fsm_storage.py.
    key = fields.CharField(max_length=191, unique=True)
    state = fields.CharField(max_length=128, null=True)
    data = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "telegram_conversation"
