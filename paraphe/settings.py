"""Settings from PARAPHE_* environment variables or paraphe.toml, with SPEC §4 defaults."""

from __future__ import annotations

import os
import re
import stat
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings import TomlConfigSettingsSource

from workflows.shared_state import is_postgres
from workflows.trust.profiles import DEFAULT_POLICY_OID

TOML_FILE_ENV = "PARAPHE_CONFIG"
_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


class Settings(BaseSettings):
    """Every knob of the service; one instance is built at start and passed where needed."""

    model_config = SettingsConfigDict(env_prefix="PARAPHE_", extra="ignore")

    home: Path = Field(default=Path("./var"), description="Database, documents, keys, outbox")
    database_url: str = Field(default="", description="Defaults to sqlite in home")
    # Where documents live: "postgres" (the default on PostgreSQL: every instance reads them)
    # or "files" (PARAPHE_HOME/documents, the default on SQLite).
    document_store: Literal["postgres", "files"] | None = None
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    mail_domain: str = "paraphe.localhost"
    smtp_relay: str | None = None
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    telegram_token: SecretStr | None = None
    telegram_api_base: str | None = None
    # The bot's @username for deep links; learnt from Telegram when the bot starts, so needed only
    # where the bot does not run (`paraphe user show`).
    telegram_bot_username: str | None = None
    # Unset: one instance long-polls Telegram (elected on PostgreSQL). Set: Telegram POSTs each
    # update to this URL (https; http only on loopback, for a local Bot API server) and any
    # instance serving its path answers; the secret token is derived (bot/webhook.py).
    telegram_webhook_url: str | None = None
    # Experts are told once when a debit takes their cabinet's available credit below this.
    low_credit_threshold: int = 20
    # The initiator and the cabinet's experts are warned this many days before a collection expires.
    expiry_warning_days: int = 3
    tsa_url: str | None = None
    pkcs11_module: str | None = None
    pkcs11_token_label: str = "paraphe"
    pkcs11_pin: SecretStr | None = None
    trusted_authserv_ids: str = ""
    # IPs and CIDRs of the relays whose Authentication-Results are believed (comma-separated).
    trusted_relays: str = ""
    master_key: SecretStr | None = None
    dkim_private_key: Path | None = None
    dkim_selector: str = "paraphe"
    default_language: str = "fr"
    # The time zone of dates shown to people (evidence certificates); UTC stays beside them.
    timezone: str = "Europe/Paris"
    terms_version: str = "2026-01"
    # Log lines as text, or one JSON object per line for a log collector; each carries the
    # id of its request or mail.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Where the texts of the terms are (cgu.<version>.<lang>.md); unset: templates/terms.
    terms_dir: Path | None = None
    max_document_bytes: int = 10 * 1024 * 1024
    # An accepted mail whose processing keeps failing is retried for this long, then its
    # sender is told it failed and it goes to $PARAPHE_HOME/spool/quarantine.
    mail_retry_hours: float = 24.0
    # Identity documents of a reviewed (or abandoned) registration are erased after this.
    identity_retention_days: int = 90
    signing_workers: int = 0  # 0: one signing process per core
    # Stored signed documents get a fresh archive timestamp when their newest one's TSA
    # certificate expires within this (ISO 8601 duration, P730D, or seconds).
    archive_renew_before: timedelta = timedelta(days=730)
    # Webhook URLs resolving to loopback, link-local, private, multicast or reserved addresses
    # are refused (when added and at each delivery) unless this is set: for local receivers.
    webhook_allow_private: bool = False
    # Text messages (codes): "file" writes $PARAPHE_HOME/sms/ (development), "smpp" speaks
    # SMPP 3.4 to an operator's SMSC, "octopush" uses Octopush's HTTP API.
    sms_provider: Literal["file", "smpp", "octopush"] = "file"
    # Who a text message comes from: the alphanumeric sender shown on the phone (3 to 11
    # letters and digits for most operators).
    sms_sender: str = "Paraphe"
    # The regions (ISO 3166 codes, comma-separated) whose mobile numbers get SMS.
    sms_regions: str = "FR"
    smpp_host: str = "127.0.0.1"
    smpp_port: int = 2775
    smpp_system_id: str = ""
    smpp_password: SecretStr | None = None
    # The submit_sm source address; unset: sms_sender.
    smpp_source_addr: str = ""
    octopush_api_login: str = ""
    octopush_api_key: SecretStr | None = None
    octopush_base_url: str = "https://api.octopush.com/v1/public"
    octopush_type: Literal["sms_premium", "sms_low_cost"] = "sms_premium"

    @field_validator("telegram_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return check_webhook_url(value.strip())

    @field_validator("sms_regions")
    @classmethod
    def _check_regions(cls, value: str) -> str:
        import phonenumbers

        known = phonenumbers.SUPPORTED_REGIONS
        regions = [x.strip().upper() for x in value.split(",") if x.strip()]
        bad = [r for r in regions if r not in known]
        if bad or not regions:
            raise ValueError(f"not regions phone numbers are known for: {value!r} (e.g. FR,BE)")
        return ",".join(regions)

    # The load balancers in front (HAProxy): the client's address is the one their
    # X-Forwarded-For (web) or PROXY protocol header (SMTP) gives, from them alone.
    trusted_proxies: str = ""
    # The SMTP port expects the PROXY protocol header (v1 or v2) on every connection, sent by
    # one of the trusted proxies; a connection without it, or from another peer, is closed.
    smtp_proxy_protocol: bool = False
    # Unset: the API's rate limits live in the database (PostgreSQL, shared by the fleet) or
    # in memory (SQLite). `redis://host:port/db`: in Redis, shared by every instance using it.
    redis_url: str | None = None

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"PARAPHE_REDIS_URL must be a redis://, rediss:// or unix:// URL, "
                             f"not {value.split('://', 1)[0]!r}")
        return value

    @field_validator("trusted_relays", "trusted_proxies")
    @classmethod
    def _check_relays(cls, value: str) -> str:
        _networks(value)  # A typo must stop the start, not silently trust no relay.
        return value

    # Arc of the certificate policies: a placeholder under the documentation PEN until the
    # operator sets one under its own (workflows.trust.profiles).
    policy_oid: str = DEFAULT_POLICY_OID
    # The operator's SIREN, the organizationIdentifier of the platform's own seal.
    platform_siren: str | None = None

    @field_validator("policy_oid")
    @classmethod
    def _dotted_oid(cls, value: str) -> str:
        value = value.strip()
        if not _OID.match(value):
            raise ValueError(f"not a dotted object identifier: {value!r} (e.g. 1.3.6.1.4.1.N.1)")
        return value

    @field_validator("platform_siren")
    @classmethod
    def _siren(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from stdnum.fr import siren

        return siren.validate(value)  # Its ValidationError is a ValueError: says why.

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        self.home = Path(self.home).expanduser()
        if not self.database_url:
            self.database_url = f"sqlite://{self.home / 'paraphe.sqlite3'}"
        if self.document_store is None:
            self.document_store = "postgres" if is_postgres(self.database_url) else "files"
        elif self.document_store == "postgres" and not is_postgres(self.database_url):
            raise ValueError("PARAPHE_DOCUMENT_STORE=postgres needs PARAPHE_DATABASE_URL on "
                             "PostgreSQL; on SQLite documents are files (PARAPHE_DOCUMENT_STORE"
                             "=files)")
        self.public_url = self.public_url.rstrip("/")
        if self.sms_provider == "smpp" and not self.smpp_system_id:
            raise ValueError("PARAPHE_SMS_PROVIDER=smpp needs PARAPHE_SMPP_SYSTEM_ID (and "
                             "PARAPHE_SMPP_HOST, PARAPHE_SMPP_PORT, PARAPHE_SMPP_PASSWORD)")
        if self.sms_provider == "octopush" and not (self.octopush_api_login
                                                    and self.octopush_api_key):
            raise ValueError("PARAPHE_SMS_PROVIDER=octopush needs PARAPHE_OCTOPUSH_API_LOGIN "
                             "and PARAPHE_OCTOPUSH_API_KEY")
        try:  # An unknown zone fails at start, not in the first report.
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"PARAPHE_TIMEZONE: unknown time zone {self.timezone!r}") from None
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get(TOML_FILE_ENV, "paraphe.toml"))
        return (
            init_settings,
            env_settings,
            _UpperKeyTomlSource(settings_cls, toml_file=toml_path),
        )

    @property
    def telegram_webhook_path(self) -> str | None:
        """The web app's route for Telegram's updates: the path of the webhook URL."""
        if not self.telegram_webhook_url:
            return None
        return urlsplit(self.telegram_webhook_url).path

    @property
    def trusted_authserv_id_list(self) -> list[str]:
        return [x.strip() for x in self.trusted_authserv_ids.split(",") if x.strip()]

    @property
    def trusted_relay_networks(self) -> list[IPv4Network | IPv6Network]:
        return _networks(self.trusted_relays)

    @property
    def trusted_proxy_networks(self) -> list[IPv4Network | IPv6Network]:
        return _networks(self.trusted_proxies)

    def ensure_home(self) -> Path:
        """Creates PARAPHE_HOME (and its private folders) on first use, for the service's
        user alone: the home and its folders 0700, and every file written after this 0600.

        The umask is the process's own (worker processes inherit it): SQLite with its WAL
        and SHM, the stores, the spool and the outbox create their files under it, whatever
        the umask the service was started with. A home made by an earlier version is closed
        too; what it holds is then out of other users' reach.
        """
        os.umask(PRIVATE_UMASK)
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        for folder in (self.home, *(self.home / sub for sub in HOME_FOLDERS)):
            folder.mkdir(exist_ok=True, mode=0o700)
            mode = folder.stat().st_mode
            # A shared folder (sticky, as /tmp) is not ours to close.
            if mode & 0o077 and not mode & stat.S_ISVTX:
                folder.chmod(0o700)
        return self.home


