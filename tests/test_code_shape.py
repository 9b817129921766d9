"""The shape of the code: no module reaches into another module's private names, and the modules' top-level
imports form no cycle."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# where each tree installs: conditioning/ and eval/ live inside the package as audiogen.conditioning, audiogen.eval
TREES = {"audiogen": "audiogen", "conditioning": "audiogen.conditioning", "eval": "audiogen.eval"}
# private names of the libraries we build on (torch's modules and tensors), not ours
FOREIGN = {"_parameters", "_buffers", "_version"}


def modules() -> dict[str, Path]:
    """``{dotted module name: file}`` of every module of the package."""
    out = {}
    for tree, package in TREES.items():
        for path in sorted((ROOT / tree).rglob("*.py")):
            parts = path.relative_to(ROOT / tree).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            out[".".join((package, *parts))] = path
    return out


def _absolute(name: str, node: ast.ImportFrom) -> str:
    """The module an ``ImportFrom`` in module ``name`` reads (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = name.split(".")[: len(name.split(".")) - node.level + (1 if name.endswith("__init__") else 0)]
    return ".".join([*base, *([node.module] if node.module else [])])


def private_uses(name: str, path: Path) -> list[str]:
    """Private names of other modules that module ``name`` uses: ``from x import _y`` and ``obj._y`` (where ``_y``
    is not defined in this file, and ``obj`` is neither ``self``/``cls`` nor a foreign module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own, foreign_roots, found = set(), set(), []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            own.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            own.add(node.attr)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            own.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Import):
            foreign_roots.update((a.asname or a.name).split(".")[0] for a in node.names
                                 if not a.name.startswith("audiogen"))  # fmt: skip
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(name, node)
            for a in node.names:
                if module.startswith("audiogen") and a.name.startswith("_") and not a.name.startswith("__"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {a.name} from {module}")
                if not module.startswith("audiogen"):
                    foreign_roots.add(a.asname or a.name)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_") or node.attr.startswith("__"):
            continue
        root = node.value
        while isinstance(root, (ast.Attribute, ast.Call, ast.Subscript)):
            root = root.value if not isinstance(root, ast.Call) else root.func
        if isinstance(root, ast.Name) and (root.id in ("self", "cls") or root.id in foreign_roots):
            continue
        if node.attr in own or node.attr in FOREIGN:
            continue
        found.append(f"{path.relative_to(ROOT)}:{node.lineno} uses {ast.unparse(node)}")
    return found


def test_no_module_uses_another_modules_private_names():
    found = [use for name, path in modules().items() for use in private_uses(name, path)]
    assert not found, "private names used across modules:\n" + "\n".join(found)


def top_level_imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that module ``name`` imports when it is imported (not those imported inside functions
    or only for type checking)."""
    out = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(name, node)
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module for a in node.names]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            # importing a.b.c runs a, a.b and a.b.c
            out.update(m for m in (".".join(parts[: i + 1]) for i in range(len(parts))) if m in known and m != name)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph`` (one per strongly connected component of two or more modules)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_top_level_imports_form_no_cycle():
    mods = modules()
    known = set(mods)
    # a package's __init__ that imports its own submodules is not a cycle of design: leave packages out as targets
    packages = {name for name, path in mods.items() if path.name == "__init__.py"}
    graph = {name: top_level_imports(name, path, known) - packages for name, path in mods.items()}
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_compose_plan_takes_the_keys_generate_takes():
    from audiogen.compose.planner import compose_plan

    for key, expected in (
        ("F major", ("F", "major")),
        ("D#", ("Eb", None)),
        ("Am", ("A", "minor")),
        ("Bb", ("Bb", None)),
    ):
        p = compose_plan("x", key=key, duration=2, seed=1, use_minilm=False)
        assert p.key == expected[0] and (expected[1] is None or p.mode == expected[1])
