"""`paraphe serve`: the command that starts every transport, so it belongs to the wiring
(paraphe/), not to paraphe/commands/, which stays independent of the transports."""

from __future__ import annotations

from paraphe import logs


def register(sub) -> None:
    parser = sub.add_parser("serve", help="run the gateway, web, bot and scheduler in one process")
    parser.set_defaults(handler=serve)


async def serve(args, ctx) -> int:
    # lazy: the runtime imports every transport (aiohttp, aiosmtpd, the bot): the other
    # commands start without them.
    from paraphe.runtime import serve as run

    logs.configure(ctx.settings.log_format, ctx.settings.log_level)
    await run(ctx.settings, announce=lambda line: print(line, flush=True))
    return 0
