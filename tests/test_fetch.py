"""Downloads against an HTTP server started on 127.0.0.1: success, bad checksum, server error."""

import hashlib
import http.server
import io
import json
import threading
import zipfile

import pytest

from atmoscope.cli import main
from atmoscope.errors import FetchError
from atmoscope.fetch import cache_dir, fetch, fetch_url, fetch_zenodo

PAYLOAD = b"gravity,temperature,2.0\n5.0,800,1e-8\n" * 2000


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("reference_data/training_datasets/grid.csv", PAYLOAD)
    return buf.getvalue()


ARCHIVE = _zip_bytes()


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        route = self.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        status, body = route
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    base = f"http://127.0.0.1:{httpd.server_port}"
    record = {"files": [
        {"key": "grid.csv", "size": len(PAYLOAD),
         "checksum": "md5:" + hashlib.md5(PAYLOAD).hexdigest(),
         "links": {"self": f"{base}/files/grid.csv"}},
        {"key": "reference_data.zip", "size": len(ARCHIVE),
         "checksum": "md5:" + hashlib.md5(ARCHIVE).hexdigest(),
         "links": {"self": f"{base}/files/reference_data.zip"}},
        {"key": "tampered.csv", "size": len(PAYLOAD),
         "checksum": "md5:" + "0" * 32,
         "links": {"self": f"{base}/files/grid.csv"}},
    ]}
    _Handler.routes = {
        "/files/grid.csv": (200, PAYLOAD),
        "/files/reference_data.zip": (200, ARCHIVE),
        "/broken": (500, b"internal error"),
        "/api/records/123": (200, json.dumps(record).encode()),
    }
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield base
    httpd.shutdown()
    httpd.server_close()


SHA = hashlib.sha256(PAYLOAD).hexdigest()


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_good_download_is_verified_and_cached(server, tmp_path):
    path = fetch_url(f"{server}/files/grid.csv", sha256=SHA, cache=tmp_path, progress=False)
    assert path == tmp_path / "urls" / "grid.csv"
    assert path.read_bytes() == PAYLOAD
    assert _files(tmp_path) == ["urls/SHA256SUMS", "urls/grid.csv"]
    assert (tmp_path / "urls" / "SHA256SUMS").read_text() == f"{SHA}  grid.csv\n"


def test_verified_cache_needs_no_network(server, tmp_path):
    url = f"{server}/files/grid.csv"
    fetch_url(url, cache=tmp_path, progress=False)  # no digest given: recorded on first use
    _Handler.routes.clear()  # the "server" now answers 404 to everything
    assert fetch_url(url, cache=tmp_path, progress=False).read_bytes() == PAYLOAD
    assert fetch_url(url, sha256=SHA, cache=tmp_path, progress=False).read_bytes() == PAYLOAD


def test_corrupt_cached_file_is_downloaded_again(server, tmp_path):
    path = fetch_url(f"{server}/files/grid.csv", cache=tmp_path, progress=False)
    path.write_bytes(b"garbage")
    assert fetch_url(f"{server}/files/grid.csv", cache=tmp_path,
                     progress=False).read_bytes() == PAYLOAD


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    with pytest.raises(FetchError, match=f"SHA-256 mismatch \\(expected {'a' * 64}, got {SHA}\\)"):
        fetch_url(f"{server}/files/grid.csv", sha256="a" * 64, cache=tmp_path, progress=False)
    assert _files(tmp_path) == []


@pytest.mark.parametrize("path, message", [("/broken", "HTTP 500"), ("/missing", "HTTP 404")])
def test_server_error_leaves_nothing(server, tmp_path, path, message):
    with pytest.raises(FetchError, match=message):
        fetch_url(f"{server}{path}", cache=tmp_path, progress=False)
    assert _files(tmp_path) == []


def test_unreachable_server(tmp_path):
    with pytest.raises(FetchError, match="cannot connect"):
        fetch_url("http://127.0.0.1:9/grid.csv", cache=tmp_path, progress=False, timeout=5)


