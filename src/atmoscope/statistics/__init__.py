"""Statistics on model spectra: interpolation between grid nodes and goodness of fit."""

from atmoscope.statistics.fit_quality import FitQuality, fit_quality
from atmoscope.statistics.interpolation import GridInterpolator

__all__ = ["FitQuality", "GridInterpolator", "fit_quality"]
