"""The product's import graph has no cycle (import-linter checks the layers; this the loops
that hide between modules of one layer)."""

from __future__ import annotations

import grimp

PACKAGES = ("workflows", "mail_gateway", "sms_gateway", "bot", "web", "paraphe", "compat")
# What the core never imports: it records messages, the transports send them.
SENDERS = ("smtplib", "aiosmtplib", "smpplib", "aiohttp", "aiogram", "sms_gateway",
           "mail_gateway")


def test_no_import_cycle_in_the_product():
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    cycles = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported == module or imported not in graph.modules:
                continue
            if graph.chain_exists(imported, module, as_packages=False):
                cycles.add(tuple(sorted((module, imported))))
    assert not cycles, sorted(cycles)


def test_no_module_of_the_core_sends_a_message():
    """No module of workflows/ imports a mail, SMS, chat or HTTP client, nor a transport."""
    graph = grimp.build_graph("workflows", "sms_gateway", "mail_gateway",
                              include_external_packages=True, exclude_type_checking_imports=True)
    found = []
    for module in graph.modules:
        if module != "workflows" and not module.startswith("workflows."):
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.split(".")[0] in SENDERS:
                found.append((module, imported))
    assert not found, found
