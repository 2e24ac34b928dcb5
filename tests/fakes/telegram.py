"""A fake Telegram Bot API server on 127.0.0.1 that records every call, for the bot's tests.

It speaks the HTTP protocol aiogram uses (``POST /bot<token>/<method>`` with form or
multipart bodies, ``GET /file/bot<token>/<path>`` for downloads) and keeps what the
bot sent, so tests assert what the user saw. Updates are queued by the test
(`send_text`, `send_document`, `send_photo`, `press`, `tap`) and handed out by
long-polling getUpdates with the real offset semantics: an update is confirmed by a
later call with a higher offset. Once the bot calls setWebhook, they are POSTed instead to
the URL it gave, one at a time and in order, with its secret token in the
X-Telegram-Bot-Api-Secret-Token header; an answer other than 2xx (or none) leaves the
update queued and it is POSTed again, as Telegram does; getUpdates is then answered 409.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

import aiohttp
from aiohttp import web

# Parameters aiogram sends JSON-encoded inside the form.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_JSON_FIELDS = {"reply_markup", "allowed_updates", "entities", "caption_entities",
                "link_preview_options", "reply_parameters", "commands", "scope"}


class ApiError(Exception):
    """An error answer of the Bot API: {"ok": false, "error_code": …, "description": …}."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


@dataclass
class Delivery:
    """One POST of an update to the webhook, and the status it got (None: no answer)."""

    update_id: int
    url: str
    status: int | None


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)


@dataclass
class Sent:
    """Something the user sees in a chat: a message, a document, or an edit of one."""

    kind: str  # message | document | edit_text | edit_markup | callback_answer | action
    chat_id: int | None
    text: str = ""
    message_id: int | None = None
    buttons: list[list[dict]] = field(default_factory=list)
    filename: str | None = None
    data: bytes | None = None

    def button_texts(self) -> list[str]:
        return [b["text"] for row in self.buttons for b in row]

    def button(self, text_part: str) -> dict:
        for row in self.buttons:
            for b in row:
                if text_part.lower() in b["text"].lower():
                    return b
        raise AssertionError(f"no button containing {text_part!r} in {self.button_texts()}")


@dataclass
class User:
    id: int
    first_name: str = "Test"
    username: str | None = None
    language_code: str = "fr"

    def as_dict(self) -> dict:
        out = {"id": self.id, "is_bot": False, "first_name": self.first_name,
               "language_code": self.language_code}
        if self.username:
            out["username"] = self.username
        return out


