"""A self-contained HTML report of one fit: one file, no external resources.

Figures are embedded as base64 PNG ``data:`` URIs, the CSS is inline and every
piece of text is escaped with :func:`html.escape`, so the file can be mailed,
archived or opened offline.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
import numbers
from collections.abc import Iterable, Mapping
from pathlib import Path

from atmoscope._atomic import atomic_path
from atmoscope.errors import ConfigError
from atmoscope.reporting.style import MINUS

__all__ = ["write_html_report"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: Display names for well-known fit-quality keys.
_QUALITY_LABELS = {
    "chi2": "χ²",
    "dof": "degrees of freedom",
    "reduced_chi2": "reduced χ²",
    "p_value": "p-value",
    "scale": "flux scale",
    "implied_radius": "implied radius",
    "radius": "radius",
    "n_pixels": "pixels used",
}

_TEMPERATURE_NAMES = {"temperature", "teff", "t_eff", "effective temperature"}

_CSS = """
:root { --ink: #1b1f24; --muted: #5b6570; --line: #d8dde3; --bg: #ffffff;
        --panel: #f6f8fa; --accent: #0072B2; --warn-bg: #fff6e0; --warn-line: #E69F00; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans",
             "Liberation Sans", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 40px; }
header { border-bottom: 3px solid var(--accent); margin-bottom: 18px; padding-bottom: 8px; }
h1 { font-size: 1.7rem; margin: 0 0 4px; line-height: 1.25; }
h2 { font-size: 1.2rem; margin: 28px 0 10px; padding-bottom: 4px;
     border-bottom: 1px solid var(--line); }
.subtitle { color: var(--muted); font-size: 0.9rem; margin: 0; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.93rem; }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--line); text-align: right;
         white-space: nowrap; }
th { background: var(--panel); font-weight: 600; }
td.name, th.name { text-align: left; }
td.unit { text-align: left; color: var(--muted); }
td.num { font-variant-numeric: tabular-nums; }
td.text { white-space: normal; overflow-wrap: anywhere; text-align: left; min-width: 8em; }
td.median { font-weight: 700; }
tbody tr:hover { background: #f0f6fb; }
.row { display: flex; flex-wrap: wrap; gap: 28px; align-items: flex-start; }
.row > section { flex: 1 1 300px; min-width: 0; }
.row > section h2 { margin-top: 8px; }
.warnings { background: var(--warn-bg); border-left: 5px solid var(--warn-line);
            padding: 10px 16px; margin: 8px 0 4px; border-radius: 4px; }
.warnings h2 { border: 0; margin: 0 0 4px; font-size: 1.05rem; }
.warnings.flags { border-left-color: #c0392b; }
.warnings ul { margin: 0; padding-left: 20px; }
figure { margin: 0 0 26px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line);
             border-radius: 4px; background: #fff; }
figcaption, .caption { color: var(--muted); font-size: 0.9rem; margin: 4px 0 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 0;
     font-size: 0.92rem; }
dt { font-weight: 600; color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
dd dl { grid-template-columns: max-content 1fr; }
code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
       font-size: 0.88em; }
footer { margin-top: 30px; color: var(--muted); font-size: 0.82rem;
         border-top: 1px solid var(--line); padding-top: 8px; }
@media print { main { max-width: none; } figure { break-inside: avoid; } }
"""

# Counts the decoded images once everything has loaded, so a headless browser can
# check that every embedded figure rendered.
_SCRIPT = """
window.addEventListener("load", function () {
  var ok = 0, imgs = document.images;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; }
  }
  document.body.dataset.imagesOk = String(ok);
});
"""


# --------------------------------------------------------------------------- #
# Number formatting
# --------------------------------------------------------------------------- #

def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _fixed(value, decimals: int) -> str:
    """``value`` to ``decimals`` places with a typographic minus; '—' when not finite."""
    if value is None or not _is_number(value) or not math.isfinite(float(value)):
        return "—"
    text = f"{float(value):.{decimals}f}"
    if float(text) == 0:
        text = text.lstrip("-")
    return text.replace("-", MINUS)


def _general(value) -> str:
    """A fit-quality or count value: integers as such, floats to 4 significant digits."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}".replace("-", MINUS)
    if _is_number(value):
        v = float(value)
        if not math.isfinite(v):
            return "—" if math.isnan(v) else ("∞" if v > 0 else MINUS + "∞")
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e6):
            mantissa, exponent = f"{v:.3e}".split("e")
            return f"{mantissa}e{int(exponent)}".replace("-", MINUS)
        return f"{v:.4g}".replace("-", MINUS)
    return str(value)


