"""Configuration used only by scripts/makemigrations."""

from paraphe.db import tortoise_config

CONFIG = tortoise_config("sqlite://:memory:")
