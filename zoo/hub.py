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

What a release is (:func:`publish`, ``python -m zoo publish --all``): one reproducible
``.tar.gz`` of the exported folder's ``card.json`` (its bytes as committed) and every file
the card lists with a sha256; members sorted, times, owners and modes fixed, gzip without
a time stamp or file name, so that publishing is a pure function of the committed export
(:func:`publish` never writes into ``exported/``).  Its name carries the first 8 hex digits
of its own sha256 (so a retrained model never reuses a name, and a mirror can be one flat
folder).  The release record (:func:`release_info`: file, URL pattern, size, sha256, the
sha256 of each file inside, card.json included) lives in one place only, the package's
release index ``zoo/data/hub/<name>.json``, which ships with ``pip install .`` and is how an
installed zoo knows what to download and how to verify it.  A cached model is the archive
as published (nothing is added to its card); ``fetch`` re-verifies a cached folder against
the record before returning it.

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

from .card import ModelCard
from .errors import (ArtifactError, ChecksumMismatchError, DownloadError, OfflineError,
                     UnsafeArchiveError)

__all__ = ["locate", "local_dir", "fetch", "verify_cached", "publish", "publish_all", "release_info", "cache_dir", "hub_url",
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
    """The published release of ``name`` from the package's release index
    (``zoo/data/hub/<name>.json``, the only place a release is recorded); None if never published."""
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
    between two received blocks (requests' ``(connect, read)``).  A folder already in the cache
    is checked again file by file (:func:`verify_cached`: a modified or missing file raises
    :class:`~zoo.errors.ChecksumMismatchError` naming ``--force``); ``force``: download again
    and replace the cached folder.
    """
    release = release or release_info(name)
    if release is None:
        raise ArtifactError(f"{name} has no published release (python -m zoo publish {name})")
    target = cached_dir(name, release)
    if os.path.exists(os.path.join(target, "card.json")) and not force:
        verify_cached(name, release, target)
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
    from .artifacts import sha256
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


def verify_cached(name: str, release: dict, folder: str) -> None:
    """Check a cached release folder against its record: every file of ``release["contents"]``
    (card.json included, for releases that record it) present with its sha256.  A file
    modified or deleted after the download raises :class:`~zoo.errors.ChecksumMismatchError`;
    ``python -m zoo download NAME --force`` (``fetch(name, force=True)``) replaces the folder."""
    from .artifacts import sha256
    repair = (f"; the cache was changed after the download: `python -m zoo download {name} --force` "
              f"(zoo.hub.fetch({name!r}, force=True)) downloads and verifies it again")
    for rel, expected in sorted(release.get("contents", {}).items()):
        path = os.path.join(folder, *rel.split("/"))
        if not os.path.isfile(path):
            raise ChecksumMismatchError(f"{path}: missing from the cached release {release['file']}{repair}")
        got = sha256(path)
        if got != expected:
            raise ChecksumMismatchError(f"{path}: sha256 {got[:16]}... is not the release's "
                                        f"{expected[:16]}...{repair}")


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
#: the attributes every archive member gets, whatever the file system says: the same files
#: give the same archive on any machine, at any time, for any user
MEMBER_ATTRS = {"mtime": 0, "mode": 0o644, "uid": 0, "gid": 0, "uname": "", "gname": ""}
#: gzip level of the archives (with zlib's default strategy and memory level)
GZIP_LEVEL = 6


class _HashingWriter:
    """A write-only file that hashes what passes through (the uncompressed tar) and counts it."""

    def __init__(self, inner):
        import hashlib
        self.inner, self.hash, self.n = inner, hashlib.sha256(), 0

    def write(self, data):
        self.hash.update(data)
        self.n += len(data)
        return self.inner.write(data)

    def tell(self):
        return self.n


def card_bytes(card_file: str) -> bytes:
    """The bytes of ``card.json`` that go into a release: the file as committed.  A card of an
    older zoo that still carries a release block (``artifacts["release"]``) has it removed --
    the release is recorded in the index, never inside what it describes."""
    with open(card_file, "rb") as fh:
        data = fh.read()
    raw = json.loads(data)
    if isinstance(raw.get("artifacts"), dict) and RELEASE_KEY in raw["artifacts"]:
        del raw["artifacts"][RELEASE_KEY]
        data = (json.dumps(raw, indent=2) + "\n").encode("utf-8")
    return data


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.type = size, tarfile.REGTYPE
    for k, v in MEMBER_ATTRS.items():
        setattr(info, k, v)
    return info


def _release_files(name: str, d: str) -> tuple[bytes, dict[str, str]]:
    """``(card.json's bytes, {relative path: sha256})`` of what a release of the export in ``d``
    holds: card.json and every file its card lists with a sha256, each checked against it."""
    from .artifacts import sha256
    card_file = os.path.join(d, "card.json")
    if not os.path.exists(card_file):
        raise ArtifactError(f"{d}: no card.json; export {name} before publishing it")
    card = ModelCard.from_json(card_file)
    if card.name != name:
        raise ArtifactError(f"{card_file} describes {card.name!r}, not {name!r}")
    files = {}
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
        files[rel] = got
    data = card_bytes(card_file)
    import hashlib
    files["card.json"] = hashlib.sha256(data).hexdigest()
    return data, dict(sorted(files.items()))


def write_index(release: dict, name: str, index_dir: str | None = None) -> str:
    """Write ``release`` as ``<index_dir>/<name>.json`` (default :data:`RELEASES_DIR`), atomically."""
    index_dir = index_dir or RELEASES_DIR
    os.makedirs(index_dir, exist_ok=True)
    path = os.path.join(index_dir, f"{name}.json")
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".json.partial", dir=index_dir)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(release, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)
    return path


def publish(name: str, out: str = "dist", directory: str | None = None, index_dir: str | None = None,
            index: bool = True) -> tuple[dict, str]:
    """Write ``name``'s release archive into ``out`` and record it in the release index.

    The archive holds ``card.json`` (:func:`card_bytes`: the committed file) and every file
    the card lists with a sha256 (each checked first), members in sorted order, each with
    :data:`MEMBER_ATTRS` (time 0, owner 0/0 without names, mode 0644), gzip level
    :data:`GZIP_LEVEL` with neither a time stamp nor a file name in its header: publishing is a
    pure function of the export's files, and two publishes of an unchanged model give the same
    bytes.  Nothing in ``directory`` is written.  The archive's name is
    ``<name>-<first 8 hex of its sha256>.tar.gz``.  With ``index``, the release record goes to
    ``<index_dir>/<name>.json`` (default :data:`RELEASES_DIR`).  Returns ``(release, archive path)``.
    """
    import zlib
    from . import __version__
    from .artifacts import sha256
    from .predictor import exported_dir
    d = os.fspath(directory or exported_dir(name))
    card_data, contents = _release_files(name, d)

    os.makedirs(out, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".partial", dir=out)
    try:
        with os.fdopen(fd, "wb") as raw:
            # filename="" and mtime=0: the gzip header names no file and carries no time
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=GZIP_LEVEL) as gz:
                plain = _HashingWriter(gz)
                with tarfile.open(fileobj=plain, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    for rel in sorted(contents):
                        if rel == "card.json":
                            tar.addfile(_member(rel, len(card_data)), io.BytesIO(card_data))
                            continue
                        path = os.path.join(d, *rel.split("/"))
                        with open(path, "rb") as fh:
                            tar.addfile(_member(rel, os.fstat(fh.fileno()).st_size), fh)
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
               "tar_sha256": plain.hash.hexdigest(),
               "gzip": {"level": GZIP_LEVEL, "zlib": zlib.ZLIB_RUNTIME_VERSION},
               "contents": contents, "zoo_version": __version__,
               "note": f"python -m zoo publish --all (or {name}) writes it from exported/{name}/; "
                       f"fetched and verified by zoo.load_model / python -m zoo download {name}"}
    if index:
        write_index(release, name, index_dir)
    return release, final


def publish_all(out: str = "dist", index_dir: str | None = None, exported: str | None = None) -> dict:
    """Regenerate the whole release index from the exports: publish every model with an
    exported ``card.json`` into ``out``, then (only once all succeeded) write each record to
    ``<index_dir>/<name>.json`` and remove the records of models no longer exported.
    Returns ``{name: (release, archive path)}``."""
    from .predictor import exported_dir
    root = exported or exported_dir()
    names = sorted(n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n, "card.json")))
    done = {n: publish(n, out=out, directory=os.path.join(root, n), index=False) for n in names}
    index_dir = index_dir or RELEASES_DIR
    for n, (release, _) in done.items():
        write_index(release, n, index_dir)
    for f in sorted(os.listdir(index_dir)):
        if f.endswith(".json") and f[:-len(".json")] not in done:
            os.remove(os.path.join(index_dir, f))
    return done
