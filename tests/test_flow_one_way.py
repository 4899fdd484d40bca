"""The flow is one way: the core package ``carbon_lake`` never imports the rooms built on it.

``sensors_ingest``, ``assets``, ``streamlit_app`` and the entry points in ``carbon_lake_cli``
import ``carbon_lake``; if ``carbon_lake`` imported any of them back, the core would depend on
its own users. Every import is checked, at module level and inside functions alike.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CORE = REPO_ROOT / "carbon_lake"
# The project's own top-level packages outside the core: the core may import none of them.
FORBIDDEN = {"sensors_ingest", "assets", "streamlit_app", "carbon_lake_cli", "benchmarks", "tests"}


def _names_a_dynamic_import(func: ast.expr) -> bool:
    return ((isinstance(func, ast.Name) and func.id in {"__import__", "import_module"})
            or (isinstance(func, ast.Attribute) and func.attr == "import_module"))


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """Every absolute import in the tree, anywhere in it (functions too), as (line, module name)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (isinstance(node, ast.Call) and _names_a_dynamic_import(node.func) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))  # importlib.import_module("x"), __import__("x")
    return found


def relative_escapes(path: Path, tree: ast.AST) -> list[tuple[int, str]]:
    """Relative imports that climb out of ``carbon_lake`` (``from .. import x`` in carbon_lake/x.py)."""
    package_depth = len(path.parent.relative_to(REPO_ROOT).parts)  # 1 for carbon_lake/x.py
    return [(node.lineno, "." * node.level + (node.module or ""))
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level > package_depth]


def test_the_core_package_is_found() -> None:
    assert (CORE / "__init__.py").is_file()
    assert len(list(CORE.rglob("*.py"))) > 10


def test_carbon_lake_imports_nothing_built_on_it() -> None:
    violations = []
    for path in sorted(CORE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, module in imported_modules(tree):
            if module.split(".")[0] in FORBIDDEN:
                violations.append(f"{path.relative_to(REPO_ROOT)}:{line} imports {module}")
        for line, module in relative_escapes(path, tree):
            violations.append(f"{path.relative_to(REPO_ROOT)}:{line} imports {module} (outside carbon_lake)")
    assert not violations, ("carbon_lake must not import the packages built on it "
                            "(move the code to carbon_lake_cli or invert the dependency):\n"
                            + "\n".join(violations))
