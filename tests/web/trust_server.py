"""Serving the trust endpoints at the public URL the certificates name, for pdfsig tests.

poppler's pdfsig (22.12) asks the OCSP responder named in each certificate's AIA and, when
it cannot reach it, reports "Unknown issue with Certificate" even with -no-ocsp. A test that
runs pdfsig therefore opens the trust service with ``public_url=free_public_url()`` and runs
pdfsig inside ``serving_trust(trust)``.
"""

from __future__ import annotations

import socket
import urllib.parse
from contextlib import asynccontextmanager

from aiohttp import web

from web.trust_endpoints import add_trust_routes


def free_public_url() -> str:
    """http://127.0.0.1:<a port free right now>."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@asynccontextmanager
async def serving_trust(trust):
    """/ca/, /ocsp and /tsa served on the host and port of ``trust.settings.public_url``."""
    url = urllib.parse.urlsplit(trust.settings.public_url)
    app = web.Application()
    add_trust_routes(app, trust)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, url.hostname, url.port).start()
        yield runner
    finally:
        await runner.cleanup()
