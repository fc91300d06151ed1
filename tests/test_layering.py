"""The layers of DESIGN.md's 'Layout', checked by folder.

- The runtime core (``clara/actors/_core/``, ``clara/supervisors/``) imports nothing from
  adapters, the store, the configuration, or any domain actor family.
- ``clara.actors`` itself re-exports the core only: importing the runtime never pulls in a
  domain family (and so no adapter or store).
- Only ``clara/config.py`` reads the environment.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "clara"
CORE_FOLDERS = (ROOT / "actors" / "_core", ROOT / "supervisors")
CORE = sorted(path for folder in CORE_FOLDERS for path in folder.rglob("*.py"))
FAMILIES = sorted(
    path.name
    for path in (ROOT / "actors").iterdir()
    if path.is_dir() and not path.name.startswith("_") and (path / "__init__.py").exists()
)
FORBIDDEN = (
    "clara.adapters",
    "clara.store",
    "clara.config",
    "clara._config",
    "clara.tools",
    *(f"clara.actors.{family}" for family in FAMILIES),
)


def imported_modules(path: Path) -> set[str]:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    package = ".".join(parts[:-1])  # a module's package; for __init__.py, the package itself
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


def test_the_core_folders_hold_the_runtime() -> None:
    names = {path.stem for path in CORE}
    assert {"cell", "mailbox", "ref", "ask", "scheduler", "_base", "_dynamic"} <= names


def test_the_domain_families_are_packages() -> None:
    assert {"channel", "llm", "memory", "mcp", "discord", "console", "status"} <= set(FAMILIES)
    flat = sorted(
        path.name for path in (ROOT / "actors").glob("*.py") if path.name != "__init__.py"
    )
    assert flat == [], f"modules outside a family or the core: {flat}"


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_runtime_core_imports_no_adapter_store_config_or_domain_code(path: Path) -> None:
    offending = sorted(name for name in imported_modules(path) if name.startswith(FORBIDDEN))
    assert offending == [], f"{path.name} imports {offending}"


def test_the_actors_package_reexports_the_core_only() -> None:
    names = imported_modules(ROOT / "actors" / "__init__.py") - {"clara.actors"}  # from . import
    assert {name for name in names if not name.startswith("clara.actors._core")} == set()


def test_the_import_check_sees_relative_imports() -> None:
    assert "clara.actors" in imported_modules(ROOT / "supervisors" / "_base.py")
    assert "clara.errors" in imported_modules(ROOT / "actors" / "_core" / "cell.py")
    assert "clara.actors._core.actor" in imported_modules(ROOT / "actors" / "_core" / "__init__.py")


def _reads_environment(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"environ", "getenv", "environb"}
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            return True
    return False


# mem0 must see two variables set before it is imported (FACTS.md): the memory adapter
# writes them, and reads nothing.
WRITES_ONLY = {ROOT / "adapters" / "memory" / "_mem0.py"}


def test_only_the_config_module_reads_the_environment() -> None:
    readers = sorted(
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.py")
        if path not in WRITES_ONLY and _reads_environment(path)
    )
    assert readers == ["config.py"]
