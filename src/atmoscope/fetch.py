"""Downloading reference data into a local cache, verified, never half-written.

Every download streams into a temporary file in the destination folder while
its SHA-256 (and, for Zenodo, the MD5 the record publishes) is computed; only a
file that verifies is renamed to its final name. Each cached file's SHA-256 is
recorded in ``SHA256SUMS`` beside it, so later calls verify the cache and touch
no network: that is the offline path.

Known datasets:

``telescopeml``
    TelescopeML's reference data (Gharib-Nezhad et al. 2024), Zenodo record
    10183098 (DOI 10.5281/zenodo.10183098): training set
    ``browndwarf_R100_v4_newWL_v3.csv.bz2`` (30,888 spectra), trained models,
    scalers and observed spectra.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from atmoscope.errors import FetchError

__all__ = ["DATASETS", "cache_dir", "fetch", "fetch_url", "fetch_zenodo"]

ZENODO_API = "https://zenodo.org/api"
_CHUNK = 1 << 20
_MANIFEST = "SHA256SUMS"


@dataclass(frozen=True)
class ZenodoDataset:
    record: str
    doi: str
    description: str


#: Known datasets, by the name ``atmoscope fetch NAME`` takes → Zenodo record, DOI and
#: description.
DATASETS = {
    "telescopeml": ZenodoDataset(
        record="10183098",
        doi="10.5281/zenodo.10183098",
        description="TelescopeML reference data: training set (30,888 spectra), models, "
        "scalers, observed spectra",
    ),
}


def cache_dir(override: str | Path | None = None) -> Path:
    """The cache folder: ``override``, else ``$ATMOSCOPE_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/atmoscope`` (``~/.cache/atmoscope``)."""
    if override is not None:
        return Path(override).expanduser()
    if os.environ.get("ATMOSCOPE_CACHE_DIR"):
        return Path(os.environ["ATMOSCOPE_CACHE_DIR"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "atmoscope"


# --- manifest of verified files ------------------------------------------------------
def _read_manifest(folder: Path) -> dict[str, str]:
    path = folder / _MANIFEST
    if not path.is_file():
        return {}
    entries = {}
    for line in path.read_text().splitlines():
        digest, _, name = line.partition("  ")
        if name:
            entries[name] = digest
    return entries


def _record_in_manifest(path: Path, sha256: str) -> None:
    entries = _read_manifest(path.parent)
    entries[path.name] = sha256
    tmp = path.parent / f".{_MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text("".join(f"{d}  {n}\n" for n, d in sorted(entries.items())))
    tmp.replace(path.parent / _MANIFEST)


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# --- one download --------------------------------------------------------------------
def _open(url: str, timeout: float):
    try:
        return urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (user-chosen URL)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url}: server answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"{url}: cannot connect ({reason})") from None


def _content_length(response) -> int | None:
    try:
        return int(response.headers.get("Content-Length") or 0) or None
    except ValueError:  # a malformed header: check nothing rather than fail
        return None


def _download(
    url: str,
    dest: Path,
    *,
    sha256: str | None,
    md5: str | None = None,
    timeout: float,
    progress: bool,
) -> str:
    """Stream ``url`` to ``dest`` through a temporary file; returns the SHA-256."""
    from tqdm.auto import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{os.getpid()}.part"
    sha, mdh = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    try:
        with _open(url, timeout) as response, tmp.open("wb") as out:
            total = _content_length(response)
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name,
                      disable=not progress, leave=False) as bar:
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except OSError as exc:
                        raise FetchError(f"{url}: download interrupted ({exc})") from None
                    if not chunk:
                        break
                    out.write(chunk)
                    sha.update(chunk)
                    mdh.update(chunk)
                    bar.update(len(chunk))
            if total is not None and out.tell() != total:
                raise FetchError(f"{url}: download truncated ({out.tell()} of {total} bytes)")
        got = sha.hexdigest()
        if sha256 is not None and got != sha256.lower():
            raise FetchError(
                f"{url}: SHA-256 mismatch (expected {sha256.lower()}, got {got}); "
                "nothing was saved"
            )
        if md5 is not None and mdh.hexdigest() != md5.lower():
            raise FetchError(
                f"{url}: MD5 mismatch with the published checksum (expected {md5.lower()}, "
                f"got {mdh.hexdigest()}); nothing was saved"
            )
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    _record_in_manifest(dest, got)
    return got


def _cached(dest: Path, sha256: str | None) -> bool:
    """Whether ``dest`` exists and matches the expected or recorded SHA-256."""
    if not dest.is_file():
        return False
    expected = sha256 or _read_manifest(dest.parent).get(dest.name)
    return expected is not None and _sha256_of(dest) == expected.lower()


def fetch_url(
    url: str,
    *,
    sha256: str | None = None,
    filename: str | None = None,
    cache: str | Path | None = None,
    force: bool = False,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Download any URL into the cache (``<cache>/urls/<name>``).

    Args:
        url: ``http(s)://`` or ``file://`` address.
        sha256: expected SHA-256; a mismatch raises and leaves nothing behind.
            Without it, the digest is computed, recorded and checked on later
            calls (trust on first use).
        filename: name in the cache (default: the last part of the URL path).
        cache: cache folder (default :func:`cache_dir`).
        force: download again even when a verified copy is cached.

    Returns:
        Path of the verified local file.
    """
    name = filename or Path(urllib.parse.urlparse(url).path).name
    if not name:
        raise FetchError(f"{url}: cannot tell a file name from the URL; pass a file name")
    dest = cache_dir(cache) / "urls" / name
    if not force and _cached(dest, sha256):
        return dest
    _download(url, dest, sha256=sha256, timeout=timeout, progress=progress)
    return dest