class FakeTelegram:
    """The server; `base_url` goes into PARAPHE_TELEGRAM_API_BASE."""

    def __init__(self, token: str = "123456:TEST-token", *, username: str = "paraphe_test_bot"):
        self.token = token
        self.bot_user = {"id": int(token.split(":")[0]), "is_bot": True,
                         "first_name": "Paraphe", "username": username}
        self.calls: list[Call] = []
        self.sent: list[Sent] = []
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, data)
        self._updates: list[dict] = []
        self._next_update_id = itertools.count(1000)
        self._next_message_id = itertools.count(1)
        # Errors the next calls of a method answer, in order: {method: [(code, text)]}.
        self.errors: dict[str, list[tuple[int, str]]] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.port = 0
        # The webhook the bot set ({"url", "secret_token", …}), and every POST made to it.
        self.webhook: dict | None = None
        self.deliveries: list[Delivery] = []
        self.webhook_retry = 0.2  # Telegram waits longer, and longer each time.
        self._last_error: tuple[int, str] | None = None
        self._pusher: asyncio.Task | None = None

    # --- lifecycle --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self._closing = True
        async with self._changed:
            self._changed.notify_all()
        if self._pusher is not None:
            self._pusher.cancel()
            await asyncio.gather(self._pusher, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    def fail_next(self, method: str, code: int, description: str) -> None:
        """The next call of `method` fails as Telegram answers it (500: try again later;
        403 "Forbidden: bot was blocked by the user": never again)."""
        self.errors.setdefault(method, []).append((code, description))

    # --- what the test does as a user -------------------------------------------------

    def add_file(self, data: bytes, filename: str, mime_type: str = "application/pdf") -> dict:
        """Stores a file as Telegram would and returns its Document object."""
        file_id = "F" + secrets.token_hex(12)
        self.files[file_id] = (f"documents/{file_id}.bin", data)
        return {"file_id": file_id, "file_unique_id": "U" + file_id[1:9], "file_name": filename,
                "mime_type": mime_type, "file_size": len(data)}

    def _message(self, user: User, **content: Any) -> dict:
        return {"message_id": next(self._next_message_id), "date": int(time.time()),
                "chat": {"id": user.id, "type": "private", "first_name": user.first_name},
                "from": user.as_dict(), **content}

    async def push(self, update: dict) -> dict:
        """Queues an update (with an update_id already set, it may be a duplicate)."""
        update.setdefault("update_id", next(self._next_update_id))
        async with self._changed:
            self._updates.append(update)
            self._changed.notify_all()
        return update

    def text_update(self, user: User, text: str) -> dict:
        """The update of a text `user` types, with its own update_id, not queued: for a test
        that POSTs it to a webhook itself."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split()[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"update_id": next(self._next_update_id),
                "message": self._message(user, **content)}

    async def send_text(self, user: User, text: str) -> dict:
        return await self.push(self.text_update(user, text))

    async def send_document(self, user: User, data: bytes, filename: str,
                            mime_type: str = "application/pdf", caption: str | None = None) -> dict:
        content: dict[str, Any] = {"document": self.add_file(data, filename, mime_type)}
        if caption:
            content["caption"] = caption
        return await self.push({"message": self._message(user, **content)})

    async def send_photo(self, user: User, data: bytes, caption: str | None = None) -> dict:
        """A photo as Telegram delivers it: several sizes, the last the largest (`data`)."""
        sizes = []
        for width, blob in ((90, data[:2048]), (320, data[:8192]), (1280, data)):
            file_id = "P" + secrets.token_hex(12)
            self.files[file_id] = (f"photos/{file_id}.jpg", blob)
            sizes.append({"file_id": file_id, "file_unique_id": "U" + file_id[1:9],
                          "width": width, "height": width * 3 // 4, "file_size": len(blob)})
        content: dict[str, Any] = {"photo": sizes}
        if caption:
            content["caption"] = caption
        return await self.push({"message": self._message(user, **content)})

    async def tap(self, user: User, callback_data: str, message_id: int = 1) -> dict:
        """Taps a button carrying `callback_data` (an old message's, or a forged one)."""
        message = {"message_id": message_id, "date": int(time.time()),
                   "chat": {"id": user.id, "type": "private"}, "from": self.bot_user,
                   "text": ""}
        return await self.push({"callback_query": {
            "id": secrets.token_hex(8), "from": user.as_dict(), "chat_instance": "ci",
            "message": message, "data": callback_data}})

    async def press(self, user: User, sent: Sent, button_text: str) -> dict:
        """Taps the inline button whose text contains `button_text` under a sent message."""
        button = sent.button(button_text)
        message = {"message_id": sent.message_id, "date": int(time.time()),
                   "chat": {"id": sent.chat_id, "type": "private"}, "from": self.bot_user,
                   "text": sent.text}
        return await self.push({"callback_query": {
            "id": secrets.token_hex(8), "from": user.as_dict(), "chat_instance": "ci",
            "message": message, "data": button["callback_data"]}})

    # --- what the test checks ---------------------------------------------------------

    def chat(self, chat_id: int, *kinds: str) -> list[Sent]:
        kinds = kinds or ("message", "document", "edit_text")
        return [s for s in self.sent if s.chat_id == chat_id and s.kind in kinds]

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Waits until predicate() is truthy (re-checked after each recorded call)."""
        deadline = asyncio.get_running_loop().time() + timeout
        async with self._changed:
            while True:
                result = predicate()
                if result:
                    return result
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise AssertionError(f"timed out waiting; the bot sent: {self.sent!r}"[:4000])
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    pass

    async def next_in_chat(self, chat_id: int, after: int, *kinds: str,
                           timeout: float = 30.0) -> Sent:
        """The first message shown in the chat after the `after` first ones."""
        msgs = await self.wait_for(lambda: len(self.chat(chat_id, *kinds)) > after and
                                   self.chat(chat_id, *kinds), timeout)
        return msgs[after]

    async def expect(self, chat_id: int, contains: str, *, after: int = 0,
                     timeout: float = 30.0) -> Sent:
        """The first message shown in the chat after the `after` first ones containing `contains`
        (other messages, such as notifications, may come in between)."""
        def found():
            return next((s for s in self.chat(chat_id)[after:] if contains in s.text), None)
        return await self.wait_for(found, timeout)

    async def drained(self, timeout: float = 30.0) -> None:
        """Waits until every queued update has been confirmed by the bot."""
        await self.wait_for(lambda: not self._updates, timeout)

    # --- the HTTP side ----------------------------------------------------------------

    async def _record(self, call: Call, sent: Sent | None = None) -> None:
        async with self._changed:
            self.calls.append(call)
            if sent is not None:
                self.sent.append(sent)
            self._changed.notify_all()

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401,
                                      "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes]] = {}
        if request.content_type == "application/json":
            params = await request.json()
        elif request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = (value.filename, value.file.read())
                elif key in _JSON_FIELDS:
                    params[key] = json.loads(value)
                else:
                    params[key] = value
        if self.errors.get(method):
            code, description = self.errors[method].pop(0)
            await self._record(Call(method, params, files))
            return web.json_response({"ok": False, "error_code": code,
                                      "description": description}, status=code)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            await self._record(Call(method, params, files))
            return web.json_response({"ok": False, "error_code": 404,
                                      "description": "Not Found: method not found"}, status=404)
        try:
            result = await handler(params, files)
        except ApiError as exc:
            return web.json_response({"ok": False, "error_code": exc.code,
                                      "description": exc.description}, status=exc.code)
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        for file_path, data in self.files.values():
            if file_path == path and request.match_info["token"] == self.token:
                return web.Response(body=data, content_type="application/octet-stream")
        return web.Response(status=404, text="Not Found")

    def _bot_message(self, chat_id: Any, **content: Any) -> dict:
        return {"message_id": next(self._next_message_id), "date": int(time.time()),
                "chat": {"id": int(chat_id), "type": "private"}, "from": self.bot_user, **content}

    @staticmethod
    def _buttons(params: dict) -> list[list[dict]]:
        markup = params.get("reply_markup") or {}
        return markup.get("inline_keyboard", [])

    async def _m_getMe(self, params, files):
        await self._record(Call("getMe", params))
        return self.bot_user

    async def _m_setWebhook(self, params, files):
        await self._record(Call("setWebhook", params))
        url, secret = params.get("url", ""), params.get("secret_token")
        if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ApiError(400, "Bad Request: bad webhook: HTTPS url must be provided for webhook")
        if secret is not None and not _SECRET_TOKEN.match(secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        async with self._changed:
            if _truthy(params.get("drop_pending_updates")):
                self._updates.clear()
            self.webhook = {"url": url, "secret_token": secret,
                            "allowed_updates": params.get("allowed_updates")}
            self._last_error = None
            self._changed.notify_all()
        if self._pusher is None:
            self._pusher = asyncio.create_task(self._push_to_webhook())
        return True

    async def _m_deleteWebhook(self, params, files):
        await self._record(Call("deleteWebhook", params))
        async with self._changed:
            if _truthy(params.get("drop_pending_updates")):
                self._updates.clear()
            self.webhook = None
            self._changed.notify_all()
        return True

    async def _m_getWebhookInfo(self, params, files):
        await self._record(Call("getWebhookInfo", params))
        info = {"url": self.webhook["url"] if self.webhook else "",
                "has_custom_certificate": False, "pending_update_count": len(self._updates)}
        if self.webhook and self.webhook.get("allowed_updates"):
            info["allowed_updates"] = self.webhook["allowed_updates"]
        if self._last_error is not None:
            info["last_error_date"], info["last_error_message"] = self._last_error
        return info

    async def _push_to_webhook(self) -> None:
        """POSTs the oldest queued update to the webhook until it gets a 2xx, then the next."""
        async with aiohttp.ClientSession() as http:
            while True:
                async with self._changed:
                    while not self._closing and not (self.webhook and self._updates):
                        await self._changed.wait()
                    if self._closing:
                        return
                    hook, update = dict(self.webhook), self._updates[0]
                headers = {SECRET_HEADER: hook["secret_token"]} if hook["secret_token"] else {}
                try:
                    async with http.post(hook["url"], json=update, headers=headers,
                                         timeout=aiohttp.ClientTimeout(total=10)) as resp:
                        status: int | None = resp.status
                except (aiohttp.ClientError, TimeoutError):
                    status = None
                async with self._changed:
                    self.deliveries.append(Delivery(update["update_id"], hook["url"], status))
                    done = status is not None and 200 <= status < 300
                    if done:
                        self._updates = [u for u in self._updates if u is not update]
                    else:
                        self._last_error = (int(time.time()),
                                            f"Wrong response from the webhook: {status}")
                    self._changed.notify_all()
                if not done:
                    await asyncio.sleep(self.webhook_retry)

    async def _m_setMyCommands(self, params, files):
        await self._record(Call("setMyCommands", params))
        return True

    async def _m_getUpdates(self, params, files):
        if self.webhook is not None:
            await self._record(Call("getUpdates", params))
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset", 0) or 0)
        timeout = min(float(params.get("timeout", 0) or 0), 2.0)
        async with self._changed:
            # Confirm what the bot has acknowledged, as Telegram does.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            deadline = asyncio.get_running_loop().time() + timeout
            while not self._updates and not self._closing:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    break
            batch = list(self._updates[:100])
            self.calls.append(Call("getUpdates", params))
            self._changed.notify_all()
        return batch

    async def _m_sendMessage(self, params, files):
        msg = self._bot_message(params["chat_id"], text=params.get("text", ""))
        if params.get("reply_markup"):
            msg["reply_markup"] = params["reply_markup"]
        await self._record(Call("sendMessage", params),
                           Sent("message", int(params["chat_id"]), params.get("text", ""),
                                msg["message_id"], self._buttons(params)))
        return msg

    async def _m_sendDocument(self, params, files):
        ref = params.get("document", "")
        if ref.startswith("attach://"):
            filename, data = files[ref[len("attach://"):]]
        elif "document" in files:
            filename, data = files["document"]
        else:
            filename, data = self.files[ref][0].rsplit("/", 1)[-1], self.files[ref][1]
        document = self.add_file(data, filename)
        msg = self._bot_message(params["chat_id"], document=document,
                                caption=params.get("caption", ""))
        await self._record(Call("sendDocument", params, files),
                           Sent("document", int(params["chat_id"]), params.get("caption", ""),
                                msg["message_id"], self._buttons(params), filename, data))
        return msg

    async def _m_sendChatAction(self, params, files):
        await self._record(Call("sendChatAction", params),
                           Sent("action", int(params["chat_id"]), params.get("action", "")))
        return True

    async def _m_getFile(self, params, files):
        file_id = params["file_id"]
        await self._record(Call("getFile", params))
        file_path, data = self.files[file_id]
        return {"file_id": file_id, "file_unique_id": "U" + file_id[1:9], "file_size": len(data),
                "file_path": file_path}

    async def _m_answerCallbackQuery(self, params, files):
        await self._record(Call("answerCallbackQuery", params),
                           Sent("callback_answer", None, params.get("text", "")))
        return True

    async def _m_editMessageText(self, params, files):
        chat_id = int(params["chat_id"])
        await self._record(Call("editMessageText", params),
                           Sent("edit_text", chat_id, params.get("text", ""),
                                int(params["message_id"]), self._buttons(params)))
        return self._bot_message(chat_id, text=params.get("text", ""))

    async def _m_editMessageReplyMarkup(self, params, files):
        chat_id = int(params["chat_id"])
        await self._record(Call("editMessageReplyMarkup", params),
                           Sent("edit_markup", chat_id, "", int(params["message_id"]),
                                self._buttons(params)))
        return self._bot_message(chat_id, text="")


def _truthy(value: Any) -> bool:
    # Form fields arrive as strings ("true"/"false"), JSON bodies as booleans.
    return value in (True, "true", "True", "1", 1)
