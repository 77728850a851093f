"""The house rules of the package: imports run one way (no circles, function-level imports included), each notebook
sits in the folder of its subpackage under a number of its own that follows the imports, and only the registry names a
source type."""
import ast, json, pathlib, re
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PKG, NBS = ROOT / "sft_nb", ROOT / "nbs"


def module_name(p: pathlib.Path) -> str:
    "`sft_nb/runs/sweep.py` -> `runs.sweep`."
    return ".".join(p.relative_to(PKG).with_suffix("").parts)


MODULES = {module_name(p): p for p in PKG.rglob("*.py") if p.name not in ("_modidx.py", "__init__.py")}


def imported(m: str, n: ast.ImportFrom | ast.Import) -> list[str]:
    "The sft_nb modules (dotted, without `sft_nb.`) one import statement of module `m` names."
    if isinstance(n, ast.Import): names = [a.name for a in n.names]
    elif n.level:
        base = (["sft_nb"] + m.split("."))[:-n.level]
        names = [".".join(base + ([n.module] if n.module else []))]
        names += [f"{names[0]}.{a.name}" for a in n.names]  # `from . import x` names a module
    else: names = [n.module] + [f"{n.module}.{a.name}" for a in n.names]
    return [t.removeprefix("sft_nb.") for t in names if t.startswith("sft_nb.") and t.removeprefix("sft_nb.") in MODULES]


def import_graph() -> dict[str, set[str]]:
    "Module -> the sft_nb modules it imports anywhere in its code (top level or inside functions)."
    g = {m: set() for m in MODULES}
    for m, p in MODULES.items():
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, (ast.ImportFrom, ast.Import)): g[m] |= set(imported(m, n)) - {m}
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
    assert len(g) >= 40 and {"preflight.check", "runs.results"} <= g["pipeline"]  # the graph was really read
    assert find_cycle(g) is None, f"import circle: {' -> '.join(find_cycle(g))}"


LAYERS = ["core", "model", "config", "render", "sources", "data", "train", "preflight", "runs", "ui", "pipeline", "sweep", "cli"]


def layer(m: str) -> int:
    "How low module `m` sits: its subpackage's place in LAYERS (`sources.harbor.job` is in `sources`)."
    return LAYERS.index(m.split(".")[0])


def test_layers():
    "Each subpackage imports only from its own layer and the ones below it: the folders read in pipeline order."
    assert set(LAYERS) == {m.split(".")[0] for m in MODULES}, "a subpackage is missing from LAYERS"
    g = import_graph()
    upward = {f"{m} imports {t}" for m in g for t in g[m] if layer(t) > layer(m)}
    assert upward == KNOWN_UPWARD, sorted(upward ^ KNOWN_UPWARD)


# Being moved to config (paths, packing) in this round; the set must only shrink.
KNOWN_UPWARD = {"config.lfargs imports preflight.estimate", "data.tokenized imports preflight.estimate"}


def test_a_planted_upward_import_is_caught():
    assert layer("sources.harbor.job") == LAYERS.index("sources") and layer("core.files") == 0
    assert imported("sweep", ast.parse("from .pipeline import run_step").body[0]) == ["pipeline"]
    assert imported("sources.harbor.job", ast.parse("from ...render.template import ChatRenderer").body[0]) == ["render.template"]
    assert imported("sources.harbor.job", ast.parse("from . import scaffolds").body[0]) == ["sources.harbor.scaffolds"]


def notebooks() -> dict[str, pathlib.Path]:
    "Module -> the notebook that exports it (its `#| default_exp`)."
    found = {}
    for p in sorted(NBS.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in p.parts: continue
        cells = json.loads(p.read_text())["cells"]
        for c in cells:
            if m := re.match(r"#\| default_exp (\S+)", "".join(c["source"])): found[m.group(1)] = p
    return found


def test_each_notebook_is_named_and_numbered_as_its_module():
    "`nbs/45_sweep.ipynb` exports `sft_nb.sweep`; no two notebooks share a number; numbers follow the imports."
    nbs, g = notebooks(), import_graph()
    assert set(nbs) == set(MODULES), set(nbs) ^ set(MODULES)
    number = {}
    for m, p in nbs.items():
        rel = p.relative_to(NBS)
        assert re.fullmatch(r"\d\d[a-z]?_\w+\.ipynb", rel.name), rel
        assert ".".join(rel.parent.parts + (rel.stem.split("_", 1)[1],)) == m, f"{rel} exports {m}"
        number[m] = rel.name.split("_")[0]  # `03` < `03a` < `04`
    shared = sorted(p.name.split("_")[0] for p in NBS.rglob("[0-9][0-9]*_*.ipynb"))
    assert len(shared) == len(set(shared)), f"notebook numbers used twice: {sorted({n for n in shared if shared.count(n) > 1})}"
    late = sorted(f"{nbs[m].name} imports {nbs[t].name}" for m in g for t in g[m] if number[t] > number[m])
    assert not late, late


def source_types() -> list[str]:
    tree = ast.parse((PKG / "sources/registry.py").read_text())
    reg = next(n for n in ast.walk(tree) if isinstance(n, ast.AnnAssign) and getattr(n.target, "id", "") == "SOURCES")
    return [k.value for k in reg.value.keys]


def test_only_the_registry_names_a_source_type():
    types = source_types()
    assert types == ["harbor_job", "local_lf", "hf_lf"]
    offenders = []
    for m, p in MODULES.items():
        if m == "sources.registry": continue
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in types:
                offenders.append(f"{m}.py:{n.lineno} {n.value!r}")
    assert not offenders, offenders


def test_import_sft_nb_is_cheap():
    import subprocess, sys
    code = "import sys, sft_nb, sft_nb.cli, sft_nb.pipeline, sft_nb.preflight.check; print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'llamafactory')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", out


def raised_reject_codes(sources: dict[str, str]) -> dict[str, list[str]]:
    "Reason code -> where it is raised (`module.py:line`), for every `Rejected(\"code\", ...)` with a literal code in `sources`."
    out = {}
    for m, text in sources.items():
        for n in ast.walk(ast.parse(text)):
            if not (isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) == "Rejected"): continue
            code = n.args[0] if n.args else next((k.value for k in n.keywords if k.arg == "reason"), None)
            if isinstance(code, ast.Constant) and isinstance(code.value, str): out.setdefault(code.value, []).append(f"{m}.py:{n.lineno}")
    return out


