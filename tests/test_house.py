"""The house rules of the package: imports run one way (no circles, function-level imports included), and only the
registry names a source type."""
import ast, pathlib
import pytest

PKG = pathlib.Path(__file__).resolve().parents[1] / "sft_nb"
MODULES = {p.stem: p for p in PKG.glob("*.py") if p.stem not in ("_modidx", "__init__")}


def import_graph() -> dict[str, set[str]]:
    "Module -> the sft_nb modules it imports anywhere in its code (top level or inside functions)."
    g = {m: set() for m in MODULES}
    for m, p in MODULES.items():
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, ast.ImportFrom) and n.module and (n.level or n.module.startswith("sft_nb")):
                t = n.module.split(".")[-1]
                if t in g and t != m: g[m].add(t)
            elif isinstance(n, ast.Import):
                for a in n.names:
                    t = a.name.split(".")[-1]
                    if a.name.startswith("sft_nb.") and t in g and t != m: g[m].add(t)
    return g


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    "One circle of imports, or None."
    state = {}
    def visit(u, path):
        state[u] = "open"
        for v in sorted(g[u]):
            if state.get(v) == "open": return path[path.index(v):] + [v]
            if v not in state and (c := visit(v, path + [v])): return c
        state[u] = "done"
    for m in sorted(g):
        if m not in state and (c := visit(m, [m])): return c
    return None


def test_cycle_finder_finds_a_planted_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_imports_run_one_way():
    g = import_graph()
    assert len(g) >= 20 and g["cli"] and g["pipeline"]  # the graph was really read
    assert find_cycle(g) is None, f"import circle: {' -> '.join(find_cycle(g))}"


def test_layers():
    "The plan and the preflight sit below the orchestrator; nothing below the sources knows of them."
    g = import_graph()
    def below(m):  # everything m imports, transitively
        seen, todo = set(), [m]
        while todo:
            for v in g[todo.pop()] - seen: seen.add(v); todo.append(v)
        return seen
    assert {"plan", "check", "convert", "register", "train", "results"} <= below("pipeline")
    assert "pipeline" not in below("check") | below("plan")
    for low in ("core", "config", "render", "encode", "lfargs"):
        assert not below(low) & {"sources", "harbor", "convert", "pipeline", "check", "explore", "views", "cli"}, low


def source_types() -> list[str]:
    tree = ast.parse((PKG / "sources.py").read_text())
    reg = next(n for n in ast.walk(tree) if isinstance(n, ast.AnnAssign) and getattr(n.target, "id", "") == "SOURCES")
    return [k.value for k in reg.value.keys]


def test_only_the_registry_names_a_source_type():
    types = source_types()
    assert types == ["harbor_job", "local_lf", "hf_lf"]
    offenders = []
    for m, p in MODULES.items():
        if m == "sources": continue
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in types:
                offenders.append(f"{m}.py:{n.lineno} {n.value!r}")
    assert not offenders, offenders


def test_import_sft_nb_is_cheap():
    import subprocess, sys
    code = "import sys, sft_nb, sft_nb.cli, sft_nb.pipeline, sft_nb.check; print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'llamafactory')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", out