def _parameter_decimals(row: Mapping) -> int:
    """0 for temperatures (K); otherwise 2 or 3, from the size of the std."""
    name = str(row.get("name", "")).strip().lower()
    unit = str(row.get("unit", "") or "").strip()
    if name in _TEMPERATURE_NAMES or unit == "K":
        return 0
    std = row.get("std")
    if _is_number(std) and math.isfinite(float(std)) and float(std) > 0:
        return 3 if float(std) < 0.1 else 2
    return 3


# --------------------------------------------------------------------------- #
# Building blocks
# --------------------------------------------------------------------------- #

def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _png_bytes(figure) -> bytes:
    """PNG bytes of a path to a PNG file or of a matplotlib Figure (rendered in memory)."""
    if hasattr(figure, "savefig"):
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=110)
        return buffer.getvalue()
    path = Path(figure)
    data = path.read_bytes()
    if data[:8] != _PNG_SIGNATURE:
        raise ConfigError(f"figure {str(path)!r} is not a PNG file")
    return data


def _parameter_table(parameters: Iterable[Mapping], sample_label: str) -> str:
    head = ("<tr><th class='name'>parameter</th><th class='name'>unit</th>"
            "<th>median</th><th>mean</th><th>std</th>"
            "<th>2.5 %</th><th>16 %</th><th>84 %</th><th>97.5 %</th></tr>")
    rows = []
    for row in parameters:
        d = _parameter_decimals(row)
        cells = [f"<td class='name'>{_e(row.get('name', ''))}</td>",
                 f"<td class='unit'>{_e(row.get('unit', '') or '')}</td>",
                 f"<td class='num median'>{_fixed(row.get('p50'), d)}</td>"]
        for key in ("mean", "std", "p2_5", "p16", "p84", "p97_5"):
            cells.append(f"<td class='num'>{_fixed(row.get(key), d)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<div class='table-wrap'><table id='parameters'><thead>{head}</thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>"
            "<p class='caption'>Median, mean, standard deviation and percentiles of the "
            f"{_e(sample_label)}; 16–84 % is the central 68 % interval, 2.5–97.5 % the 95 % "
            "one.</p>")


def _key_value_table(values: Mapping, table_id: str, labels: Mapping | None = None) -> str:
    labels = labels or {}
    rows = "".join(
        f"<tr><td class='name'>{_e(labels.get(key, str(key).replace('_', ' ')))}</td>"
        f"<td class='{'text' if isinstance(value, str | Path) else 'num'}'>"
        f"{_e(_general(value))}</td></tr>"
        for key, value in values.items())
    return f"<div class='table-wrap'><table id='{table_id}'><tbody>{rows}</tbody></table></div>"


def _definition_list(values: Mapping) -> str:
    items = []
    for key, value in values.items():
        if isinstance(value, Mapping):
            body = _definition_list(value)
        elif isinstance(value, (list, tuple, set)):
            body = _e(", ".join(str(v) for v in value))
        elif isinstance(value, (str, Path)) or value is None:
            body = f"<code>{_e(value if value is not None else '—')}</code>"
        else:
            body = _e(_general(value))
        items.append(f"<dt>{_e(str(key).replace('_', ' '))}</dt><dd>{body}</dd>")
    return f"<dl>{''.join(items)}</dl>"


