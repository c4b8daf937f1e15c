"""No import cycle between the modules of any package of mloop, counting the imports made only
for type checking and those inside functions: a package's modules form layers of their own."""

from __future__ import annotations

import grimp


def test_the_modules_of_every_package_are_acyclic() -> None:
    graph = grimp.build_graph("mloop", exclude_type_checking_imports=False, cache_dir=None)
    packages = sorted(m for m in graph.modules if graph.find_children(m))
    assert "mloop.pipeline" in packages and "mloop.store" in packages
    cycles = {}
    for package in packages:
        breakers = graph.nominate_cycle_breakers(package)
        if breakers:
            cycles[package] = sorted(breakers)
    # For each package, the imports whose removal would make its modules acyclic.
    assert cycles == {}
