"""The hub (zoo.hub, issue 12): publish -> serve -> download, verified, against a real HTTP server
on 127.0.0.1 that each test starts (a thread, stopped at the end or after 120 s at the latest).

Failure modes: bad hash, a transfer cut short (retried, then refused), a truncated file on the
server, 404, the server gone mid-file, archives with ../, absolute, link or unlisted members,
offline mode; and the end-to-end case: a model deleted from a copy of exported/ ($ZOO_EXPORTED)
is fetched, verified and used -- also from a non-editable `pip install`.
"""
import hashlib
import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import types

import numpy as np
import pytest

import zoo
from zoo import hub
from zoo.errors import (ArtifactError, ChecksumMismatchError, DownloadError, OfflineError,
                        UnsafeArchiveError)
from zoo.predictor import exported_dir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "autoclassmk"   # the smallest committed model
#: seconds after which a test's HTTP server stops itself at the latest (never outlives a hung test)
SERVER_LIFETIME_S = 120.0


# ----------------------------------------------------------------------------- the server
class Server:
    """Files of ``root`` at ``http://127.0.0.1:<port>/<file>``; ``modes[file]`` misbehaves:
    ``"404"``, ``"cut"`` (half the bytes under the full Content-Length, then the connection
    closes), ``"cut_once"`` (the first request only), ``"die"`` (half the bytes, then the whole
    server goes away)."""

    def __init__(self, root, lifetime=SERVER_LIFETIME_S):
        self.root, self.modes, self.requests, self.dead = str(root), {}, [], False
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = 10

            def log_message(self, *args):
                pass

            def do_GET(self):
                if outer.dead:                    # going away: hang up without an answer
                    self.close_connection = True
                    return
                name = self.path.lstrip("/").split("?")[0]
                outer.requests.append(name)
                mode = outer.modes.get(name, "ok")
                path = os.path.join(outer.root, name)
                if mode == "404" or "/" in name or not os.path.isfile(path):
                    self.send_error(404)
                    return
                with open(path, "rb") as fh:
                    data = fh.read()
                cut = mode in ("cut", "die") or (mode == "cut_once" and outer.requests.count(name) == 1)
                self.send_response(200)
                self.send_header("Content-Type", "application/gzip")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[:len(data) // 2] if cut else data)
                self.wfile.flush()
                if cut:
                    self.close_connection = True
                    if mode == "die":
                        outer.dead = True
                        outer.stop()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        self._timer = threading.Timer(lifetime, self.stop)   # bounded: never outlives a hung test
        self._timer.daemon = True
        self._timer.start()
        self._stopped = False

    def stop(self):
        if self._stopped:
            return
        self._stopped = True
        self._timer.cancel()

        def down():
            self.httpd.shutdown()
            self.httpd.server_close()
        if threading.current_thread() is threading.main_thread():
            down()
        else:   # from a handler or the timer: do not wait on the server's own threads
            threading.Thread(target=down, daemon=True).start()


@pytest.fixture
def dist(tmp_path):
    d = tmp_path / "dist"
    d.mkdir()
    return d


@pytest.fixture
def server(dist):
    s = Server(dist)
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def hub_env(tmp_path, monkeypatch):
    """A private cache, an empty exported/ copy, and no sleeping between pooch's retries."""
    import pooch.core
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ZOO_EXPORTED", str(tmp_path / "exported"))
    monkeypatch.setenv("ZOO_HUB_URL", "http://127.0.0.1:9")   # discard port: tests set their server
    monkeypatch.delenv("ZOO_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "RELEASES_DIR", str(tmp_path / "index"))
    monkeypatch.setattr(pooch.core, "time", types.SimpleNamespace(sleep=lambda s: None))
    (tmp_path / "exported").mkdir()


def _fake_model(root, name=NAME):
    """A small exported folder: the real card of ``name`` over two tiny artifact files."""
    d = os.path.join(root, name)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    files = {"model.onnx": b"not really onnx " * 64, "test_data_set_0/input_0.pb": b"\x01\x02" * 100}
    with open(os.path.join(exported_dir_repo(name), "card.json"), encoding="utf-8") as fh:
        card = json.load(fh)
    card["artifacts"] = {}
    for rel, data in files.items():
        with open(os.path.join(d, rel), "wb") as fh:
            fh.write(data)
        card["artifacts"][rel] = {"sha256": hashlib.sha256(data).hexdigest()}
    card["artifacts"]["saved_model/"] = {"note": "not published"}
    with open(os.path.join(d, "card.json"), "w", encoding="utf-8") as fh:
        json.dump(card, fh, indent=2)             # as export writes a card
        fh.write("\n")
    return d


def exported_dir_repo(name):
    return os.path.join(REPO, "exported", name)


@pytest.fixture
def fake(tmp_path, dist):
    """(release, archive path) of a small fake model published into dist/ (not into any index)."""
    d = _fake_model(tmp_path / "src")
    return hub.publish(NAME, out=str(dist), directory=d, index=False)


def _leftovers(tmp_path):
    """What the cache holds: ``downloads/<file>`` and ``models/<folder>`` entries."""
    cache = tmp_path / "cache"
    out = []
    for sub in ("downloads", "models"):
        p = cache / sub
        if p.exists():
            out += [f"{sub}/{f}" for f in os.listdir(p)]
    return out


def _nothing_kept(tmp_path):
    assert _leftovers(tmp_path) == [], _leftovers(tmp_path)


# ----------------------------------------------------------------------------- publish
def _gzip_header(path):
    """(mtime, has a file name) from the gzip header (RFC 1952: bytes 4-7 MTIME, flag 0x08 FNAME)."""
    head = open(path, "rb").read(10)
    assert head[:3] == b"\x1f\x8b\x08", head
    return int.from_bytes(head[4:8], "little"), bool(head[3] & 0x08)


def test_publish_is_reproducible_and_recorded_in_the_index_only(tmp_path, dist):
    d = _fake_model(tmp_path / "src")
    card_before = open(os.path.join(d, "card.json"), "rb").read()
    rel, path = hub.publish(NAME, out=str(dist), directory=d, index_dir=str(tmp_path / "idx"))
    # the export is not written: publishing is a pure function of its files
    assert open(os.path.join(d, "card.json"), "rb").read() == card_before
    # the same files with other times, modes and a later clock give the same archive
    for f in ("model.onnx", "test_data_set_0/input_0.pb", "card.json"):
        os.utime(os.path.join(d, f), (1.7e9, 1.7e9))
        os.chmod(os.path.join(d, f), 0o600)
    rel2, path2 = hub.publish(NAME, out=str(tmp_path / "dist2"), directory=d, index=False)
    assert rel2 == rel and os.path.basename(path) == os.path.basename(path2)
    assert open(path, "rb").read() == open(path2, "rb").read()
    assert rel["file"] == f"{NAME}-{rel['sha256'][:8]}.tar.gz" == os.path.basename(path)
    assert rel["size"] == os.path.getsize(path)
    assert rel["sha256"] == hashlib.sha256(open(path, "rb").read()).hexdigest()
    assert rel["url"] == "{hub}/" + rel["file"]
    assert rel["contents"] == {"card.json": hashlib.sha256(card_before).hexdigest(),
                               "model.onnx": hashlib.sha256(b"not really onnx " * 64).hexdigest(),
                               "test_data_set_0/input_0.pb": hashlib.sha256(b"\x01\x02" * 100).hexdigest()}
    assert json.load(open(tmp_path / "idx" / f"{NAME}.json")) == rel      # the index: the one record
    assert "release" not in json.load(open(os.path.join(d, "card.json")))["artifacts"]
    # the archive: the committed card's bytes + the listed files, sorted, fixed attributes
    assert _gzip_header(path) == (0, False)
    import gzip
    assert rel["tar_sha256"] == hashlib.sha256(gzip.open(path).read()).hexdigest()
    with tarfile.open(path) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["card.json", "model.onnx", "test_data_set_0/input_0.pb"]
        assert [m.name for m in members] == sorted(m.name for m in members)
        for m in members:
            assert (m.isreg(), m.mtime, m.mode, m.uid, m.gid, m.uname, m.gname) == (True, 0, 0o644, 0, 0, "", "")
        assert tar.extractfile("card.json").read() == card_before
    assert not [f for f in os.listdir(dist) if f.endswith(".partial")]


def test_a_legacy_release_block_in_a_card_is_not_archived(tmp_path, dist):
    """A card of an older zoo recorded its release inside itself: publishing leaves it out (the
    record lives in the index), so the archive is that of the card without it."""
    d = _fake_model(tmp_path / "src")
    rel, _ = hub.publish(NAME, out=str(dist), directory=d, index=False)
    card = json.load(open(os.path.join(d, "card.json")))
    card["artifacts"]["release"] = rel
    with open(os.path.join(d, "card.json"), "w") as fh:
        json.dump(card, fh, indent=2)
        fh.write("\n")
    rel2, path2 = hub.publish(NAME, out=str(tmp_path / "dist2"), directory=d, index=False)
    with tarfile.open(path2) as tar:
        assert "release" not in json.load(tar.extractfile("card.json"))["artifacts"]
    assert rel2["contents"] == rel["contents"]


def test_publish_all_regenerates_the_whole_index(tmp_path, dist):
    """publish_all (``python -m zoo publish --all``): one record per export, stale ones removed,
    and nothing written to the index when one export fails."""
    root = tmp_path / "exp"
    _fake_model(root, NAME)
    _fake_model(root, "starnet")
    idx = tmp_path / "idx"
    idx.mkdir()
    (idx / "racnet_ds1.json").write_text("{}")          # a model no longer exported
    done = hub.publish_all(out=str(dist), index_dir=str(idx), exported=str(root))
    assert sorted(done) == [NAME, "starnet"] == sorted(f[:-5] for f in os.listdir(idx))
    for n, (rel, path) in done.items():
        assert json.load(open(idx / f"{n}.json")) == rel and os.path.exists(path)
    before = {f: open(idx / f, "rb").read() for f in os.listdir(idx)}
    with open(root / "starnet" / "model.onnx", "ab") as fh:  # damaged: refused, index untouched
        fh.write(b"x")
    with pytest.raises(ChecksumMismatchError):
        hub.publish_all(out=str(tmp_path / "dist2"), index_dir=str(idx), exported=str(root))
    assert {f: open(idx / f, "rb").read() for f in os.listdir(idx)} == before


def test_publish_refuses_a_damaged_artifact(tmp_path, dist):
    d = _fake_model(tmp_path / "src")
    with open(os.path.join(d, "model.onnx"), "ab") as fh:
        fh.write(b"x")
    with pytest.raises(ChecksumMismatchError):
        hub.publish(NAME, out=str(dist), directory=d, index=False)
    assert os.listdir(dist) == []


# ----------------------------------------------------------------------------- download
def test_good_download_is_installed_atomically_and_reused(tmp_path, server, fake, monkeypatch):
    rel, _ = fake
    monkeypatch.setenv("ZOO_HUB_URL", server.url + "/")
    d = hub.fetch(NAME, release=rel)
    assert d == os.path.join(str(tmp_path / "cache"), "models", rel["file"][:-7])
    src_card = open(tmp_path / "src" / NAME / "card.json", "rb").read()
    assert open(os.path.join(d, "card.json"), "rb").read() == src_card   # the archive as published
    assert open(os.path.join(d, "model.onnx"), "rb").read() == b"not really onnx " * 64
    assert _leftovers(tmp_path) == [f"models/{os.path.basename(d)}"]   # archive removed, no partials
    n = len(server.requests)
    assert hub.fetch(NAME, release=rel) == d and hub.locate(NAME, release=rel) == d
    assert len(server.requests) == n == 1                # cached: no second request


@pytest.mark.parametrize("tamper", ["modified", "card", "deleted"])
def test_a_tampered_cache_is_caught_and_force_repairs_it(tmp_path, server, fake, capsys, monkeypatch, tamper):
    """A cached file changed (or deleted) after the download: fetch / `zoo download` re-verify
    the folder against the release, raise ChecksumMismatchError naming --force, and --force
    downloads and verifies it again."""
    from zoo.__main__ import main
    rel, _ = fake
    monkeypatch.setenv("ZOO_HUB_URL", server.url)
    monkeypatch.setattr(hub, "release_info", lambda name: rel if name == NAME else None)
    d = hub.fetch(NAME, release=rel)
    good = {f: open(os.path.join(d, f), "rb").read() for f in rel["contents"]}
    victim = os.path.join(d, "card.json" if tamper == "card" else "model.onnx")
    if tamper == "deleted":
        os.remove(victim)
    else:
        with open(victim, "r+b") as fh:          # same size, one byte changed
            fh.seek(5)
            b = fh.read(1)
            fh.seek(5)
            fh.write(bytes([b[0] ^ 1]))
    with pytest.raises(ChecksumMismatchError, match="--force"):
        hub.fetch(NAME, release=rel)
    capsys.readouterr()
    assert main(["download", NAME, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "ChecksumMismatchError" in err and f"python -m zoo download {NAME} --force" in err, err
    assert len(server.requests) == 1                       # verified locally, nothing downloaded
    assert main(["download", NAME, "--force", "--no-progress"]) == 0
    assert len(server.requests) == 2
    assert {f: open(os.path.join(d, f), "rb").read() for f in rel["contents"]} == good
    assert hub.fetch(NAME, release=rel) == d and len(server.requests) == 2
    assert _leftovers(tmp_path) == [f"models/{os.path.basename(d)}"]


def test_bad_hash_is_refused_and_not_kept(tmp_path, server, fake, monkeypatch):
    rel, _ = fake
    monkeypatch.setenv("ZOO_HUB_URL", server.url)
    bad = {**rel, "sha256": "0" * 64}
    with pytest.raises(ChecksumMismatchError, match="not kept|deleted"):
        hub.fetch(NAME, release=bad, retries=1)
    assert server.requests == [rel["file"]] * 2           # a corrupt transfer is tried again
    _nothing_kept(tmp_path)


def test_truncated_file_on_the_server_fails_the_hash(tmp_path, server, fake, monkeypatch):
    rel, path = fake
    monkeypatch.setenv("ZOO_HUB_URL", server.url)
    data = open(path, "rb").read()
    with open(path, "wb") as fh:
        fh.write(data[:len(data) // 2])       # served whole, with its own (short) length
    with pytest.raises(ChecksumMismatchError):
        hub.fetch(NAME, release=rel, retries=0)
    _nothing_kept(tmp_path)


def test_a_transfer_cut_short_is_retried_and_then_succeeds(tmp_path, server, fake, monkeypatch):
    rel, _ = fake
    monkeypatch.setenv("ZOO_HUB_URL", server.url)
    server.modes[rel["file"]] = "cut_once"
    d = hub.fetch(NAME, release=rel, retries=2)
    assert server.requests == [rel["file"]] * 2
    assert os.path.exists(os.path.join(d, "card.json"))


def test_a_transfer_always_cut_short_raises_and_leaves_no_half_file(tmp_path, server, fake, monkeypatch):
    rel, _ = fake
    monkeypatch.setenv("ZOO_HUB_URL", server.url)
    server.modes[rel["file"]] = "cut"
    with pytest.raises(DownloadError) as err:
        hub.fetch(NAME, release=rel, retries=2)
    assert not isinstance(err.value, OfflineError)
    assert server.requests == [rel["file"]] * 3          # 1 + 2 retries
    _nothing_kept(tmp_path)                               # no half file, under any name


def test_404_is_a_download_error_and_not_retried(tmp_path, server, fake, monkeypatch):
    rel, _ = fake
    monkeypatch.setenv("ZOO_HUB_URL", server.url)
    server.modes[rel["file"]] = "404"
    with pytest.raises(DownloadError, match="HTTP 404") as err:
        hub.fetch(NAME, release=rel, retries=2)
    assert not isinstance(err.value, OfflineError) and server.requests == [rel["file"]]
    _nothing_kept(tmp_path)


def test_server_gone_mid_file(tmp_path, server, fake, monkeypatch):
    rel, _ = fake
    monkeypatch.setenv("ZOO_HUB_URL", server.url)
    server.modes[rel["file"]] = "die"
    with pytest.raises(DownloadError):
        hub.fetch(NAME, release=rel, retries=1)
    assert server.requests == [rel["file"]]               # the retry found no server
    _nothing_kept(tmp_path)


# ----------------------------------------------------------------------------- archives
def _evil_archive(path, members):
    """A .tar.gz with the given (name, kind) members, kind "file", "symlink" or "hardlink"."""
    with tarfile.open(path, "w:gz") as tar:
        card = json.dumps(json.load(open(os.path.join(exported_dir_repo(NAME), "card.json")))).encode()
        info = tarfile.TarInfo("card.json")
        info.size = len(card)
        tar.addfile(info, io.BytesIO(card))
        for name, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = 4
                tar.addfile(info, io.BytesIO(b"evil"))
            else:
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = "/etc/passwd"
                tar.addfile(info)
    data = open(path, "rb").read()
    return {"file": os.path.basename(path), "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
            "contents": {}}


@pytest.mark.parametrize("members", [
    [("../evil.txt", "file")],
    [("model/../../evil.txt", "file")],
    [("/tmp/zoo-hub-test-evil.txt", "file")],
    [("model.onnx", "symlink")],
    [("model.onnx", "hardlink")],
    [("unlisted.bin", "file")],
], ids=["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink", "unlisted"])
def test_unsafe_archive_is_refused_before_writing(tmp_path, server, dist, monkeypatch, members):
    monkeypatch.setenv("ZOO_HUB_URL", server.url)
    rel = _evil_archive(str(dist / f"{NAME}-evil.tar.gz"), members)
    with pytest.raises(UnsafeArchiveError):
        hub.fetch(NAME, release=rel)
    assert not (tmp_path / "cache" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert not os.path.exists("/tmp/zoo-hub-test-evil.txt")
    _nothing_kept(tmp_path)                               # no partial folder, archive deleted


def test_safe_extract_writes_only_inside(tmp_path):
    src = tmp_path / "ok.tar.gz"
    with tarfile.open(src, "w:gz") as tar:
        for name in ("card.json", "test_data_set_0/input_0.pb", "./model.onnx"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"ok"))
    out = tmp_path / "out"
    out.mkdir()
    assert sorted(hub.safe_extract(str(src), str(out))) == ["card.json", "model.onnx", "test_data_set_0/input_0.pb"]
    with pytest.raises(UnsafeArchiveError):
        hub.safe_extract(str(src), str(tmp_path / "out2"), allowed={"card.json"})


# ----------------------------------------------------------------------------- offline
def test_offline_mode_and_unreachable_hub(tmp_path, server, fake, monkeypatch):
    rel, _ = fake
    monkeypatch.setenv("ZOO_HUB_URL", server.url)
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(OfflineError, match="ZOO_OFFLINE"):
        hub.fetch(NAME, release=rel)
    with pytest.raises(OfflineError):
        hub.locate(NAME, release=rel)
    assert server.requests == []                          # offline: not even tried
    monkeypatch.delenv("ZOO_OFFLINE")
    with pytest.raises(OfflineError):
        hub.locate(NAME, release=rel, download=False)
    # a hub that cannot be reached (a closed port) is an OfflineError too
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("ZOO_HUB_URL", f"http://127.0.0.1:{closed}")
    with pytest.raises(OfflineError, match="cannot be reached"):
        hub.fetch(NAME, release=rel, retries=0)
    # once cached, offline mode (and no server at all) is fine
    monkeypatch.setenv("ZOO_HUB_URL", server.url)
    d = hub.fetch(NAME, release=rel)
    server.stop()
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert hub.locate(NAME, release=rel) == d


# ----------------------------------------------------------------------------- end to end (real model)
@pytest.fixture
def published_real(tmp_path, dist, server, monkeypatch):
    """The committed model published into dist/ and the test's index (the repository untouched),
    served by the server; $ZOO_EXPORTED is a copy of exported/ without it."""
    src = exported_dir_repo(NAME)
    if not os.path.exists(os.path.join(src, "card.json")):
        pytest.skip(f"exported/{NAME} is not there")
    before = open(os.path.join(src, "card.json"), "rb").read()
    rel, path = hub.publish(NAME, out=str(dist), directory=src)
    assert open(os.path.join(src, "card.json"), "rb").read() == before
    copy = tmp_path / "exported"
    for other in os.listdir(os.path.join(REPO, "exported")):      # a copy of exported/ ...
        if other != NAME:
            os.symlink(os.path.join(REPO, "exported", other), copy / other)
    assert not (copy / NAME).exists()                              # ... with the model deleted
    monkeypatch.setenv("ZOO_HUB_URL", server.url)
    return rel, path


def test_model_deleted_from_exported_copy_is_fetched_verified_and_used(tmp_path, server, published_real):
    from zoo.export import read_test_data
    rel, _ = published_real
    assert exported_dir(NAME) == str(tmp_path / "exported" / NAME)
    with pytest.raises(OfflineError):
        zoo.load_model(NAME, download=False)
    model = zoo.load_model(NAME)                  # fetched, verified, used
    assert model.directory == hub.cached_dir(NAME) and server.requests == [rel["file"]]
    flux, expected = read_test_data(model.directory)
    got = model.predict_raw(flux)
    for k, v in expected.items():
        np.testing.assert_allclose(got[k], v, atol=1e-5)
    clone = zoo.load_model(NAME, backend="onnx", directory=exported_dir_repo(NAME))
    for k, v in clone.predict(flux).items():
        assert (model.predict(flux)[k] == v).all()
    assert hub.release_info(NAME) == rel
    assert (open(os.path.join(model.directory, "card.json"), "rb").read()
            == open(os.path.join(exported_dir_repo(NAME), "card.json"), "rb").read())
    # load again: from the cache, no request; the CLI sees it as cached
    zoo.load_model(NAME)
    assert len(server.requests) == 1
    from zoo.__main__ import main
    assert main(["verify", NAME]) == 0


def test_cli_publish_and_download(tmp_path, server, capsys, monkeypatch):
    from zoo.__main__ import main
    _fake_model(tmp_path / "exported")                   # "exported" here: $ZOO_EXPORTED
    out = tmp_path / "out"
    assert main(["publish", NAME, "--out", str(out)]) == 0
    rel = json.load(open(tmp_path / "index" / f"{NAME}.json"))
    assert os.path.exists(out / rel["file"])
    assert "release" not in json.load(open(tmp_path / "exported" / NAME / "card.json"))["artifacts"]
    shutil.rmtree(tmp_path / "exported" / NAME)          # now only the index knows it
    assert zoo.get_card(NAME).artifacts["release"] == rel   # the preset + the published release
    server.root = str(out)
    monkeypatch.setenv("ZOO_HUB_URL", server.url)
    assert main(["download", NAME, "--no-progress"]) == 0
    assert hub.local_dir(NAME) == hub.cached_dir(NAME)
    assert "cached" in (main(["cache"]), capsys.readouterr().out)[1]
    server.modes[rel["file"]] = "404"
    assert main(["download", NAME, "--force", "--no-progress"]) == 1   # reported, non-zero


def test_committed_releases_reproduce(tmp_path):
    """Every trained model is published, and every committed record reproduces: publishing the
    committed export gives the recorded archive, byte for byte.  A card or file changed without
    `python -m zoo publish --all --out dist` (docs/hub.md) fails here, naming what changed."""
    index_dir = os.path.join(REPO, "zoo", "data", "hub")
    exported = sorted(n for n in os.listdir(os.path.join(REPO, "exported"))
                      if os.path.exists(os.path.join(REPO, "exported", n, "card.json")))
    indexed = sorted(f[:-5] for f in os.listdir(index_dir) if f.endswith(".json"))
    assert indexed == exported, "the release index must list every exported model: python -m zoo publish --all"
    regen = "; regenerate the index: python -m zoo publish --all --out dist"
    for name in exported:
        card = json.load(open(os.path.join(REPO, "exported", name, "card.json")))
        assert "release" not in card["artifacts"], f"{name}: a release is recorded in zoo/data/hub only"
        recorded = json.load(open(os.path.join(index_dir, f"{name}.json")))
        rel, path = hub.publish(name, out=str(tmp_path), directory=os.path.join(REPO, "exported", name),
                                index=False)
        changed = sorted(k for k in set(rel["contents"]) | set(recorded["contents"])
                         if rel["contents"].get(k) != recorded["contents"].get(k))
        assert not changed, f"{name}: {changed} changed since it was published{regen}"
        assert rel["tar_sha256"] == recorded.get("tar_sha256"), f"{name}: the archive's tar differs{regen}"
        archive = ("file", "url", "size", "sha256")        # the compressed bytes: zlib's to decide
        same_zlib = recorded.get("gzip") == rel["gzip"]
        skip = {"gzip", "zoo_version"} | (set() if same_zlib else set(archive))
        assert {k: v for k, v in rel.items() if k not in skip} == \
            {k: v for k, v in recorded.items() if k not in skip}, f"{name}: the release differs{regen}"
        os.remove(path)


# ----------------------------------------------------------------------------- pip install .
_INSTALLED = r"""
import os, sys
import zoo
assert os.path.realpath(zoo.__file__).startswith(os.path.realpath(sys.argv[1])), zoo.__file__
from zoo.predictor import exported_dir
assert not os.path.exists(exported_dir(sys.argv[2]))      # no clone: site-packages has no exported/
from zoo.export import read_test_data
import numpy as np
m = zoo.load_model(sys.argv[2])   # the default backend, as a user calls it
assert m.directory.startswith(os.environ["ZOO_CACHE"]), m.directory
flux, expected = read_test_data(m.directory)
got = m.predict_raw(flux)
assert all(np.max(np.abs(got[k] - v)) < 1e-5 for k, v in expected.items())
heavy = sorted(k for k in sys.modules if k.split(".")[0] in ("tensorflow", "keras", "tf2onnx"))
assert not heavy, heavy
print("INSTALLED-OK", m.directory)
"""


@pytest.mark.skipif(os.environ.get("ZOO_SKIP_INSTALL_TEST") == "1", reason="ZOO_SKIP_INSTALL_TEST=1")
def test_non_editable_install_downloads_from_the_hub(tmp_path, server, published_real):
    """`pip install .` (a wheel, not editable; no dependencies fetched: they are installed here)
    knows the release from its packaged index, downloads it from the hub and predicts."""
    rel, _ = published_real
    src = tmp_path / "src"
    src.mkdir()
    for f in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(os.path.join(REPO, f), src / f)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(os.path.join(REPO, "zoo"), src / "zoo", ignore=ignore)
    shutil.copytree(os.path.join(REPO, "training"), src / "training", ignore=ignore)
    os.makedirs(src / "zoo" / "data" / "hub", exist_ok=True)
    shutil.copy(tmp_path / "index" / f"{NAME}.json", src / "zoo" / "data" / "hub" / f"{NAME}.json")
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--no-index", "--target", str(target), str(src)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert not (target / "zoo" / "__editable__").exists() and (target / "zoo" / "data" / "hub").exists()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ZOO_EXPORTED")}
    env.update(PYTHONPATH=str(target), ZOO_CACHE=str(tmp_path / "usercache"), ZOO_HUB_URL=server.url,
               TF_CPP_MIN_LOG_LEVEL="3")
    work = tmp_path / "elsewhere"
    work.mkdir()
    r = subprocess.run([sys.executable, "-c", _INSTALLED, str(target), NAME], capture_output=True, text=True,
                       cwd=str(work), env=env, timeout=300)
    assert r.returncode == 0 and "INSTALLED-OK" in r.stdout, (r.stdout[-2000:], r.stderr[-3000:])
    assert server.requests == [rel["file"]]


def test_never_published_and_untrained_is_a_plain_artifact_error():
    """Neither in exported/ nor in the index: nothing to download (not an OfflineError)."""
    with pytest.raises(ArtifactError, match="no published release") as err:
        hub.locate(NAME)
    assert not isinstance(err.value, DownloadError)
    with pytest.raises(ArtifactError):
        zoo.load_model(NAME)
