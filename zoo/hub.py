"""The hub: find a trained model locally, or download it, verify it and cache it.

:func:`zoo.load_model` (through :func:`locate`) looks for ``<name>`` in this order:

1. **a clone**: ``$ZOO_EXPORTED/<name>/`` or the repository's ``exported/<name>/``
   (:func:`zoo.predictor.exported_dir`) when it holds ``card.json``;
2. **the per-user cache**: ``<cache>/models/<name>-<sha8>/`` where ``<cache>`` is
   ``$ZOO_CACHE`` or else ``pooch.os_cache("stellar-spectra-zoo")``
   (``~/.cache/stellar-spectra-zoo`` on Linux, ``~/Library/Caches/stellar-spectra-zoo``
   on macOS, ``%LOCALAPPDATA%\\stellar-spectra-zoo\\stellar-spectra-zoo\\Cache`` on Windows);
3. **the hub**: ``<hub>/<name>-<sha8>.tar.gz``, ``<hub>`` being ``$ZOO_HUB_URL`` or
   :data:`DEFAULT_HUB_URL`.  pooch streams it into a temporary file, retries an
   interrupted transfer, checks the sha256 the card records and only then gives
   the file its name (a bad file is deleted, never kept); the archive is
   extracted without path traversal (:func:`safe_extract`) into a temporary
   folder, every file is checked against its sha256, and one ``rename`` puts the
   folder in place.  A folder in the cache is therefore always complete.

What a release is (:func:`publish`, ``python -m zoo publish NAME``): one
deterministic ``.tar.gz`` of the exported folder's files that the card lists
with a sha256, plus ``card.json``; its name carries the first 8 hex digits of
its own sha256 (so a retrained model never reuses a name, and a mirror can be
one flat folder).  ``publish`` records the archive in the card as
``artifacts["release"]`` (:func:`release_info`: file, URL pattern, size,
sha256, the sha256 of each file inside) and in the package's release index
``zoo/data/hub/<name>.json``, which ships with ``pip install .`` and is how an
installed zoo knows what to download and how to verify it.

Environment: ``ZOO_HUB_URL`` (release base URL: a mirror, a local server),
``ZOO_CACHE`` (cache folder), ``ZOO_OFFLINE=1`` (never download: a model that is
not local raises :class:`~zoo.errors.OfflineError`).
"""
from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time

from .card import ModelCard, _json_default
from .errors import (ArtifactError, ChecksumMismatchError, DownloadError, OfflineError,
                     UnsafeArchiveError)

__all__ = ["locate", "local_dir", "fetch", "publish", "release_info", "cache_dir", "hub_url",
           "offline", "safe_extract", "DEFAULT_HUB_URL", "RELEASE_KEY", "RELEASES_DIR", "APP_NAME"]

APP_NAME = "stellar-spectra-zoo"
#: where ``publish``'s archives are attached (one GitHub release, ``models``, holding every
#: archive ever published: their names carry their sha256, so none is ever replaced)
DEFAULT_HUB_URL = "https://github.com/stellar-spectra-zoo/stellar-spectra-zoo/releases/download/models"
#: the key of the release block in ``card.artifacts``
RELEASE_KEY = "release"
#: the release index that ships with the package (one ``<name>.json`` per published model)
RELEASES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "hub")
ARCHIVE_SUFFIX = ".tar.gz"
_STALE_S = 24 * 3600   # temporary files older than this are left-overs of a killed process


# --------------------------------------------------------------------------- settings
def cache_dir() -> str:
    """``$ZOO_CACHE``, or the per-user cache folder of the platform (``pooch.os_cache``)."""
    env = os.environ.get("ZOO_CACHE")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    import pooch
    return str(pooch.os_cache(APP_NAME))


def hub_url() -> str:
    """``$ZOO_HUB_URL`` or :data:`DEFAULT_HUB_URL`, without a trailing slash."""
    return (os.environ.get("ZOO_HUB_URL") or DEFAULT_HUB_URL).rstrip("/")