PRIVATE_UMASK = 0o077
HOME_FOLDERS = ("documents", "outbox", "spool", "keys", "sms", "identity")


def check_webhook_url(url: str) -> str:
    """`url` when Telegram may call it: https with a host and a path of its own (the web
    app's route), or http on a loopback address (a local Bot API server); else ValueError."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError(f"PARAPHE_TELEGRAM_WEBHOOK_URL: not an https URL: {url!r}")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ValueError("PARAPHE_TELEGRAM_WEBHOOK_URL: Telegram calls https URLs only "
                         f"(http is allowed on loopback alone): {url!r}")
    if parts.path in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError("PARAPHE_TELEGRAM_WEBHOOK_URL: give a path of its own, without query, "
                         f"fragment or credentials (e.g. https://host/telegram/webhook): {url!r}")
    return url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _networks(value: str) -> list[IPv4Network | IPv6Network]:
    """`192.0.2.10, 2001:db8::/32` as networks; raises ValueError naming a bad entry."""
    networks = []
    for item in (x.strip() for x in value.split(",")):
        if item:
            try:
                networks.append(ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"not an IP address or CIDR network: {item!r}") from None
    return networks


class _UpperKeyTomlSource(TomlConfigSettingsSource):
    """Accepts both `PARAPHE_WEB_PORT = 8080` and `web_port = 8080` in paraphe.toml."""

    def __call__(self) -> dict:
        data = super().__call__()
        out = {}
        for key, value in data.items():
            k = key.lower()
            if k.startswith("paraphe_"):
                k = k[len("paraphe_"):]
            out[k] = value
        return out


def load_settings(**overrides) -> Settings:
    """Builds the settings from the environment, paraphe.toml and explicit overrides."""
    return Settings(**overrides)