def reject_code_problems(raised: dict[str, list[str]], declared) -> list[str]:
    "Codes raised but not declared in `core.rejects.REJECT_REASONS`, and declared codes that nothing raises."
    return ([f"{c} raised at {', '.join(raised[c])} is not in core.rejects.REJECT_REASONS" for c in sorted(set(raised) - set(declared))]
            + [f"{c} is declared in core.rejects.REJECT_REASONS but raised nowhere" for c in sorted(set(declared) - set(raised))])


def test_reject_codes_are_declared_once_and_all_raised():
    "Every code a `Rejected` is raised with is in the one list, and every code in the list is raised somewhere (no dead codes)."
    from sft_nb.core.rejects import REJECT_REASONS
    raised = raised_reject_codes({".".join(p.relative_to(PKG).with_suffix("").parts): p.read_text() for p in PKG.rglob("*.py")})
    assert len(raised) >= 25 and "sources.rows.py" in str(raised["unparseable_line"])  # the scan really read the readers
    assert not reject_code_problems(raised, REJECT_REASONS), reject_code_problems(raised, REJECT_REASONS)


def test_a_planted_undeclared_or_dead_reject_code_is_caught():
    planted = {"sources.x": 'def f(p):\n    raise Rejected("no_such_code", "x", str(p))\n',
               "sources.y": 'def g():\n    raise Rejected(reason="bad_roles")\n    raise Rejected(r.reason, r.detail)\n'}
    raised = raised_reject_codes(planted)
    assert raised == {"no_such_code": ["sources.x.py:2"], "bad_roles": ["sources.y.py:2"]}  # a re-raised `r.reason` is not a new code
    assert reject_code_problems(raised, {"bad_roles": "", "dead_code": ""}) == [
        "no_such_code raised at sources.x.py:2 is not in core.rejects.REJECT_REASONS",
        "dead_code is declared in core.rejects.REJECT_REASONS but raised nowhere"]


SHAPE_NAMES = ("model_params", "count_params", "config_params", "read_model_config")
# Modules that name a `config.json` that is not read for a model's shape: Harbor's job and trial config.json (the demo job
# writes them, the trajectory reader reads them); a folder test (launch); the files a tokenized cache or a resume is keyed on.
OTHER_CONFIG_JSON = {"model.demo", "sources.harbor.trajectories", "train.launch", "data.tokenized", "runs.resume"}


def shape_offenders(sources: dict[str, str]) -> list[str]:
    "Where a module other than `model.shape` defines a parameter counter or config.json reader, or names config.json itself."
    out = []
    for m, text in sources.items():
        if m == "model.shape": continue
        for n in ast.walk(ast.parse(text)):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name in SHAPE_NAMES: out.append(f"{m}:{n.lineno} def {n.name}")
            if isinstance(n, ast.Constant) and n.value == "config.json" and m not in OTHER_CONFIG_JSON: out.append(f"{m}:{n.lineno} 'config.json'")
    return out


def test_model_shape_is_counted_and_read_only_in_model_shape():
    assert not shape_offenders({m: p.read_text() for m, p in MODULES.items()}), shape_offenders({m: p.read_text() for m, p in MODULES.items()})
    assert "def read_model_config" in (PKG / "model/shape.py").read_text()  # the one reader is really there


def test_a_planted_shape_copy_is_caught():
    planted = {"preflight.disk": "def config_params(cfg): return cfg['hidden_size']",
               "preflight.check": "import json\ndef model_config(d): return json.loads((d/'config.json').read_text())",
               "model.shape": "def model_params(m): pass", "sources.harbor.trajectories": "x = 'config.json'"}
    assert shape_offenders(planted) == ["preflight.disk:1 def config_params", "preflight.check:2 'config.json'"]
