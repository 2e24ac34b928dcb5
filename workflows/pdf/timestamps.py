"""The RFC 3161 timestamps inside a signed PDF: when, by which TSA, over which signature."""

from __future__ import annotations

import io

from pyhanko.pdf_utils.reader import PdfFileReader


def timestamps_of(path: str) -> list[dict]:
    """Every signature timestamp and document timestamp of the PDF at `path`, in file order:
    kind ("signature" | "document"), field, time (UTC ISO), tsa (subject), serial (hex)."""
    with open(path, "rb") as fh:
        reader = PdfFileReader(io.BytesIO(fh.read()), strict=False)
    found = []
    for es in reader.embedded_signatures:
        if es.sig_object_type == "/DocTimeStamp":
            kind, tokens = "document", [es.signed_data]
        else:
            kind, tokens = "signature", _signature_timestamps(es.signer_info)
        for token in tokens:
            info = token["encap_content_info"]["content"].parsed
            # Plain str: pyHanko's string objects carry a reference to their container, which
            # does not survive the trip back from a worker process (it breaks the pool).
            found.append({"kind": kind, "field": str(es.field_name),
                          "time": info["gen_time"].native.isoformat(),
                          "serial": format(info["serial_number"].native, "x"),
                          "tsa": _tsa_name(token)})
    return found


def _signature_timestamps(signer_info) -> list:
    """The SignedData of each signature timestamp token (an unsigned attribute)."""
    attrs = signer_info["unsigned_attrs"]
    # Absent attributes parse as Void, which is falsy. Not `attrs.native`: it converts every
    # attribute (the tokens with their certificates), 0.16 s per signature, which made the
    # evidence report of a 300-signer collection take 50 s.
    if not attrs:
        return []
    return [value["content"] for attr in attrs
            if attr["type"].native == "signature_time_stamp_token" for value in attr["values"]]


def _tsa_name(token) -> str:
    sid = token["signer_infos"][0]["sid"]
    for choice in token["certificates"] or []:
        cert = choice.chosen
        if sid.name == "issuer_and_serial_number" and (
                cert.issuer == sid.chosen["issuer"]
                and cert.serial_number == sid.chosen["serial_number"].native):
            return _name(cert.subject)
        if sid.name == "subject_key_identifier" and cert.key_identifier == sid.chosen.native:
            return _name(cert.subject)
    return ""


def _name(subject) -> str:
    """"CN (O, C)": the words of a name, without the attribute labels of an X.500 dump."""
    parts = subject.native
    extra = [parts[k] for k in ("organization_name", "country_name") if parts.get(k)]
    cn = parts.get("common_name") or subject.human_friendly
    return f"{cn} ({', '.join(extra)})" if extra else cn
