"""Runs the real `paraphe` command in a subprocess against a test home and database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


def cli_env(settings) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARAPHE_")}
    env.update({
        "PARAPHE_HOME": str(settings.home),
        "PARAPHE_DATABASE_URL": settings.database_url,
        "PARAPHE_MASTER_KEY": settings.master_key.get_secret_value(),
        "PARAPHE_CONFIG": str(settings.home / "absent.toml"),
        "PYTHONWARNINGS": "error",
    })
    return env


def paraphe(settings, *args: str, timeout: float = 120, input: str | None = None,
            faketime: str | None = None) -> Result:
    """With `faketime` (libfaketime's relative form, "+4015d"), the command and its worker
    processes run with their clock moved."""
    command = [sys.executable, "-m", "paraphe.cli", *args]
    if faketime:
        from tests.conftest import require_tool

        command = [require_tool("faketime"), "-f", faketime, *command]
    proc = subprocess.run(command, env=cli_env(settings),
                          capture_output=True, text=True, timeout=timeout, input=input)
    return Result(proc.returncode, proc.stdout, proc.stderr)
