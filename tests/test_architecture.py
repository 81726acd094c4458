"""The package's layers read one way (ARCHITECTURE.md): no module imports a layer above it."""

import ast
from pathlib import Path

import atmoscope

PACKAGE = Path(atmoscope.__file__).parent

#: Layers from the bottom up; a module may import its own layer and those below.
LAYERS = [
    {"errors", "_version", "_registry", "_atomic", "_device", "_ray"},
    {"data", "observed", "fetch", "synthetic"},
    {"statistics"},
    {"models"},
    {"pretrained"},
    {"evaluation"},
    {"training"},
    {"prediction"},
    {"reporting"},
    {"workflows"},
    {"cli", "__main__"},
]
LEVEL = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _unit(module: str) -> str:
    """The top-level unit of ``atmoscope.x.y`` (``x``)."""
    return module.split(".")[1]


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.ImportFrom) and node.module
                and node.module.startswith("atmoscope.")):
            yield node.module, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("atmoscope."):
                    yield alias.name, node.lineno


def test_every_module_has_a_layer():
    units = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
    assert units <= set(LEVEL), f"modules without a layer: {units - set(LEVEL)}"


def test_no_import_goes_up():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel == Path("__init__.py"):
            continue  # the package root re-exports lazily from every layer
        source = rel.parts[0].removesuffix(".py")
        for module, line in _imports(path):
            target = _unit(module)
            if LEVEL[target] > LEVEL[source]:
                upward.append(f"{rel}:{line} ({source}) imports {module} ({target})")
    assert not upward, "imports that go up a layer:\n" + "\n".join(upward)


def test_architecture_map_names_every_module():
    text = (PACKAGE.parents[1] / "ARCHITECTURE.md").read_text()
    modules = [str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*.py")
               if p.name != "__init__.py"]
    missing = [m for m in modules if Path(m).name not in text]
    assert not missing, f"ARCHITECTURE.md does not mention {missing}"


def test_a_batch_process_imports_no_networks():
    """What `atmoscope predict` imports to plan a batch and start its workers leaves torch
    and scikit-learn to the workers (they started seconds later when it did not)."""
    import subprocess
    import sys

    code = ("import sys\n"
            "import atmoscope.cli, atmoscope.prediction\n"
            "from atmoscope.observed.readers import spectrum_files\n"
            "from atmoscope.prediction.catalog import predict_catalog, read_distances\n"
            "from atmoscope.prediction.engine import run_catalog\n"
            "from atmoscope.prediction.ray_engine import require_engine\n"
            "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))\n"
            "from atmoscope.prediction import Predictor\n"  # found on first use
            "print(Predictor.__module__, 'torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[:2] == ["[]", "atmoscope.prediction.predictor True"]
