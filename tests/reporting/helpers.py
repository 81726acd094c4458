"""Made-up inputs for the figure and report tests: predictions, spectra, samples, histories."""

import numpy as np

from atmoscope.reporting import plot_spectrum_fit

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NAMES = ["temperature", "log g", "[M/H]"]
UNITS = ["K", "dex", "dex"]


def _spectrum(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    wl = np.linspace(0.9, 2.5, n)
    model = 1e-15 * (np.exp(-0.5 * ((wl - 1.25) / 0.12) ** 2)
                     + 0.6 * np.exp(-0.5 * ((wl - 1.6) / 0.1) ** 2)
                     + 0.3 * np.exp(-0.5 * ((wl - 2.1) / 0.12) ** 2) + 0.05)
    error = 0.05 * model + 2e-18
    flux = model + rng.normal(size=n) * error
    spread = 0.04 * model
    band68 = np.vstack([model - spread, model + spread])
    band95 = np.vstack([model - 2 * spread, model + 2 * spread])
    mask = np.zeros(n, dtype=bool)
    mask[(wl > 1.35) & (wl < 1.42)] = True
    return wl, flux, error, model, band68, band95, (flux - model) / error, mask


def _samples(n: int = 3000, seed: int = 1):
    rng = np.random.default_rng(seed)
    cov = np.array([[40.0**2, 0.6 * 40 * 0.12, 0.0],
                    [0.6 * 40 * 0.12, 0.12**2, -0.3 * 0.12 * 0.05],
                    [0.0, -0.3 * 0.12 * 0.05, 0.05**2]])
    return rng.multivariate_normal([1234.4, 4.567, -0.254], cov, size=n)


def _sensitivity(n: int = 300):
    wl = np.linspace(0.9, 2.5, n)
    sens = np.vstack([np.exp(-0.5 * ((wl - c) / 0.08) ** 2) * s
                      for c, s in ((1.25, 3.0), (1.6, 0.02), (2.2, 0.01))])
    return wl, sens


def _spectrum_figure(path=None, n=120):
    wl, flux, err, model, b68, b95, res, mask = _spectrum(n)
    return plot_spectrum_fit(wl, flux, err, model, b68, b95, res,
                             flux_label="F$_\\lambda$ [W m$^{-2}$ µm$^{-1}$]", mask=mask,
                             title="test fit", path=path)


EPOCHS = np.arange(40)
HISTORY = {
    "train_loss": list(np.geomspace(1.0, 0.02, 40)),
    "val_loss": list(0.05 + 1.2 * np.exp(-EPOCHS / 5) + 0.003 * (EPOCHS - 18).clip(0)),
    "lr": list(1e-3 * 0.5 ** (np.arange(40) // 10)),
}
