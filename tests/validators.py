"""Independent validators of signed PDFs: poppler's pdfsig with an NSS database, and qpdf."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from tests.conftest import require_tool


async def _run(*cmd: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode, out.decode(errors="replace")


async def pdfsig_report(pdf_path: Path, root_pem: str,
                        later: str | None = None) -> list[dict[str, str]]:
    """pdfsig's view of every signature, trusting only `root_pem` (through an NSS database).

    Async because pdfsig asks the OCSP responder the test serves on this same loop. With
    `later` (libfaketime's relative form, "+2h"), pdfsig runs with its clock moved: it
    checks certificates at its current time, not the signature's.
    Each entry maps pdfsig's field labels ("Signature Validation", "Certificate
    Validation", "Signer Certificate Common Name"...) to their values.
    """
    require_tool("pdfsig")
    require_tool("certutil")
    with tempfile.TemporaryDirectory() as tmp:
        nss, root = Path(tmp) / "nss", Path(tmp) / "root.pem"
        nss.mkdir()
        root.write_text(root_pem)
        code, out = await _run("certutil", "-N", "-d", f"sql:{nss}", "--empty-password")
        assert code == 0, out
        code, out = await _run("certutil", "-A", "-d", f"sql:{nss}", "-n", "paraphe-root",
                               "-t", "CT,C,C", "-i", str(root))
        assert code == 0, out
        command = ("pdfsig", "-nssdir", f"sql:{nss}", str(pdf_path))
        if later:
            require_tool("faketime")
            command = ("faketime", "-f", later, *command)
        code, out = await _run(*command)
    entries: list[dict[str, str]] = []
    for line in out.splitlines():
        if line.startswith("Signature #"):
            entries.append({})
        elif line.startswith("  - ") and entries:
            label, _, value = line[4:].partition(": ")
            entries[-1][label.strip()] = value.strip()
    return entries


def assert_pdfsig_trusts(entries: list[dict[str, str]], count: int) -> None:
    """Every signature (document timestamps aside) valid and trusted, `count` of them."""
    signatures = [e for e in entries if e.get("Signature Type") != "unknown"]
    assert len(signatures) == count, entries
    for entry in signatures:
        assert entry["Signature Validation"] == "Signature is Valid.", entry
        assert entry["Certificate Validation"] == "Certificate is Trusted.", entry


async def qpdf_check(path: Path) -> str:
    """Runs `qpdf --check`; fails the test on errors or warnings, returns the output."""
    require_tool("qpdf")
    code, out = await _run("qpdf", "--check", str(path))
    assert code == 0, out
    assert "No syntax or stream encoding errors found" in out, out
    return out
