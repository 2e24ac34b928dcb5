"""Behind the load balancers (PARAPHE_TRUSTED_PROXIES), the client is the address their
X-Forwarded-For names: the evidence log, the sessions and the API keys record it, not the
balancer's.

Written here rather than taken from aiohttp-remotes: its strict mode wants an exact count of
hops and answers 400 to the balancer's own health checks, its filtered mode believes the
header from any peer, which would let a client that reaches an instance directly write any
address into the evidence log.
"""

from __future__ import annotations

from aiohttp import web

from paraphe.networks import Networks, parse_ip, within


def client_address(peer: str | None, forwarded_for: list[str], proxies: Networks) -> str | None:
    """The right-most address of X-Forwarded-For that is not a trusted proxy, read only when
    the peer itself is one; the peer otherwise (or when the header holds no address)."""
    if not proxies or not within(peer, proxies):
        return peer
    client = peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        ip = parse_ip(hop)
        if ip is None:
            break  # Past this point the header was written by nobody we trust.
        client = str(ip)
        if not within(client, proxies):
            break
    return client


def middleware(proxies: Networks):
    @web.middleware
    async def real_client(request: web.Request, handler):
        if not proxies:
            return await handler(request)
        remote = client_address(request.remote, request.headers.getall("X-Forwarded-For", []),
                                proxies)
        if remote != request.remote:
            request = request.clone(remote=remote)
        return await handler(request)

    return real_client
