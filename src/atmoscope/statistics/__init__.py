"""Statistics on model spectra: interpolation between grid nodes, the best-fit grid
spectrum and goodness of fit."""

from atmoscope.statistics.fit_quality import FitQuality, fit_qualities, fit_quality
from atmoscope.statistics.grid_fit import best_grid_fit, best_grid_fits
from atmoscope.statistics.interpolation import GridInterpolator

__all__ = ["FitQuality", "GridInterpolator", "best_grid_fit", "best_grid_fits", "fit_qualities",
           "fit_quality"]
