"""The layout holds: surfaces -> engine -> accountability, video -> vision, store, inputs ->
processes -> errors. No module imports from a layer above its own, and no modules import each
other in a circle, whether at module level or inside a function (imports for typing only, under
TYPE_CHECKING, are left out: they never run)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "faceledger"

LAYERS = {  # top-level room -> rank; a module imports only from rooms of its rank or lower
    "cli": 5,
    "server": 5,
    "engine": 4,
    "accountability": 3,
    "video": 3,
    "vision": 2,
    "store": 2,
    "inputs": 2,
    "processes": 1,
    "errors": 0,
    "": 0,
}


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _runtime_nodes(tree: ast.AST):
    """Every node but those under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if (
            isinstance(node, ast.If)
            and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING"
        ):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("faceledger"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("faceledger")}
    found.discard(name)
    return {m for m in found if m in known}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_module_imports_from_a_layer_above_its_own():
    upward = [
        f"{m} -> {t}"
        for m, targets in graph().items()
        for t in targets
        if LAYERS[room(t)] > LAYERS[room(m)] and m != "faceledger"  # the package names FaceLedger, lazily
    ]
    assert not upward, "imports upward:\n" + "\n".join(sorted(upward))


def test_every_room_has_a_layer():
    assert {room(m) for m in modules()} <= set(LAYERS)


def test_no_import_cycle():
    g = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in g:
        if v not in index:
            visit(v)
    assert not cycles, "modules importing each other in a circle: " + "; ".join(
        " <-> ".join(c) for c in cycles
    )


def test_the_package_top_level_holds_only_the_public_names():
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert loose == ["__init__.py", "errors.py"], loose
