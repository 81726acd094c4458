"""TelescopeML's training-grid definition: its targets, wavelengths and parameter nodes.

Gharib-Nezhad et al. (2024), TelescopeML, training set on Zenodo (DOI 10.5281/zenodo.10183098):
30,888 Sonora-Bobcat spectra, full factorial over the nodes below, on 104 wavelengths at R ~ 100.
"""

import numpy as np

__all__ = ["TELESCOPEML_FLUX_UNIT", "TELESCOPEML_NODES", "TELESCOPEML_TARGETS",
           "is_telescopeml_layout", "telescopeml_wavelengths"]

#: TelescopeML's training flux: top-of-atmosphere F_nu (its file states no unit).
TELESCOPEML_FLUX_UNIT = "erg / (s cm2 Hz)"

#: Target columns, in the order of TelescopeML's training file.
TELESCOPEML_TARGETS = ("gravity", "temperature", "c_o_ratio", "metallicity")

# The 104 wavelengths (µm) of the training file, descending, as published to 9 decimals.
# They follow 2.511960199 µm · exp(-0.01000008 i) to within rounding.
_WAVELENGTHS_UM = (
    2.511960199, 2.486965570, 2.462219644, 2.437719946, 2.413464026, 2.389449459, 2.365673842,
    2.342134799, 2.318829975, 2.295757040, 2.272913687, 2.250297630, 2.227906609, 2.205738384,
    2.183790738, 2.162061477, 2.140548428, 2.119249438, 2.098162379, 2.077285142, 2.056615638,
    2.036151800, 2.015891584, 1.995832961, 1.975973926, 1.956312494, 1.936846698, 1.917574592,
    1.898494248, 1.879603758, 1.860901233, 1.842384803, 1.824052615, 1.805902838, 1.787933656,
    1.770143271, 1.752529905, 1.735091797, 1.717827202, 1.700734394, 1.683811663, 1.667057318,
    1.650469683, 1.634047100, 1.617787924, 1.601690532, 1.585753313, 1.569974673, 1.554353034,
    1.538886835, 1.523574528, 1.508414583, 1.493405482, 1.478545726, 1.463833829, 1.449268318,
    1.434847738, 1.420570646, 1.406435614, 1.392441230, 1.378586094, 1.364868819, 1.351288035,
    1.337842383, 1.324530518, 1.311351110, 1.298302840, 1.285384404, 1.272594509, 1.259931878,
    1.247395242, 1.234983349, 1.222694957, 1.210528838, 1.198483775, 1.186558564, 1.174752011,
    1.163062936, 1.151490171, 1.140032557, 1.128688949, 1.117458214, 1.106339226, 1.095330876,
    1.084432061, 1.073641692, 1.062958690, 1.052381987, 1.041910525, 1.031543256, 1.021279144,
    1.011117162, 1.001056295, 0.991095536, 0.981233889, 0.971470367, 0.961803995, 0.952233806,
    0.942758843, 0.933378158, 0.924090813, 0.914895880, 0.905792438, 0.896779578
)

#: Grid nodes of each target (log g in cgs dex, Teff in K, C/O relative to solar, [M/H] in dex).
TELESCOPEML_NODES = {
    "gravity": tuple(np.round(np.arange(3.0, 5.5001, 0.25), 2).tolist()),
    "temperature": tuple(
        list(range(200, 601, 25)) + list(range(650, 1001, 50)) + list(range(1100, 2401, 100))
    ),
    "c_o_ratio": (0.25, 0.5, 1.0, 1.5, 2.0, 2.5),
    "metallicity": (-1.0, -0.7, -0.5, -0.3, 0.0, 0.3, 0.5, 0.7, 1.0, 1.3, 1.7, 2.0),
}


def telescopeml_wavelengths(descending: bool = True) -> np.ndarray:
    """TelescopeML's 104 wavelengths in µm (descending, as in its file, by default)."""
    wavelength = np.array(_WAVELENGTHS_UM)
    return wavelength if descending else wavelength[::-1].copy()


def is_telescopeml_layout(wavelength_um: np.ndarray, parameters) -> bool:
    """Whether a grid has TelescopeML's 104 wavelengths (to 0.1 %, in µm) and its four
    parameter columns, i.e. is laid out as its training file."""
    wavelength = np.sort(np.asarray(wavelength_um, dtype=np.float64))
    return (wavelength.shape == (len(_WAVELENGTHS_UM),)
            and set(TELESCOPEML_TARGETS) <= set(parameters)
            and bool(np.allclose(wavelength, telescopeml_wavelengths(False), rtol=1e-3)))
