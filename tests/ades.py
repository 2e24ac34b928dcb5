"""EN 319 102-1 validation of signed PDFs with pyHanko's AdES process, offline, at a chosen time.

pyHanko's past validation starts its time-sliding from the machine's own clock, whatever
validation time it is given: a validation "years later" therefore runs in a process whose
clock libfaketime moved (`ades_later`), as a validator would run then.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import tempfile
from datetime import datetime, UTC
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import ades
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.policy_decl import (
    REQUIRE_REVINFO,
    CertRevTrustPolicy,
    FreshnessReqType,
)
from pyhanko_certvalidator.registry import SimpleTrustManager


def offline_spec(root: asn1_x509.Certificate) -> PdfSignatureValidationSpec:
    """Trust in `root` only, revocation data required, nothing fetched: the DSS alone."""
    return PdfSignatureValidationSpec(signature_validation_spec=SignatureValidationSpec(
        cert_validation_policy=CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build(trust_roots=[root]),
            revinfo_policy=CertRevTrustPolicy(
                REQUIRE_REVINFO, freshness=None,
                freshness_req_type=FreshnessReqType.MAX_DIFF_REVOCATION_VALIDATION)),
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY)))


async def ades_indications(pdf: bytes, root: asn1_x509.Certificate,
                           at: datetime) -> list[str]:
    """The AdES sub-indication (`PASSED` for a pass) of every signature but the document
    timestamps, validated offline as if it were `at`."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    spec = offline_spec(root)
    found = []
    for sig in reader.embedded_signatures:
        if sig.sig_object_type == "/DocTimeStamp":
            continue
        result = await ades.ades_lta_validation(
            sig, spec, timing_info=ValidationTimingInfo(at, at, False))
        sub = result.ades_subindic
        found.append("PASSED" if sub.status.name == "PASSED" else sub.name)
    return found


async def ades_later(documents: dict[str, bytes], root: asn1_x509.Certificate,
                     later: str) -> dict[str, list[str]]:
    """`ades_indications` of each document, in a process whose clock is moved by `later`
    (libfaketime's relative form: "+2h", "+4745d"); nothing is fetched."""
    from tests.conftest import require_tool

    faketime = require_tool("faketime")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "root.der").write_bytes(root.dump())
        for name, data in documents.items():
            (Path(tmp) / f"{name}.pdf").write_bytes(data)
        proc = await asyncio.create_subprocess_exec(
            faketime, "-f", later, sys.executable, "-m", "tests.ades", tmp,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    return json.loads(out)


async def _main(folder: Path) -> None:
    root = asn1_x509.Certificate.load((folder / "root.der").read_bytes())
    now = datetime.now(UTC)
    found = {path.stem: await ades_indications(path.read_bytes(), root, now)
             for path in sorted(folder.glob("*.pdf"))}
    print(json.dumps(found))


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)  # pyHanko logs every failed attempt of the process.
    asyncio.run(_main(Path(sys.argv[1])))