def _extract(archive: Path) -> Path | None:
    """Unpack a zip or tar archive beside itself (into ``<name>.d``); None if not one.

    It is unpacked into a staging folder renamed at the end, so a corrupt
    archive leaves nothing behind.
    """
    target = archive.with_name(archive.name + ".d")
    staging = archive.with_name(f".{archive.name}.{os.getpid()}.extract")
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    resolved = (target / member).resolve()
                    if not resolved.is_relative_to(target.resolve()):
                        raise FetchError(f"{archive}: unsafe path {member!r} in archive")
                zf.extractall(staging)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                tf.extractall(staging, filter="data")  # rejects absolute and '..' paths
        else:
            return None
        shutil.rmtree(target, ignore_errors=True)
        staging.replace(target)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise FetchError(f"{archive}: corrupt archive ({exc})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already after a success
    return target


def _record_listing(folder: Path, record: str, api: str | None, force: bool,
                    timeout: float):
    """The record's description: cached in ``record.json``, else fetched and cached."""
    listing = folder / "record.json"
    if not force and listing.is_file():
        try:
            return json.loads(listing.read_text())
        except (ValueError, OSError) as exc:
            raise FetchError(
                f"{listing}: corrupt cached record description ({exc}); fetch again with force"
            ) from None
    base = (api or os.environ.get("ATMOSCOPE_ZENODO_API") or ZENODO_API).rstrip("/")
    url = f"{base}/records/{record}"
    with _open(url, timeout) as response:
        try:
            meta = json.loads(response.read())
        except (ValueError, OSError) as exc:
            raise FetchError(f"{url}: not a Zenodo record description ({exc})") from None
    folder.mkdir(parents=True, exist_ok=True)
    tmp = listing.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(meta))
    tmp.replace(listing)
    return meta


def _record_files(record: str, meta) -> dict[str, dict]:
    """File name → ``{"url", "checksum"}`` from a Zenodo record description."""
    try:
        return {
            f["key"]: {"url": f["links"]["self"], "checksum": f.get("checksum", "")}
            for f in meta.get("files", [])
        }
    except KeyError as exc:
        raise FetchError(f"Zenodo record {record}: a file entry lacks {exc}") from None
    except (AttributeError, TypeError):
        raise FetchError(f"Zenodo record {record}: not a record description") from None


def fetch_zenodo(
    record: str,
    *,
    files: list[str] | None = None,
    sha256: dict[str, str] | None = None,
    cache: str | Path | None = None,
    force: bool = False,
    extract: bool = True,
    api: str | None = None,
    timeout: float = 60.0,
    progress: bool = True,
) -> list[Path]:
    """Download the files of a Zenodo record into ``<cache>/zenodo-<record>/``.

    Each file is checked against the size and MD5 checksum the record
    publishes, and its SHA-256 is recorded; a complete, verified cache is used
    without contacting Zenodo at all.

    Args:
        record: the Zenodo record id (e.g. ``"10183098"``).
        files: file names (keys) to fetch; default all.
        sha256: expected SHA-256 per file name, checked besides the MD5.
        extract: unpack zip/tar archives into ``<name>.d`` folders.
        api: Zenodo API base URL (default ``$ATMOSCOPE_ZENODO_API`` or zenodo.org).

    Returns:
        Paths of the fetched files (the extracted folder for archives).
    """
    folder = cache_dir(cache) / f"zenodo-{record}"
    entries = _record_files(record, _record_listing(folder, record, api, force, timeout))
    if not entries:
        raise FetchError(f"Zenodo record {record} lists no files")
    wanted = files or sorted(entries)
    unknown = [f for f in wanted if f not in entries]
    if unknown:
        raise FetchError(
            f"Zenodo record {record} has no file(s) {unknown}; it has {sorted(entries)}"
        )

    out = []
    for key in wanted:
        entry = entries[key]
        dest = folder / Path(key).name
        algo, _, digest = str(entry.get("checksum", "")).partition(":")
        expected = (sha256 or {}).get(key)
        if force or not _cached(dest, expected):
            _download(entry["url"], dest, sha256=expected,
                      md5=digest if algo == "md5" else None, timeout=timeout,
                      progress=progress)
        unpacked = dest.with_name(dest.name + ".d")
        if extract and (force or not unpacked.is_dir()):
            unpacked = _extract(dest)
        out.append(unpacked if extract and unpacked is not None and unpacked.is_dir() else dest)
    return out


def fetch(
    source: str = "telescopeml",
    *,
    files: list[str] | None = None,
    sha256: str | None = None,
    **kwargs,
) -> list[Path]:
    """Fetch a known dataset by name (see :data:`DATASETS`) or any URL.

    Args:
        source: a dataset name or an ``http(s)://`` / ``file://`` URL.
        files: for a dataset, the file names to fetch (default all).
        sha256: expected SHA-256 of the URL, or of the one file named in ``files``.
        **kwargs: ``cache``, ``force``, ``timeout``, ``progress`` (and ``extract``,
            ``api`` for datasets).

    Returns:
        Paths of the fetched, verified files.
    """
    if source in DATASETS:
        if sha256 is not None and (files is None or len(files) != 1):
            raise FetchError("--sha256 with a dataset needs exactly one file named with --file")
        pinned = {files[0]: sha256} if sha256 is not None else None
        return fetch_zenodo(DATASETS[source].record, files=files, sha256=pinned, **kwargs)
    scheme = urllib.parse.urlparse(source).scheme
    if scheme in ("http", "https", "file"):
        if files:
            raise FetchError("--file selects files of a dataset, not of a URL")
        return [fetch_url(source, sha256=sha256, **kwargs)]
    raise FetchError(
        f"unknown dataset {source!r}: give a URL or one of {', '.join(sorted(DATASETS))}"
    )
