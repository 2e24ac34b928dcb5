"""`paraphe trust root --fdf`: the root as an FDF that Acrobat imports, read back by pyHanko."""

from __future__ import annotations

import io
import subprocess
import sys

from pyhanko.pdf_utils.reader import PdfFileReader

from tests.cli import cli_env
from workflows.trust.ca import TrustService


async def test_the_fdf_carries_the_root_der_in_acrobats_certificate_export_shape(db, settings):
    trust = await TrustService.open(settings)
    proc = subprocess.run([sys.executable, "-m", "paraphe.cli", "trust", "root", "--fdf"],
                          env=cli_env(settings), capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    fdf = proc.stdout
    assert fdf.startswith(b"%FDF-1.2\n") and fdf.rstrip().endswith(b"%%EOF")
    # pyHanko reads PDF syntax only behind a PDF header: the same number of bytes, so every
    # cross-reference offset is checked as written (strict mode refuses a wrong one).
    reader = PdfFileReader(io.BytesIO(b"%PDF-1.2" + fdf[len(b"%FDF-1.2"):]), strict=True)
    root = reader.root
    assert root["/Type"] == "/Catalog"
    ppk = root["/FDF"]["/PPK"]
    assert ppk["/Type"] == "/PPK" and ppk["/PacketID"].startswith("ppklite:certExport:")
    (entry,) = [e.get_object() for e in ppk["/Import"]]
    assert entry["/Type"] == "/Import" and entry["/Contact"] == "Paraphe Root CA"
    assert [bytes(c) for c in entry["/Certs"]] == [trust.authority("root").der]
    # The PEM form is unchanged.
    pem = subprocess.run([sys.executable, "-m", "paraphe.cli", "trust", "root"],
                         env=cli_env(settings), capture_output=True, timeout=120, text=True)
    assert pem.stdout == trust.root_pem()
