"""The published site without third-party CDNs: asv's page, with its scripts served from the site itself.

asv (0.6) writes an ``index.html`` that loads jQuery, flot, bootstrap, stupidtable and md5
from code.jquery.com, cdnjs and jsdelivr. Behind a firewall, on an intranet, or offline,
that page stays blank. This puts the same libraries (the same versions, from the npm
registry, each tarball checked against its pinned sha512) under ``vendor/`` in the site
and points the page at them. Where a local file is byte-identical to the CDN's, the
page's ``integrity`` attribute is kept (the browser checks it); where it is not (cdnjs
serves its own minified builds; npm has no stupidtable 1.0.1, so 1.1.3, its compatible
successor, stands in), the attribute goes.

A CDN address this table does not know fails loudly, so an asv upgrade cannot quietly
bring the dependency back.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    sha512: str  # the npm registry's `dist.integrity` of the tarball

    @property
    def tarball(self) -> str:
        registry = os.environ.get("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org").rstrip("/")
        return f"{registry}/{self.name}/-/{self.name}-{self.version}.tgz"


JQUERY = Package(
    "jquery", "3.3.1", "Ubldcmxp5np52/ENotGxlLe6aGMvmF4R8S6tZjsP6Knsaxd/xp3Zrh50cG93lR6nPXyUFwzN3ZSOQI0wRJNdGg=="
)
FLOT = Package(
    "flot", "0.8.3", "xg2otcTJDvS+ERK+my4wxG/ASq90QURXtoM4LhacCq0jQW2jbyjdttbRNqU2cPykrpMvJ6b2uSp6SAgYAzj9tQ=="
)
ORDERBARS = Package(
    "flot-orderbars",
    "1.0.0",
    "Jv51fvzevUjNXEeozpwEKfPjhiZhfiJddv0WHjduUTCmSF+7T5K7C9c9Y1wIVmUhDBv5fLMjgbwKecT0GIKPZA==",
)
STUPIDTABLE = Package(
    "stupid-table-plugin",
    "1.1.3",
    "2Vk7XouQPxUQPRe9w0Fu7ZZ8kHLK7rDoLMsCgtKxRNJ7f4dSOGvW9CkHsq5wD6QsaEnWoyLBYH3xOEsrK3yWBg==",
)
MD5 = Package(
    "blueimp-md5", "2.19.0", "DRQrD6gJyy8FbiE4s+bDoXS9hiW3Vbx5uCdwvcCf3zLHL+Iv7LtGHLpr+GZV8rHG8tK766FGYBwRbu8pELTt+w=="
)
BOOTSTRAP = Package(
    "bootstrap", "3.1.1", "TAzqS8E/ISpVHP29gYhy+1NSV+FJwApDVQhDfgLYsIuUDJiqJzH2DfORN5tiu+Ie2iBLrzEG34t4Rf465cigqg=="
)

# CDN address in asv's index.html -> (package, file in its tarball, where it goes under vendor/)
ASSETS: dict[str, tuple[Package, str, str]] = {
    "https://code.jquery.com/jquery-3.3.1.min.js": (JQUERY, "dist/jquery.min.js", "jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": (FLOT, "jquery.flot.js", "jquery.flot.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js":
        (FLOT, "jquery.flot.time.js", "jquery.flot.time.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js":
        (FLOT, "jquery.flot.selection.js", "jquery.flot.selection.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js":
        (FLOT, "jquery.flot.categories.js", "jquery.flot.categories.js"),
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js":
        (ORDERBARS, "js/jquery.flot.orderBars.js", "jquery.flot.orderBars.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js":
        (STUPIDTABLE, "stupidtable.min.js", "stupidtable.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js": (MD5, "js/md5.min.js", "md5.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js":
        (BOOTSTRAP, "dist/js/bootstrap.min.js", "bootstrap/js/bootstrap.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css":
        (BOOTSTRAP, "dist/css/bootstrap.min.css", "bootstrap/css/bootstrap.min.css"),
}  # fmt: skip
# bootstrap.min.css loads its icon font from ../fonts/ relative to itself
FONT = "glyphicons-halflings-regular"
EXTRA_FILES = [
    (BOOTSTRAP, f"dist/fonts/{FONT}.{e}", f"bootstrap/fonts/{FONT}.{e}") for e in ("eot", "svg", "ttf", "woff")
]

EXTERNAL = re.compile(r'(?P<attr>src|href)="(?P<url>https://[^"]+)"')
INTEGRITY = re.compile(r'\s+integrity="(?P<value>[^"]+)"')


class VendorError(RuntimeError):
    pass


def fetch(package: Package, cache: Path) -> bytes:
    """The package's tarball, from ``cache`` or the registry, checked against its pinned sha512."""
    path = cache / f"{package.name}-{package.version}.tgz"
    if path.exists():
        data = path.read_bytes()
    else:
        with urllib.request.urlopen(package.tarball, timeout=60) as response:
            data = response.read()
    digest = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != package.sha512:
        raise VendorError(f"{package.tarball}: sha512 {digest} is not the pinned {package.sha512}")
    cache.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def member(package: Package, inner: str, cache: Path) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(fetch(package, cache)), mode="r:gz") as archive:
        extracted = archive.extractfile(f"package/{inner}")
        if extracted is None:
            raise VendorError(f"{package.name}@{package.version} has no file {inner}")
        return extracted.read()


def matches(integrity: str, data: bytes) -> bool:
    algorithm, _, expected = integrity.partition("-")
    return base64.b64encode(hashlib.new(algorithm, data).digest()).decode() == expected


def vendor(html_dir: Path, cache: Path) -> list[str]:
    """Rewrites ``html_dir/index.html`` to load its libraries from ``html_dir/vendor/``; returns what changed."""
    index = html_dir / "index.html"
    page = index.read_text()
    notes: list[str] = []
    for package, inner, target in EXTRA_FILES:
        _write(html_dir / "vendor" / target, member(package, inner, cache))

    def local(tag: re.Match[str]) -> str:
        text = tag.group(0)
        found = EXTERNAL.search(text)
        if found is None or "github.com" in found.group("url"):
            return text  # no external asset, or a plain link (asv's own home page)
        url = found.group("url")
        if url not in ASSETS:
            raise VendorError(f"{index}: loads {url}, which vendor.py does not know; add it to ASSETS")
        package, inner, target = ASSETS[url]
        data = member(package, inner, cache)
        _write(html_dir / "vendor" / target, data)
        text = text.replace(url, f"vendor/{target}")
        integrity = INTEGRITY.search(text)
        if integrity and not matches(integrity.group("value"), data):
            text = INTEGRITY.sub("", text)
            notes.append(f"{url} -> vendor/{target} ({package.name}@{package.version}; not the CDN's bytes)")
        else:
            notes.append(f"{url} -> vendor/{target} (same bytes, integrity kept)")
        return text

    page = re.sub(r"<(?:script|link)\b[^>]*>", local, page)
    _write(index, page.encode())
    return notes


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_bytes(data)
    temporary.replace(path)
