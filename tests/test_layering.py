"""The runtime core imports nothing from adapters or the store (DESIGN.md, 'Layout')."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "clara"
CORE = sorted([*ROOT.glob("actors/_*.py"), *ROOT.glob("supervisors/*.py")])
FORBIDDEN = ("clara.adapters", "clara.store")


def imported_modules(path: Path) -> set[str]:
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_the_core_modules_exist() -> None:
    assert len(CORE) >= 10


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_runtime_core_imports_no_adapter_or_store_code(path: Path) -> None:
    offending = sorted(name for name in imported_modules(path) if name.startswith(FORBIDDEN))
    assert offending == [], f"{path.name} imports {offending}"


def test_the_import_check_sees_relative_imports() -> None:
    source = ROOT / "supervisors" / "_base.py"
    assert "clara.actors" in imported_modules(source)
