"""The Slicer module's files: Python 3.9 syntax, only what Slicer bundles, a thin Slicer-facing file.

3D Slicer 5.6-5.8 runs Python 3.9 with numpy, SimpleITK, requests, vtk, qt and ctk; it cannot
import monailabel, torch, nibabel or this app's ``lib/``.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tests.slicer_module.conftest import MODULE_DIR

PACKAGE = "SlicePropagationLib"
SLICER_FILE = MODULE_DIR / "SlicePropagation.py"
PLAIN = {"numpy", "SimpleITK", "requests"}
SLICER_ONLY = {"slicer", "qt", "vtk", "ctk"}
PYTHON_FILES = sorted(MODULE_DIR.rglob("*.py"))


def imported_modules(tree: ast.AST) -> set[str]:
    """Top-level names of absolute imports (relative imports stay inside the package)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", PYTHON_FILES, ids=lambda p: str(p.relative_to(MODULE_DIR)))
def test_every_file_is_python_39_and_imports_only_what_slicer_bundles(path):
    source = path.read_text()
    tree = ast.parse(source, filename=str(path), feature_version=(3, 9))
    allowed = set(sys.stdlib_module_names) | PLAIN
    if path.parent == MODULE_DIR:  # Slicer-facing: may use Slicer and the package
        allowed |= SLICER_ONLY | {PACKAGE}
    assert imported_modules(tree) <= allowed, imported_modules(tree) - allowed
    # Annotations such as "int | None" are evaluated at run time on 3.9 without this import.
    assert "from __future__ import annotations" in source
    for node in ast.walk(tree):  # 3.10+ at run time: zip(strict=), dataclass(slots=/kw_only=), isinstance(x, A | B)
        if isinstance(node, ast.Call):
            keywords = {k.arg for k in node.keywords}
            assert not keywords & {"strict", "slots", "kw_only"}, ast.unparse(node)
            if isinstance(node.func, ast.Name) and node.func.id in ("isinstance", "issubclass"):
                assert not any(isinstance(a, ast.BinOp) for a in node.args), ast.unparse(node)


def test_the_package_imports_without_the_app_torch_or_monailabel():
    code = (
        f"import sys; sys.path.insert(0, {str(MODULE_DIR)!r}); import {PACKAGE}; "
        "bad = [m for m in ('torch', 'monailabel', 'nibabel', 'monai', 'lib', 'slicer', 'qt') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=MODULE_DIR, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_slicer_facing_file_is_thin_and_imports_only_names_the_package_has():
    import SlicePropagationLib

    source = SLICER_FILE.read_text()
    assert len(source.splitlines()) < 300
    tree = ast.parse(source, feature_version=(3, 9))
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    assert set(classes) == {f"SlicePropagation{part}" for part in ("", "Widget", "Logic", "Test")}
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == PACKAGE for a in n.names]
    assert imported and [name for name in imported if not hasattr(SlicePropagationLib, name)] == []
    # The Widget wires GUI to Logic: no arrays, no HTTP, no files of its own.
    widget = ast.unparse(classes["SlicePropagationWidget"])
    for word in ("np.", "arrayFrom", "requests", "open(", "MonaiLabelClient("):
        assert word not in widget, word


def test_the_widgets_ui_names_are_in_the_ui_file():
    ui = ET.parse(MODULE_DIR / "Resources" / "UI" / "SlicePropagation.ui")
    names = {w.get("name") for w in ui.iter("widget")}
    used = set(re.findall(r"self\.ui\.(\w+)", SLICER_FILE.read_text()))
    assert used and used <= names, used - names


def test_the_cmake_files_list_every_python_file_and_resource():
    cmake = (MODULE_DIR / "CMakeLists.txt").read_text().replace("${MODULE_NAME}", "SlicePropagation")
    listed = set(re.findall(r"^\s+(\S+\.(?:py|png|ui))\s*$", cmake, flags=re.M))
    shipped = {str(p.relative_to(MODULE_DIR)) for p in PYTHON_FILES if p.parent.name != "Testing"}
    shipped |= {str(p.relative_to(MODULE_DIR)) for p in (MODULE_DIR / "Resources").rglob("*.*")}
    assert listed == shipped
    extension = (MODULE_DIR.parent / "CMakeLists.txt").read_text()
    assert "add_subdirectory(SlicePropagation)" in extension and "Slicer_EXTENSION_CPACK" in extension
