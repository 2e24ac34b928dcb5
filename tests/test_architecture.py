"""The product's import graph has no cycle (import-linter checks the layers; this the loops
that hide between modules of one layer)."""

from __future__ import annotations

import grimp

PACKAGES = ("workflows", "mail_gateway", "bot", "web", "paraphe", "compat")


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
