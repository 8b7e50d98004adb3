"""Print the import circles (strongly connected components of the module graph) in triergon_studio.

    python tools/import_cycles.py                      # every circle; exit status 1 if there is one
    python tools/import_cycles.py engine training core  # only circles inside these subpackages

Imports under ``if TYPE_CHECKING:`` do not count; imports inside functions do (they still tie the modules).
The graph comes from grimp, which import-linter installs.
"""

from __future__ import annotations

import sys

PACKAGE = "triergon_studio"


def import_graph() -> dict[str, set[str]]:
    import grimp

    g = grimp.build_graph(PACKAGE, cache_dir=None, exclude_type_checking_imports=True)
    return {m: {d for d in g.find_modules_directly_imported_by(m) if d in g.modules} for m in g.modules}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module (iterative: no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return sorted(out)


def within(comp: list[str], layers: list[str]) -> bool:
    """True when a circle touches one of ``layers`` (subpackage names such as "engine")."""
    prefixes = [f"{PACKAGE}.{layer}" for layer in layers]
    return any(m == p or m.startswith(p + ".") for m in comp for p in prefixes)


def main(argv: list[str] | None = None) -> int:
    layers = list(sys.argv[1:] if argv is None else argv)
    graph = import_graph()
    found = [c for c in circles(graph) if not layers or within(c, layers)]
    for comp in found:
        print(f"circle of {len(comp)}: {', '.join(comp)}")
        for a in comp:
            for b in sorted(graph[a] & set(comp)):
                print(f"    {a} -> {b}")
    if not found:
        print("no import circles" + (f" touching {', '.join(layers)}" if layers else ""))
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
