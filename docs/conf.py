"""Sphinx configuration of atmoscope's documentation site (``make docs``).

The site is built with warnings as errors (``-W``): a public name without a docstring
(``_ext/docstring_check.py``), a broken cross-reference or a tutorial whose code raises
(MyST-NB executes every tutorial at build time) fails the build.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

from atmoscope import __version__  # noqa: E402

project = "atmoscope"
author = "atmoscope developers"
copyright = "2026, atmoscope developers"  # noqa: A001  (Sphinx's name)
version = release = __version__

extensions = [
    "myst_nb",  # Markdown pages and text notebooks, executed at build time
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # Google-style docstrings (Args, Returns, Raises)
    "sphinx_click",  # the CLI reference, from the click commands themselves
    "docstring_check",  # a public name without a docstring is a warning (an error here)
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
exclude_patterns = ["_build", "jupyter_execute", "**.ipynb_checkpoints"]
root_doc = "index"

# --- MyST and notebooks -------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
# no smart quotes or dashes: "--grid" in a command's help must stay two hyphens
smartquotes = False
myst_heading_anchors = 3
# Execute every tutorial on every build: a tutorial that breaks fails the build.
# (ATMOSCOPE_DOCS_EXECUTE=cache re-runs only changed ones; =off runs none, for drafting.)
nb_execution_mode = os.environ.get("ATMOSCOPE_DOCS_EXECUTE", "force")
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 300  # seconds per cell
nb_execution_allow_errors = False
nb_merge_streams = True
nb_render_image_options = {"width": "100%"}

# --- API reference -------------------------------------------------------------------------
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True
# napoleon escapes a trailing underscore (fitted attributes: grid_, params_) only with this
strip_signature_backslash = True

# --- HTML ----------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"atmoscope {release}"
html_static_path = ["_static"]
html_css_files = ["atmoscope.css"]
html_show_sourcelink = False
html_theme_options = {"navigation_with_keys": True}
