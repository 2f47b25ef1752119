"""The packaging files agree with each other and with the code (fast; builds nothing).

The real end-to-end check of a build is ``packaging/smoke_test.sh``; these tests catch
drift between the spec, the .deb metadata, the desktop entry, the installers and the app
before anyone spends minutes on a build.
"""

from __future__ import annotations

import ast
import configparser
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import app

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
CONFIG = tomllib.loads((PACKAGING / "bundle.toml").read_text(encoding="utf-8"))
NAME = CONFIG["bundle"]["name"]
EXCLUDED = [*CONFIG["exclude"]["python"], *(f"PySide6.{m}" for m in CONFIG["exclude"]["qt"])]


def _excluded(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in EXCLUDED)


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(PACKAGING / "linux" / "hearth.desktop", encoding="utf-8")
    return parser["Desktop Entry"]


def test_the_spec_reads_the_version_hearth_reports() -> None:
    spec = (PACKAGING / "hearth.spec").read_text(encoding="utf-8")
    pattern = re.search(r"re\.search\(\s*r'([^']+)'", spec)
    assert pattern is not None, "the spec no longer reads app/__init__.py's version"
    found = re.search(pattern.group(1), (ROOT / "app" / "__init__.py").read_text(), re.M)
    assert found is not None and found.group(1) == app.__version__


def test_the_windows_installer_defaults_to_the_current_version() -> None:
    script = (PACKAGING / "windows" / "hearth.iss").read_text(encoding="utf-8")
    found = re.search(r'#define AppVersion "([^"]+)"', script)
    assert found is not None and found.group(1) == app.__version__
    # It installs what the spec builds, and the Start menu opens the windowed program.
    assert f'Source: "..\\..\\dist\\{NAME}\\*"' in script
    assert f"{NAME}w.exe" in script


def test_desktop_entry_starts_the_installed_command_with_the_installed_icon() -> None:
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Name"] == CONFIG["bundle"]["display_name"]
    assert entry["Exec"].split()[0] == NAME
    assert entry["Terminal"] == "false"
    build = (PACKAGING / "build_linux.sh").read_text(encoding="utf-8")
    assert f"ln -s /opt/hearth/{NAME} " in build
    assert f"hicolor/256x256/apps/{entry['Icon']}.png" in build
    assert f"hicolor/scalable/apps/{entry['Icon']}.svg" in build
    icons = ROOT / "resources" / "icons"
    for suffix in ("svg", "png", "ico", "icns"):
        assert (icons / f"{entry['Icon']}.{suffix}").stat().st_size > 0


def test_deb_control_template_is_complete() -> None:
    control = (PACKAGING / "linux" / "control.in").read_text(encoding="utf-8")
    fields = dict(
        line.split(": ", 1)
        for line in control.replace("@CONFLICTS@", "").splitlines()
        if line and not line.startswith(" ")
    )
    for field in ("Package", "Version", "Architecture", "Maintainer", "Depends", "Description"):
        assert field in fields, field
    assert fields["Package"] == "@PACKAGE@"
    assert fields["Version"] == "@VERSION@"
    build = (PACKAGING / "build_linux.sh").read_text(encoding="utf-8")
    assert f"cpu) package={NAME};" in build
    assert "version=$(\"$py\" -c 'import app; print(app.__version__)')" in build


def test_the_service_unit_runs_the_installed_command_and_is_not_enabled_by_the_package() -> None:
    unit = (PACKAGING / "linux" / "hearth-serve.service").read_text(encoding="utf-8")
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_start.startswith(f"ExecStart=/opt/hearth/{NAME} serve ")
    assert "--host 127.0.0.1" in exec_start
    for script in ("postinst", "prerm", "postrm"):
        text = (PACKAGING / "linux" / script).read_text(encoding="utf-8")
        assert "systemctl enable" not in text, script


def test_the_entry_point_turns_into_the_engine_child_before_importing_hearth() -> None:
    tree = ast.parse((PACKAGING / "hearth_entry.py").read_text(encoding="utf-8"))
    top_imports = [
        node
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("app")
    ]
    assert not top_imports, "importing app at module level slows every engine child's start"
    main_block = next(
        node for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node)
    )
    assert ast.unparse(main_block.body[0]) == "multiprocessing.freeze_support()"
    spec = (PACKAGING / "hearth.spec").read_text(encoding="utf-8")
    assert '"app.engine.backends.llama"' in spec  # imported lazily, by the engine child
    assert 'collect_dynamic_libs("llama_cpp")' in spec
    # Qt's plugin path is set by our own run-time hook, which must not import Qt: the
    # engine child and every command run it.
    hook = (PACKAGING / "rthooks" / "hearth_qt.py").read_text(encoding="utf-8")
    assert '"rthooks" / "hearth_qt.py"' in spec and '!= "pyi_rth_pyside6"' in spec
    assert "QT_PLUGIN_PATH" in hook
    assert not [
        n
        for n in ast.walk(ast.parse(hook))
        if isinstance(n, ast.Import | ast.ImportFrom)
        and any("PySide6" in (a.name or "") for a in n.names)
    ]


def test_hearth_code_imports_no_excluded_module() -> None:
    offenders = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if _excluded(n)]
    assert offenders == []


def test_hearth_and_its_dependencies_start_without_the_excluded_modules() -> None:
    """Every entry point imported in a fresh interpreter where the excluded modules are
    missing, as in the bundle (dependencies such as httpx import some optionally)."""
    script = (
        "import importlib.abc, json, sys\n"
        f"EXCLUDED = {EXCLUDED!r}\n"
        "class Missing(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if any(name == e or name.startswith(e + '.') for e in EXCLUDED):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Missing())\n"
        "import app.cli, app.main, app.api.server, app.engine.backends.llama, app.ui.app\n"
        "import app.core.remote, app.core.hub, app.core.downloads\n"
        "import uvicorn, uvicorn.config, fastapi, keyring\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.splitlines()[-1])
    assert "PySide6.QtWidgets" in loaded and "llama_cpp" in loaded  # it did import them
    assert [m for m in loaded if _excluded(m)] == []


def test_every_resource_the_app_reads_is_bundled() -> None:
    from app.core.catalog import CATALOG_NAME

    spec = (ROOT / "packaging" / "hearth.spec").read_text(encoding="utf-8")
    # The frozen app looks for resources/ beside its app package, as a checkout does.
    assert f'ROOT / "resources" / "{CATALOG_NAME}"), "resources")' in spec
