"""The layer's packages import only downward (docs/architecture.md): read from the source, so a new
import that crosses a boundary fails here before it costs a function its cold start."""

import ast
from pathlib import Path

import pytest

LAYER = Path(__file__).resolve().parents[2] / "layers" / "common" / "imageapi"

# What each package may import of the layer, besides itself.
ALLOWED = {
    "core": set(),
    "formats": {"core"},
    "store": {"core"},
    "http": {"core", "formats", "store"},
    "routes": {"core", "formats", "store", "http"},
}
# Third-party packages a package must never import: the bytes of an image need no web framework,
# database or S3 client, and the shared base needs neither driver.
FORBIDDEN = {
    "core": {"psycopg", "psycopg_pool", "botocore", "boto3", "PIL", "pillow_heif"},
    "formats": {"fastapi", "starlette", "mangum", "psycopg", "psycopg_pool", "botocore", "boto3"},
}


def _imports(path: Path) -> set[str]:
    """Absolute names of every module the file imports, at top level or inside functions."""
    package = ".".join(path.relative_to(LAYER.parent).parent.parts)
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            names.add(module)
            if node.module is None:  # from . import x: x is a module
                names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _modules(package: str) -> list[Path]:
    return sorted((LAYER / package).glob("*.py"))


def test_every_module_lives_in_a_known_package() -> None:
    loose = [path.name for path in LAYER.glob("*.py") if path.name != "__init__.py"]
    assert not loose, f"modules outside the packages: {loose}"
    packages = {path.name for path in LAYER.iterdir() if (path / "__init__.py").exists()}
    assert packages == set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_packages_below_it(package: str) -> None:
    crossings = {
        f"{path.name} imports {name}"
        for path in _modules(package)
        for name in _imports(path)
        if name.startswith("imageapi.")
        and name.split(".")[1] not in ALLOWED[package] | {package}
        and name != "imageapi"
    }
    assert not crossings


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_stays_free_of_the_drivers_it_does_not_need(package: str) -> None:
    found = {
        f"{path.name} imports {name}"
        for path in _modules(package)
        for name in _imports(path)
        if name.split(".")[0] in FORBIDDEN[package]
    }
    assert not found


def test_the_reader_follows_relative_imports() -> None:
    names = _imports(LAYER / "routes" / "uploads.py")
    assert "imageapi.store.storage" in names  # absolute, across packages
    assert "imageapi.formats.imaging" in names
    assert "imageapi.formats.jpeg" in _imports(LAYER / "formats" / "inspection.py")  # from . import jpeg