def offline() -> bool:
    """True when ``$ZOO_OFFLINE`` is set to 1 / true / yes."""
    return os.environ.get("ZOO_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _stem(release: dict) -> str:
    f = release["file"]
    return f[:-len(ARCHIVE_SUFFIX)] if f.endswith(ARCHIVE_SUFFIX) else f


# --------------------------------------------------------------------------- where models are
def release_info(name: str) -> dict | None:
    """The published release of ``name``: the exported card's ``artifacts["release"]`` (a clone),
    else the package's release index (``zoo/data/hub/<name>.json``); None if never published."""
    from .predictor import exported_dir
    card_file = os.path.join(exported_dir(name), "card.json")
    if os.path.exists(card_file):
        with open(card_file, encoding="utf-8") as fh:
            rel = json.load(fh).get("artifacts", {}).get(RELEASE_KEY)
        if rel:
            return rel
    path = os.path.join(RELEASES_DIR, f"{name}.json")  # read at call time (tests point it elsewhere)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    return None


def cached_dir(name: str, release: dict | None = None) -> str | None:
    """The cache folder ``name``'s release goes to (None when it was never published)."""
    release = release or release_info(name)
    return os.path.join(cache_dir(), "models", _stem(release)) if release else None


def local_dir(name: str, release: dict | None = None) -> str | None:
    """``exported/<name>`` (a clone) or the cached release, whichever exists first; None if neither."""
    from .predictor import exported_dir
    d = exported_dir(name)
    if os.path.exists(os.path.join(d, "card.json")):
        return d
    c = cached_dir(name, release)
    if c and os.path.exists(os.path.join(c, "card.json")):
        return c
    return None


def locate(name: str, download: bool = True, progress: bool | None = None, release: dict | None = None) -> str:
    """The folder of ``name``'s trained artifacts: a clone's, the cache's, or (``download``) a
    fresh download from the hub (:func:`fetch`).  Raises :class:`~zoo.errors.OfflineError` when
    it must download and may not (``download=False``, ``$ZOO_OFFLINE``) or cannot."""
    d = local_dir(name, release)
    if d:
        return d
    release = release or release_info(name)
    if release is None:
        from .predictor import exported_dir
        raise ArtifactError(f"{name} is not trained here ({exported_dir(name)} has no card.json) and "
                            "has no published release; train and export it (python -m training.<model>)")
    if not download:
        raise OfflineError(f"{name} is neither in exported/ nor in the cache ({cached_dir(name, release)}) "
                           "and downloading is off; run `python -m zoo download " + name + "` first")
    return fetch(name, release=release, progress=progress)


# --------------------------------------------------------------------------- download
class _ClientError(Exception):
    """An HTTP 4xx answer: retrying cannot help (pooch retries only RequestException/ValueError)."""

    def __init__(self, url, status):
        super().__init__(f"{url}: HTTP {status}")
        self.url, self.status = url, status


class _Downloader:
    """pooch's HTTPDownloader, but a 404 (any 4xx but 408/429) is final, not retried."""

    def __init__(self, progress: bool, timeout):
        import pooch
        self._http = pooch.HTTPDownloader(progressbar=progress, timeout=timeout)

    def __call__(self, url, output_file, pooch_obj, check_only=False):
        import requests
        try:
            return self._http(url, output_file, pooch_obj, check_only=check_only)
        except requests.HTTPError as exc:
            status = getattr(exc.response, "status_code", None)
            if status is not None and 400 <= status < 500 and status not in (408, 429):
                raise _ClientError(url, status) from exc
            raise


def _is_unreachable(exc) -> bool:
    """A connection that never opened (no network, no server, no DNS), as opposed to one lost
    mid-transfer."""
    text = repr(exc)
    return any(s in text for s in ("NewConnectionError", "Failed to establish", "Connection refused",
                                   "NameResolutionError", "Name or service not known",
                                   "Temporary failure in name resolution", "nodename nor servname",
                                   "getaddrinfo failed", "Network is unreachable", "ConnectTimeout"))


def _clean_stale(folder: str, prefix: str) -> None:
    """Remove temporary files/folders a killed process left (older than a day)."""
    if not os.path.isdir(folder):
        return
    now = time.time()
    for f in os.listdir(folder):
        p = os.path.join(folder, f)
        if f.startswith(prefix) and now - os.path.getmtime(p) > _STALE_S:
            shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else os.remove(p)


def _download(release: dict, folder: str, progress: bool, retries: int, timeout) -> str:
    import pooch
    import requests
    fname = release["file"]
    url = f"{hub_url()}/{fname}"
    os.makedirs(folder, exist_ok=True)
    _clean_stale(folder, "tmp")
    p = pooch.create(path=folder, base_url=hub_url() + "/", registry={fname: f"sha256:{release['sha256']}"},
                     urls={fname: url}, retry_if_failed=retries)
    try:
        return p.fetch(fname, downloader=_Downloader(progress, timeout))
    except _ClientError as exc:
        raise DownloadError(f"{exc.url}: HTTP {exc.status}; the hub does not have this release "
                            "(is $ZOO_HUB_URL right, and was the archive uploaded?)") from None
    except ValueError as exc:
        if "hash" not in str(exc).lower():
            raise
        raise ChecksumMismatchError(
            f"{url}: the downloaded file's sha256 is not the card's {release['sha256'][:16]}... "
            f"(after {retries + 1} tries); the file was deleted, not kept") from None
    except requests.ConnectionError as exc:
        if _is_unreachable(exc):
            raise OfflineError(f"{url}: the hub cannot be reached ({type(exc).__name__}); offline? "
                               "Set $ZOO_HUB_URL to a mirror, or copy the model into $ZOO_CACHE / "
                               "$ZOO_EXPORTED") from None
        raise DownloadError(f"{url}: the connection was lost ({exc}) after {retries + 1} tries; "
                            "nothing partial was kept") from None
    except requests.RequestException as exc:
        raise DownloadError(f"{url}: download failed after {retries + 1} tries ({exc}); "
                            "nothing partial was kept") from None


def fetch(name: str, release: dict | None = None, progress: bool | None = None, retries: int = 2,
          timeout=(10.0, 60.0), force: bool = False) -> str:
    """Download ``name``'s release into the cache (unless it is there) and return its folder.

    The archive is checked against ``release["sha256"]`` before it is kept, extracted safely
    into a temporary folder, each file checked against ``release["contents"]``, and the folder
    renamed into place; the archive is then deleted.  ``retries``: further tries after a failed
    or corrupt transfer (a 4xx answer is not retried).  ``timeout``: seconds to connect and
    between two received blocks (requests' ``(connect, read)``).  ``force``: download again.
    """
    release = release or release_info(name)
    if release is None:
        raise ArtifactError(f"{name} has no published release (python -m zoo publish {name})")
    target = cached_dir(name, release)
    if os.path.exists(os.path.join(target, "card.json")) and not force:
        return target
    if offline():
        raise OfflineError(f"{name} is not in the cache ({target}) and $ZOO_OFFLINE is set")
    if progress is None:
        progress = sys.stderr.isatty()
    archive = _download(release, os.path.join(cache_dir(), "downloads"), progress, retries, timeout)
    try:
        _install(name, archive, release, target, replace=force)
    finally:
        if os.path.exists(archive):
            os.remove(archive)
    return target


def _install(name: str, archive: str, release: dict, target: str, replace: bool = False) -> None:
    from .export import sha256
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    _clean_stale(parent, ".partial-")
    tmp = tempfile.mkdtemp(prefix=f".partial-{os.path.basename(target)}-", dir=parent)
    try:
        contents = dict(release.get("contents", {}))
        safe_extract(archive, tmp, allowed=set(contents) | {"card.json"})
        card_file = os.path.join(tmp, "card.json")
        if not os.path.exists(card_file):
            raise ArtifactError(f"{release['file']}: the archive has no card.json")
        card = ModelCard.from_json(card_file)
        if card.name != name:
            raise ArtifactError(f"{release['file']}: the archive holds {card.name!r}, not {name!r}")
        for rel, expected in contents.items():
            path = os.path.join(tmp, *rel.split("/"))
            if not os.path.isfile(path):
                raise ArtifactError(f"{release['file']}: {rel} is missing from the archive")
            got = sha256(path)
            recorded = card.artifacts.get(rel, {}).get("sha256")
            if got != expected or (recorded is not None and recorded != expected):
                raise ChecksumMismatchError(f"{release['file']}: {rel} has sha256 {got[:16]}..., the "
                                            f"release records {expected[:16]}...")
        card.artifacts[RELEASE_KEY] = dict(release)   # the cached card equals the clone's
        card.to_json(card_file)
        if replace and os.path.exists(target):
            shutil.rmtree(target)
        try:
            os.rename(tmp, target)   # atomic: the folder appears complete or not at all
        except OSError:
            if not os.path.exists(os.path.join(target, "card.json")):
                raise
            shutil.rmtree(tmp, ignore_errors=True)   # another process installed it first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def safe_extract(archive: str, dest: str, allowed: set[str] | None = None) -> list[str]:
    """Extract a ``.tar.gz`` into ``dest`` refusing path traversal.

    Every member must be a regular file (or folder) whose name is relative, without ``..``,
    a drive or a backslash, that stays inside ``dest``, appears once and (with ``allowed``)
    is listed there; links, devices and anything else raise
    :class:`~zoo.errors.UnsafeArchiveError` before a single file is written.  Files are
    written by copying their bytes (no permissions, owners or times from the archive).
    Returns the member names written.
    """
    root = os.path.realpath(dest)
    try:
        tar = tarfile.open(archive, "r:gz")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArtifactError(f"{archive}: not a readable .tar.gz ({exc})") from exc
    with tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ArtifactError(f"{archive}: damaged archive ({exc})") from exc
        seen = set()
        for m in members:
            name = m.name
            parts = name.split("/")
            if (not name or name.startswith(("/", "\\")) or "\\" in name or ":" in parts[0]
                    or ".." in parts or os.path.isabs(name)):
                raise UnsafeArchiveError(f"{archive}: member {name!r} would be written outside its folder")
            if not (m.isfile() or m.isdir()):
                raise UnsafeArchiveError(f"{archive}: member {name!r} is a link or a special file")
            path = os.path.realpath(os.path.join(root, *[p for p in parts if p not in ("", ".")]))
            if os.path.commonpath([root, path]) != root:
                raise UnsafeArchiveError(f"{archive}: member {name!r} resolves outside {dest}")
            if m.isfile():
                key = "/".join(p for p in parts if p not in ("", "."))
                if key in seen:
                    raise UnsafeArchiveError(f"{archive}: member {name!r} appears twice")
                seen.add(key)
                if allowed is not None and key not in allowed:
                    raise UnsafeArchiveError(f"{archive}: member {name!r} is not a file its card lists")
        written = []
        for m in members:
            parts = [p for p in m.name.split("/") if p not in ("", ".")]
            path = os.path.join(root, *parts)
            if m.isdir():
                os.makedirs(path, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(path), exist_ok=True)
            src = tar.extractfile(m)
            with src, open(path, "xb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            written.append("/".join(parts))
    return written


# --------------------------------------------------------------------------- publish
def _add(tar: tarfile.TarFile, name: str, data: bytes | None = None, path: str | None = None) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data) if data is not None else os.path.getsize(path)
    info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = 0, 0o644, 0, 0, "", ""
    if data is not None:
        tar.addfile(info, io.BytesIO(data))
    else:
        with open(path, "rb") as fh:
            tar.addfile(info, fh)


def publish(name: str, out: str = "dist", directory: str | None = None, index_dir: str | None = None,
            update_card: bool = True, index: bool = True) -> tuple[dict, str]:
    """Write ``name``'s release archive into ``out`` and record it.

    The archive holds ``card.json`` (without its release block) and every file the card
    lists with a sha256 (each checked first), in sorted order with zeroed times and owners,
    gzip without a time stamp: the same files give the same bytes.  Its name is
    ``<name>-<first 8 hex of its sha256>.tar.gz``.  The release block (file, URL pattern,
    size, sha256, contents) goes into the exported card's ``artifacts["release"]``
    (``update_card``) and, with ``index``, into ``<index_dir>/<name>.json`` (default
    :data:`RELEASES_DIR`, the package's release index).  Returns ``(release, archive path)``.
    """
    from . import __version__
    from .export import sha256
    from .predictor import exported_dir
    d = os.fspath(directory or exported_dir(name))
    card_file = os.path.join(d, "card.json")
    if not os.path.exists(card_file):
        raise ArtifactError(f"{d}: no card.json; export {name} before publishing it")
    card = ModelCard.from_json(card_file)
    if card.name != name:
        raise ArtifactError(f"{card_file} describes {card.name!r}, not {name!r}")
    contents = {}
    for rel, info in sorted(card.artifacts.items()):
        if rel == RELEASE_KEY or not isinstance(info, dict) or "sha256" not in info:
            continue
        path = os.path.join(d, *rel.split("/"))
        if not os.path.isfile(path):
            raise ArtifactError(f"{path}: listed in the card but missing")
        got = sha256(path)
        if got != info["sha256"]:
            raise ChecksumMismatchError(f"{path}: sha256 {got[:16]}... is not the card's "
                                        f"{info['sha256'][:16]}...; refusing to publish it")
        contents[rel] = got
    inner = card.replace(artifacts={k: v for k, v in card.artifacts.items() if k != RELEASE_KEY})
    buf = io.StringIO()
    json.dump(inner.to_dict(), buf, indent=2, default=_json_default)
    card_bytes = (buf.getvalue() + "\n").encode("utf-8")

    os.makedirs(out, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".partial", dir=out)
    try:
        with os.fdopen(fd, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
                with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    _add(tar, "card.json", data=card_bytes)
                    for rel in sorted(contents):
                        _add(tar, rel, path=os.path.join(d, *rel.split("/")))
        digest = sha256(tmp)
        fname = f"{name}-{digest[:8]}{ARCHIVE_SUFFIX}"
        final = os.path.join(out, fname)
        os.replace(tmp, final)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    release = {"file": fname, "url": "{hub}/" + fname, "hub": DEFAULT_HUB_URL + " ($ZOO_HUB_URL overrides)",
               "size": os.path.getsize(final), "sha256": digest, "format": "tar.gz",
               "contents": contents, "zoo_version": __version__,
               "note": f"python -m zoo publish {name}; fetched and verified by zoo.load_model / "
                       f"python -m zoo download {name}"}
    if update_card:
        card.artifacts[RELEASE_KEY] = release
        card.to_json(card_file)
    if index:
        index_dir = index_dir or RELEASES_DIR
        os.makedirs(index_dir, exist_ok=True)
        with open(os.path.join(index_dir, f"{name}.json"), "w", encoding="utf-8") as fh:
            json.dump(release, fh, indent=2)
            fh.write("\n")
    return release, final
