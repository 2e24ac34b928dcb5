"""The command addresses the gateway answers, each declared once, here.

A command is its name (the local part: `seal@`, `seal+<secret>@`), the chain of rules run
before it (names from mail_gateway.rules, in order) and its module in this package, whose
`run(ctx)` answers it. The addresses the gateway accepts, the chains it runs and the
commands it dispatches all follow from CHAINS: a new command is one line here and one module.
This file imports nothing, so the address parser can read it without loading the commands.
"""

CHAINS: dict[str, tuple[str, ...]] = {
    # The seal right is the use case's to check (before the work, and again at commit): a
    # rule here would check it a third time. Its refusal is message-level (one line).
    "seal": ("not-from-robot", "has-attachment", "cabinet-chosen"),
    "collect": ("not-from-robot", "has-attachment", "cabinet-chosen"),
    "verify": ("not-from-robot", "has-attachment"),
    "help": ("not-from-robot",),
}
