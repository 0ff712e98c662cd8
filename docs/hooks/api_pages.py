"""MkDocs hook: one API page per public name, one page per public module, and the API nav.

Public modules are the importable ``dropkit.*`` modules with no ``_``-prefixed part; their public names
are their ``__all__``. A name exported by several modules (``dropkit.nn.Dropout`` is also
``dropkit.nn.dropout.Dropout``) gets one page, under the shortest module path that exports it, and
every module page links to it, so each object is rendered once and has one URL. A public class or
function without a docstring is a build warning (an error under ``mkdocs build --strict``).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.api_pages")

PACKAGE = "dropkit"
REFERENCE = "reference"


@dataclass
class ApiModule:
    name: str
    names: list[str]
    summary: str
    children: list[str] = field(default_factory=list)


def _import_package(config_dir: Path) -> Any:
    if str(config_dir) not in sys.path:
        sys.path.insert(0, str(config_dir))
    return importlib.import_module(PACKAGE)


def public_modules(config_dir: Path) -> dict[str, ApiModule]:
    """Every public module of the package with its ``__all__`` (import errors are build errors)."""
    package = _import_package(config_dir)
    names = [PACKAGE] + [
        info.name
        for info in pkgutil.walk_packages(package.__path__, prefix=PACKAGE + ".")
        if not any(part.startswith("_") for part in info.name.split("."))
    ]
    modules: dict[str, ApiModule] = {}
    for name in sorted(names):
        module = importlib.import_module(name)
        doc = inspect.getdoc(module) or ""
        exported = [n for n in getattr(module, "__all__", []) if not n.startswith("__")]
        modules[name] = ApiModule(name, exported, doc.strip().split("\n\n")[0].replace("\n", " "))
    for name in modules:
        parent = name.rpartition(".")[0]
        if parent in modules:
            modules[parent].children.append(name)
    return modules


def homes(modules: dict[str, ApiModule]) -> dict[tuple[str, str], str]:
    """``(module, name) -> home module``: the shortest module path that exports the same object."""
    objects: dict[tuple[str, str], Any] = {}
    for mod in modules.values():
        module = sys.modules[mod.name]
        for n in mod.names:
            obj = getattr(module, n)
            if not inspect.ismodule(obj):  # a submodule has its module page
                objects[(mod.name, n)] = obj
    home: dict[tuple[str, str], str] = {}
    for (mname, n), obj in objects.items():
        same = [m for (m, n2), o in objects.items() if n2 == n and o is obj and _related(m, mname, obj)]
        home[(mname, n)] = min(same, key=lambda m: (m.count("."), m))
    return home


def _related(a: str, b: str, obj: Any) -> bool:
    """Two exports are one object: a function/class is; a plain value must come from one package."""
    if inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj):
        return True
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def page_path(module: str, name: str | None = None) -> str:
    return f"{REFERENCE}/{module}/{name or 'index'}.md"


def _rel(from_page: str, to_page: str) -> str:
    base = Path(from_page).parent
    return Path(*[".."] * len(base.parts), to_page).as_posix()


def _kind(obj: Any) -> str:
    if inspect.ismodule(obj):
        return "module"
    if inspect.isclass(obj):
        return "class"
    if inspect.isroutine(obj):
        return "function"
    return "attribute"


def _first_line(obj: Any) -> str:
    if not (inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj)):
        return ""
    doc = inspect.getdoc(obj) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ").replace("|", "\\|")


def module_page(mod: ApiModule, modules: dict[str, ApiModule], home: dict[tuple[str, str], str]) -> str:
    here = page_path(mod.name)
    lines = [f"# `{mod.name}`", "", f"::: {mod.name}", "    options:", "      members: false",
             "      show_root_heading: false", "      show_root_toc_entry: false", ""]
    module = sys.modules[mod.name]
    if mod.names:
        lines += ["## Public names", "", "| name | kind | summary |", "|---|---|---|"]
        for n in mod.names:
            obj = getattr(module, n)
            if inspect.ismodule(obj):
                target = page_path(obj.__name__)
            else:
                h = home[(mod.name, n)]
                target = page_path(h, n)
            lines.append(f"| [`{n}`]({_rel(here, target)}) | {_kind(obj)} | {_first_line(obj)} |")
        lines.append("")
    if mod.children:
        lines += ["## Modules", "", "| module | summary |", "|---|---|"]
        for child in mod.children:
            summary = modules[child].summary.replace("|", "\\|")
            lines.append(f"| [`{child}`]({_rel(here, page_path(child))}) | {summary} |")
        lines.append("")
    return "\n".join(lines)


def name_page(module: str, name: str, exported_by: list[str]) -> str:
    here = page_path(module, name)
    also = ", ".join(f"[`{m}`]({_rel(here, page_path(m))})" for m in exported_by)
    return "\n".join([
        f"# `{module}.{name}`", "",
        f"Exported by {also}.", "",
        f"::: {module}.{name}",
        "    options:",
        "      show_root_heading: true",
        "      show_root_full_path: true",
        "",
    ])


def missing_docstrings(modules: dict[str, ApiModule], home: dict[tuple[str, str], str]) -> list[str]:
    missing = []
    for (mname, n), h in home.items():
        if h != mname:
            continue
        obj = getattr(sys.modules[mname], n)
        if (inspect.isclass(obj) or inspect.isroutine(obj)) and not (obj.__doc__ or "").strip():
            missing.append(f"{mname}.{n}")
    return sorted(missing)


def api_nav(modules: dict[str, ApiModule]) -> list[Any]:
    """Nav entries: the package and its top-level modules; deeper modules are linked from their parent's
    page (a nav of every module would repeat ~130 entries on each of the site's pages)."""
    top = modules[PACKAGE]
    return [page_path(PACKAGE)] + [{child: page_path(child)} for child in top.children]


_STATE: dict[str, Any] = {}


def on_config(config: Any) -> Any:
    config_dir = Path(config.config_file_path).parent
    modules = public_modules(config_dir)
    home = homes(modules)
    _STATE.update(modules=modules, home=home)
    for nav_item in config.nav or []:
        if isinstance(nav_item, dict) and "API reference" in nav_item:
            nav_item["API reference"] = api_nav(modules)
    return config


def on_files(files: Files, config: Any) -> Files:
    modules: dict[str, ApiModule] = _STATE["modules"]
    home: dict[tuple[str, str], str] = _STATE["home"]
    for mod in modules.values():
        files.append(File.generated(config, page_path(mod.name), content=module_page(mod, modules, home)))
    exporters: dict[tuple[str, str], list[str]] = {}
    for (mname, n), h in home.items():
        exporters.setdefault((h, n), []).append(mname)
    for (h, n), by in sorted(exporters.items()):
        files.append(File.generated(config, page_path(h, n), content=name_page(h, n, sorted(by))))
    for name in missing_docstrings(modules, home):
        log.warning("api_pages: public name %s has no docstring", name)
    return files
