"""Figures and reports: the one home of plotting (matplotlib) in atmoscope.

* :mod:`~atmoscope.reporting.style`: palette, saving, labels and number formats;
* :mod:`~atmoscope.reporting.training_figures`: grid spectra, parity, residuals, loss
  and calibration curves;
* :mod:`~atmoscope.reporting.prediction_figures`: spectrum fit, corner plot, sensitivity;
* :mod:`~atmoscope.reporting.html` and :mod:`~atmoscope.reporting.prediction_report`:
  the self-contained HTML report of one prediction.
"""

from atmoscope.reporting.html import write_html_report
from atmoscope.reporting.prediction_figures import plot_corner, plot_sensitivity, plot_spectrum_fit
from atmoscope.reporting.prediction_report import (
    write_prediction_figures,
    write_prediction_report,
)
from atmoscope.reporting.style import OKABE_ITO
from atmoscope.reporting.training_figures import (
    plot_calibration,
    plot_grid_spectra,
    plot_loss_curves,
    plot_parity,
    plot_residuals,
)

__all__ = ["OKABE_ITO", "plot_calibration", "plot_corner", "plot_grid_spectra",
           "plot_loss_curves", "plot_parity", "plot_residuals", "plot_sensitivity",
           "plot_spectrum_fit", "write_html_report", "write_prediction_figures",
           "write_prediction_report"]
