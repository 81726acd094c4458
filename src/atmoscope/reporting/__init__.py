"""Reports of a fit: figures (spectrum fit, corner plot, sensitivity) and a self-contained HTML page."""

from atmoscope.reporting.figures import plot_corner, plot_sensitivity, plot_spectrum_fit
from atmoscope.reporting.html import write_html_report

__all__ = ["plot_corner", "plot_sensitivity", "plot_spectrum_fit", "write_html_report"]