def _figures(figures: Mapping) -> str:
    parts = []
    for i, (caption, figure) in enumerate(figures.items(), start=1):
        data = base64.b64encode(_png_bytes(figure)).decode("ascii")
        parts.append(
            f"<figure id='figure-{i}'><img src='data:image/png;base64,{data}' "
            f"alt='{_e(caption)}'><figcaption>Figure {i}. {_e(caption)}</figcaption></figure>")
    return "".join(parts)


# --------------------------------------------------------------------------- #
# The report
# --------------------------------------------------------------------------- #

def write_html_report(path, *, title: str, parameters, fit_quality: Mapping, figures: Mapping,
                      provenance: Mapping, cleaning: Mapping | None = None,
                      notes: Iterable[str] = (), sample_label: str = "samples",
                      flags: Mapping[str, str] | None = None) -> Path:
    """Write one self-contained HTML report and return its path.

    Args:
        path: the ``.html`` file to write (parent folders are created).
        title: the report title.
        parameters: one dict per parameter with keys ``name``, ``unit``, ``mean``,
            ``std``, ``p2_5``, ``p16``, ``p50``, ``p84``, ``p97_5``; shown as a table
            (temperatures in K to 0 decimals, others to 2 or 3).
        fit_quality: e.g. ``chi2``, ``dof``, ``reduced_chi2``, ``p_value``, ``scale``,
            ``implied_radius``; shown as a small table.
        figures: caption → path of a PNG file, or a matplotlib Figure (rendered to
            PNG in memory); embedded as base64 ``data:`` URIs.
        provenance: e.g. bundle path, model, grid hash, versions (nested dicts are
            shown as nested lists); shown as a definition list.
        cleaning: counts from cleaning the spectrum (e.g. pixels masked), or None.
        notes: remarks (what was assumed or done), shown in a box near the top.
        flags: guard flags raised, code → meaning, shown first in a warning box.
        sample_label: what the statistics summarise ("posterior samples",
            "Monte-Carlo draws", ...), for the table's caption.

    Returns:
        The path written.
    """
    from atmoscope._version import __version__

    path = Path(path)
    notes = [str(n) for n in notes]
    generated = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")

    body = [f"<header><h1>{_e(title)}</h1>"
            f"<p class='subtitle'>atmoscope report · generated {_e(generated)}</p></header>"]
    if flags:
        items = "".join(f"<li><code>{_e(code)}</code>: {_e(text)}</li>"
                        for code, text in flags.items())
        body.append(f"<section class='warnings flags' role='alert'><h2>Warnings: do not "
                    f"take this answer as it stands</h2><ul>{items}</ul></section>")
    if notes:
        items = "".join(f"<li>{_e(n)}</li>" for n in notes)
        body.append(f"<section class='warnings' role='note'><h2>Notes</h2>"
                    f"<ul>{items}</ul></section>")
    body.append("<section><h2>Parameters</h2>" + _parameter_table(parameters, sample_label)
                + "</section>")
    side = ["<section><h2>Fit quality</h2>"
            + _key_value_table(fit_quality, "fit-quality", _QUALITY_LABELS) + "</section>"]
    if cleaning:
        side.append("<section><h2>Spectrum cleaning</h2>"
                    + _key_value_table(cleaning, "cleaning") + "</section>")
    body.append("<div class='row'>" + "".join(side) + "</div>")
    if figures:
        body.append("<section><h2>Figures</h2>" + _figures(figures) + "</section>")
    body.append("<section><h2>Provenance</h2>" + _definition_list(provenance) + "</section>")
    body.append(f"<footer>Written by atmoscope {_e(__version__)}. This file is self-contained: "
                "figures are embedded and nothing is loaded from the network.</footer>")

    document = (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n"
        f"<script>{_SCRIPT}</script>\n</head>\n"
        f"<body>\n<main>\n{chr(10).join(body)}\n</main>\n</body>\n</html>\n")
    with atomic_path(path) as tmp:
        tmp.write_text(document, encoding="utf-8")
    return path
