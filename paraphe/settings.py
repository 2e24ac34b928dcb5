"""Settings from PARAPHE_* environment variables or paraphe.toml, with SPEC §4 defaults."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings import TomlConfigSettingsSource

TOML_FILE_ENV = "PARAPHE_CONFIG"


class Settings(BaseSettings):
    """Every knob of the service; one instance is built at start and passed where needed."""

    model_config = SettingsConfigDict(env_prefix="PARAPHE_", extra="ignore")

    home: Path = Field(default=Path("./var"), description="Database, documents, keys, outbox")
    database_url: str = Field(default="", description="Defaults to sqlite in home")
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
    # Experts are told once when a debit takes their cabinet's available credit below this.
    low_credit_threshold: int = 20
    # The initiator and the cabinet's experts are warned this many days before a collection expires.
    expiry_warning_days: int = 3
    tsa_url: str | None = None
    pkcs11_module: str | None = None
    pkcs11_token_label: str = "paraphe"
    pkcs11_pin: SecretStr | None = None
    trusted_authserv_ids: str = ""
    master_key: SecretStr | None = None
    dkim_private_key: Path | None = None
    dkim_selector: str = "paraphe"
    default_language: str = "fr"
    terms_version: str = "2026-01"
    # Where the texts of the terms are (cgu.<version>.<lang>.md); unset: templates/terms.
    terms_dir: Path | None = None
    max_document_bytes: int = 10 * 1024 * 1024
    # Identity documents of a reviewed (or abandoned) registration are erased after this.
    identity_retention_days: int = 90
    signing_workers: int = 0  # 0: one signing process per core

    @model_validator(mode="after")
    def _derive(self) -> "Settings":
        self.home = Path(self.home).expanduser()
        if not self.database_url:
            self.database_url = f"sqlite://{self.home / 'paraphe.sqlite3'}"
        self.public_url = self.public_url.rstrip("/")
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
    def trusted_authserv_id_list(self) -> list[str]:
        return [x.strip() for x in self.trusted_authserv_ids.split(",") if x.strip()]

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
