"""Publishing a new version of the terms of use in a test, as an operator would."""

from __future__ import annotations

import shutil

from workflows import terms

NEW = "2026-07"


def publish_new_version(settings, tmp_path, version: str = NEW) -> str:
    """Copies the shipped texts to a folder of the test, adds `version` and puts it in force."""
    folder = tmp_path / "terms"
    if not folder.exists():
        shutil.copytree(terms.TERMS_DIR, folder)
    for lang in ("fr", "en"):
        (folder / f"cgu.{version}.{lang}.md").write_text(
            f"# CGU {version} ({lang})\n\n1. Nouvelle version.\n", encoding="utf-8")
    settings.terms_dir = folder
    settings.terms_version = version
    return version