def test_zenodo_record_with_md5_and_archive(server, tmp_path):
    paths = fetch_zenodo("123", files=["grid.csv", "reference_data.zip"], cache=tmp_path,
                         api=f"{server}/api", progress=False)
    folder = tmp_path / "zenodo-123"
    assert paths == [folder / "grid.csv", folder / "reference_data.zip.d"]
    extracted = (folder / "reference_data.zip.d" / "reference_data" / "training_datasets"
                 / "grid.csv")
    assert extracted.read_bytes() == PAYLOAD
    sums = (folder / "SHA256SUMS").read_text()
    assert f"{SHA}  grid.csv" in sums
    # offline afterwards: the record listing and the files are cached and verified
    _Handler.routes.clear()
    assert fetch_zenodo("123", files=["grid.csv"], cache=tmp_path, api=f"{server}/api",
                        progress=False) == [folder / "grid.csv"]


def test_zenodo_published_checksum_mismatch(server, tmp_path):
    with pytest.raises(FetchError, match="MD5 mismatch with the published checksum"):
        fetch_zenodo("123", files=["tampered.csv"], cache=tmp_path, api=f"{server}/api",
                     progress=False)
    assert not (tmp_path / "zenodo-123" / "tampered.csv").exists()
    assert not list((tmp_path / "zenodo-123").glob(".*part"))


def test_zenodo_unknown_file(server, tmp_path):
    with pytest.raises(FetchError, match=r"has no file\(s\) \['nope'\]"):
        fetch_zenodo("123", files=["nope"], cache=tmp_path, api=f"{server}/api", progress=False)


def test_corrupt_or_odd_record_descriptions(tmp_path):
    folder = tmp_path / "zenodo-7"
    folder.mkdir()
    listing = folder / "record.json"
    for text, message in [
        ("{not json", r"record\.json: corrupt cached record description .*fetch again with force"),
        ("[1, 2]", "Zenodo record 7: not a record description"),
        ('{"files": [{"key": "a.csv"}]}', "Zenodo record 7: a file entry lacks 'links'"),
    ]:
        listing.write_text(text)
        with pytest.raises(FetchError, match=message):
            fetch_zenodo("7", cache=tmp_path, progress=False)


def test_corrupt_archive_leaves_nothing_extracted(server, tmp_path):
    broken = bytearray(ARCHIVE)
    broken[60:80] = b"\xff" * 20  # inside the compressed member: the CRC check fails
    _Handler.routes["/files/reference_data.zip"] = (200, bytes(broken))
    listing = json.loads(_Handler.routes["/api/records/123"][1])
    listing["files"][1]["checksum"] = "md5:" + hashlib.md5(bytes(broken)).hexdigest()
    _Handler.routes["/api/records/123"] = (200, json.dumps(listing).encode())
    with pytest.raises(FetchError, match=r"reference_data\.zip: corrupt archive"):
        fetch_zenodo("123", files=["reference_data.zip"], cache=tmp_path,
                     api=f"{server}/api", progress=False)
    folder = tmp_path / "zenodo-123"
    assert sorted(p.name for p in folder.iterdir()) == [
        "SHA256SUMS", "record.json", "reference_data.zip"
    ]


def test_known_dataset_and_bad_source(server, tmp_path, monkeypatch):
    monkeypatch.setattr("atmoscope.fetch.DATASETS",
                        {"demo": type("D", (), {"record": "123"})()})
    paths = fetch("demo", files=["grid.csv"], sha256=SHA, cache=tmp_path,
                  api=f"{server}/api", progress=False)
    assert paths[0].read_bytes() == PAYLOAD
    with pytest.raises(FetchError, match="unknown dataset 'nonsense'"):
        fetch("nonsense", cache=tmp_path)


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ATMOSCOPE_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("ATMOSCOPE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "atmoscope"


def test_cli_fetch(server, tmp_path, capsys):
    url = f"{server}/files/grid.csv"
    assert main(["fetch", url, "--sha256", SHA, "--cache-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "urls" / "grid.csv")
    assert main(["fetch", f"{server}/broken", "--cache-dir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "HTTP 500" in err[0]
    assert main(["fetch", url, "--sha256", "b" * 64, "--cache-dir", str(tmp_path / "y")]) == 2
    assert "SHA-256 mismatch" in capsys.readouterr().err
    assert not (tmp_path / "y" / "urls" / "grid.csv").exists()
    assert main(["fetch", url, "--sha256", "xyz"]) == 2
    assert "not a SHA-256 digest" in capsys.readouterr().err
