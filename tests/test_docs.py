"""The documentation site's guarantees, checked without building it (``make docs`` builds it).

* every command of the CLI is in the generated CLI reference, and every public name (each
  public subpackage's and module's ``__all__``) is in the API reference sources;
* the build fails on a public name without a docstring (``docs/_ext/docstring_check.py``):
  its functions, and a two-file Sphinx project built with ``-W``;
* the site is built with warnings as errors and with every tutorial executed;
* CITATION.cff, LICENSE and CHANGELOG.md agree with ``pyproject.toml``.
"""

from __future__ import annotations

import dataclasses
import html as html_module
import importlib
import pkgutil
import re
import runpy
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import click
import pytest

import atmoscope
from atmoscope.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
API = DOCS / "api"

sys.path.insert(0, str(DOCS / "_ext"))
import docstring_check  # noqa: E402


# --- the CLI reference ----------------------------------------------------------------------
def _command_paths(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subcommand under ``command``, as the words that call it."""
    found = [path] if path else []
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            if not sub.hidden:
                found += _command_paths(sub, (*path, name))
    return found


def _click_directive() -> tuple[str, dict[str, str]]:
    text = (DOCS / "cli.md").read_text()
    match = re.search(r"^\.\. click:: (\S+)\n((?:   :\S+:.*\n)*)", text, re.M)
    assert match, "docs/cli.md has no `.. click::` directive"
    options = dict(re.findall(r"^   :(\S+):\s*(.*)$", match.group(2), re.M))
    return match.group(1), options


def _generated_cli_source(command: click.Command, name: str, parent=None) -> list[str]:
    """The reStructuredText sphinx-click generates for ``command`` and, nested in full,
    every subcommand: what the build renders into the CLI reference."""
    from sphinx_click.ext import _format_command

    ctx = click.Context(command, info_name=name, parent=parent)
    lines = list(_format_command(ctx, "full"))
    if isinstance(command, click.Group):
        for sub_name, sub in command.commands.items():
            lines += _generated_cli_source(sub, sub_name, ctx)
    return lines


def test_the_cli_reference_is_generated_from_the_whole_command():
    target, options = _click_directive()
    module, attribute = target.split(":")
    assert getattr(importlib.import_module(module), attribute) is cli
    assert options.get("prog") == "atmoscope"
    assert options.get("nested") == "full", "subcommands must be documented in full"
    assert "commands" not in options, "no command may be left out of the reference"


def test_every_command_is_in_the_cli_reference():
    paths = _command_paths(cli)
    assert {"grid info", "train", "predict", "calibrate"} <= {" ".join(p) for p in paths}
    source = "\n".join(_generated_cli_source(cli, "atmoscope"))
    for path in paths:
        assert f".. program:: atmoscope {' '.join(path)}\n" in source + "\n", path
    built = DOCS / "_build" / "html" / "cli.html"
    if built.is_file():  # a site built by make docs: the rendered page has them too
        # as text: the highlighted usage lines put a span between the words
        text = " ".join(html_module.unescape(re.sub(r"<[^>]+>", "", built.read_text())).split())
        for path in paths:
            assert f"atmoscope {' '.join(path)}" in text, path


# --- the API reference ----------------------------------------------------------------------
def _public_modules() -> list[str]:
    """atmoscope's public subpackages and modules (the CLI has its own reference)."""
    return sorted(f"atmoscope.{m.name}" for m in pkgutil.iter_modules(atmoscope.__path__)
                  if not m.name.startswith("_") and m.name != "cli")


def _documented(page: Path) -> set[str]:
    """The names an API page documents with autodoc directives (last dotted component)."""
    return {m.rsplit(".", 1)[-1] for m in
            re.findall(r"^\.\. auto(?:class|function|exception|data|decorator|attribute|"
                       r"method)::\s+(\S+)", page.read_text(), re.M)}


def test_every_public_module_has_an_api_page():
    index = (API / "index.rst").read_text()
    for module in _public_modules():
        short = module.split(".", 1)[1]
        page = API / f"{short}.rst"
        assert page.is_file(), f"{module} has no API page {page.relative_to(ROOT)}"
        assert f".. automodule:: {module}\n" in page.read_text(), page
        assert re.search(rf"^   {short}$", index, re.M), f"{short} is not in the API toctree"


@pytest.mark.parametrize("module", _public_modules())
def test_every_public_name_is_in_the_api_reference(module):
    mod = importlib.import_module(module)
    names = getattr(mod, "__all__", None)
    assert names, f"{module} declares no public names (__all__)"
    page = API / f"{module.split('.', 1)[1]}.rst"
    missing = sorted(set(names) - _documented(page))
    assert not missing, f"{page.relative_to(ROOT)} does not document {missing}"


def test_every_top_level_name_is_in_the_api_reference():
    index = (API / "index.rst").read_text()
    missing = [n for n in atmoscope.__all__ if f"``atmoscope.{n}``" not in index]
    assert not missing, f"docs/api/index.rst does not list {missing}"


# --- docstrings are enforced ----------------------------------------------------------------
def _undocumented(x):
    return x


def _documented_function(x):
    """Return ``x``."""
    return x


@dataclasses.dataclass
class _Plain:
    value: int = 0


def test_a_public_object_without_a_docstring_is_flagged():
    message = docstring_check.missing_docstring("function", "atmoscope.data.read_grid",
                                                _undocumented, [])
    assert message and "atmoscope.data.read_grid" in message and "docstring" in message
    assert docstring_check.missing_docstring("function", "atmoscope.data.read_grid",
                                             _undocumented, ["", "   "])
    assert docstring_check.missing_docstring("class", "atmoscope.x.Plain", _Plain,
                                             [_Plain.__doc__])  # the generated signature
    assert docstring_check.missing_docstring("data", "atmoscope.x.TABLE", {"a": 1},
                                             dict.__doc__.splitlines())  # dict's, not its own


def test_documented_and_private_objects_pass():
    check = docstring_check.missing_docstring
    assert check("function", "atmoscope.x.f", _documented_function, ["Return ``x``."]) is None
    assert check("function", "atmoscope.x._helper", _undocumented, []) is None
    assert check("data", "atmoscope.x.TABLE", {"a": 1}, ["Name → value."]) is None
    assert check("module", "atmoscope.x", sys, ["A module."]) is None


def test_an_undocumented_public_member_of_a_class_is_flagged():
    class Thing:
        """A thing."""

        def method(self):
            return 1

        @property
        def size(self):
            return 1

        def documented(self):
            """Documented."""

    flagged = docstring_check.skipped_undocumented
    assert flagged("method", Thing.__dict__["method"], True)
    assert flagged("size", Thing.__dict__["size"], True)
    assert not flagged("documented", Thing.__dict__["documented"], True)
    assert not flagged("_private", Thing.__dict__["method"], True)
    assert not flagged("method", Thing.__dict__["method"], False)  # autodoc kept it
    assert not flagged("limit", 3, True)  # a data attribute may go undocumented


def test_the_build_fails_on_a_missing_docstring(tmp_path):
    """A two-file Sphinx project with the extension, built with -W like make docs."""
    (tmp_path / "tiny.py").write_text('"""A module."""\n\n\ndef documented():\n'
                                      '    """Documented."""\n\n\ndef bare():\n    pass\n')
    (tmp_path / "conf.py").write_text(textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(tmp_path)!r}, {str(DOCS / '_ext')!r}]
        extensions = ["sphinx.ext.autodoc", "docstring_check"]
        """))
    (tmp_path / "index.rst").write_text("Tiny\n====\n\n.. automodule:: tiny\n   :members:\n"
                                        "   :undoc-members:\n")

    def build():
        return subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-E", "-b", "dummy",
                               str(tmp_path), str(tmp_path / "_build")],
                              capture_output=True, text=True, timeout=120)

    done = build()
    assert done.returncode != 0
    assert "tiny.bare: public function without a docstring" in done.stderr
    (tmp_path / "tiny.py").write_text(
        (tmp_path / "tiny.py").read_text().replace("def bare():\n", 'def bare():\n'
                                                   '    """Now documented."""\n'))
    done = build()
    assert done.returncode == 0, done.stderr


def test_the_site_is_built_strictly_with_every_tutorial_executed():
    conf = runpy.run_path(str(DOCS / "conf.py"))
    assert "docstring_check" in conf["extensions"] and "sphinx_click" in conf["extensions"]
    assert conf["nb_execution_mode"] == "force"
    assert conf["nb_execution_raise_on_error"] is True
    assert conf["nb_execution_timeout"] > 0
    recipe = (ROOT / "Makefile").read_text().split("\ndocs:", 1)[1].split("\n\n", 1)[0]
    assert "$(STAMP)" in recipe.splitlines()[0], "make docs must set up .venv like make test"
    assert " -W " in recipe and "check_site.py" in recipe
    check_site = runpy.run_path(str(DOCS / "check_site.py"))
    index = (DOCS / "tutorials" / "index.md").read_text()
    for stem in check_site["TUTORIALS"]:
        text = (DOCS / "tutorials" / f"{stem}.md").read_text()
        assert text.startswith("---\nfile_format: mystnb\n"), stem
        assert "```{code-cell}" in text, stem
        assert f"\n{stem}\n" in index, f"{stem} is not in the tutorials' toctree"


# --- citation, licence, changelog -----------------------------------------------------------
def test_citation_licence_and_changelog_agree_with_pyproject():
    import yaml

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert {"message", "title", "authors"} <= set(cff)
    assert cff["license"] == project["license"] == "BSD-3-Clause"
    assert str(cff["version"]) == project["version"] == atmoscope.__version__
    dois = {ref.get("doi") for ref in cff["references"]}
    assert {"10.21105/joss.06346", "10.3847/1538-4357/ac141d",
            "10.3847/1538-4357/ad71d5"} <= dois  # TelescopeML, Bobcat, Diamondback
    assert any("SpeX Prism Library" in ref["title"] for ref in cff["references"])
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("BSD 3-Clause License") and "LICENSE" in project["license-files"]
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{project['version']}]" in changelog
