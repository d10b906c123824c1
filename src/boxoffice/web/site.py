"""The pages' files, read once when the app is built and kept in memory.

A sale sends every fan to the same few small files at the same minute, so they are
cached hard: each asset lives under a URL that names the hash of the whole set
(``/assets/<version>/fan.js``) and is cached for a year as immutable, and the two
pages are revalidated on every load (``no-cache`` with an ETag), which costs a 304
and nothing else. A fan who reloads the waiting room twenty times fetches the
assets once; a new release changes the version, so nobody runs a stale mix of
modules. ES modules import each other by relative URL, so they stay in one version.

The fan's page may be framed by the ticketing site's own pages (EMBEDDING_ORIGINS):
its policy then names them as frame ancestors, and the page itself lists them, so
that it takes a token from them alone (static/embedded.js). The control room is
never framed.
"""

from __future__ import annotations

import gzip
import hashlib
import html
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files

ASSETS_PATH = "/assets"
ASSETS_PLACEHOLDER = b"{{assets}}"
ORIGINS_PLACEHOLDER = b"{{embedding_origins}}"
PAGE_FILES = {"/": "fan.html", "/operator": "operator.html"}
FRAMED_PAGE = "/"

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
ASSET_CACHE = "public, max-age=31536000, immutable"
PAGE_CACHE = "no-cache"


def content_security_policy(frame_ancestors: Sequence[str] = ()) -> str:
    """The pages run only their own files and talk only to their own origin; only the
    origins named may frame them. Workers (the line's proof of work, pow-worker.js) are
    the pages' own files too."""
    ancestors = " ".join(frame_ancestors) or "'none'"
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "worker-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            f"frame-ancestors {ancestors}",
        )
    )


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    gzipped: bytes
    media_type: str
    etag: str

    @classmethod
    def of(cls, body: bytes, media_type: str) -> StaticFile:
        digest = hashlib.sha256(body).hexdigest()[:20]
        return cls(
            body=body,
            gzipped=gzip.compress(body, compresslevel=9, mtime=0),
            media_type=media_type,
            etag=f'"{digest}"',
        )


@dataclass(frozen=True, slots=True)
class Site:
    version: str
    assets: dict[str, StaticFile]
    pages: dict[str, StaticFile]
    policies: dict[str, str]


def load_site(*, embedding_origins: Sequence[str] = ()) -> Site:
    """The files, with the pages filled in: the assets' URL and, on the fan's page, the
    origins that may frame it (checked by Settings; escaped all the same)."""
    folder = files("boxoffice.web") / "static"
    raw = {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and _suffix(entry.name) in MEDIA_TYPES
    }
    whole = hashlib.sha256()
    for name in sorted(raw):
        whole.update(name.encode() + b"\0" + raw[name] + b"\0")
    version = whole.hexdigest()[:12]
    page_names = set(PAGE_FILES.values())
    assets = {
        name: StaticFile.of(body, MEDIA_TYPES[_suffix(name)])
        for name, body in raw.items()
        if name not in page_names
    }
    prefix = f"{ASSETS_PATH}/{version}".encode()
    origins = html.escape(" ".join(embedding_origins)).encode()
    pages = {
        path: StaticFile.of(
            raw[name].replace(ASSETS_PLACEHOLDER, prefix).replace(ORIGINS_PLACEHOLDER, origins),
            MEDIA_TYPES[".html"],
        )
        for path, name in PAGE_FILES.items()
    }
    policies = {
        path: content_security_policy(embedding_origins if path == FRAMED_PAGE else ())
        for path in PAGE_FILES
    }
    return Site(version=version, assets=assets, pages=pages, policies=policies)


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:] if dot >= 0 else ""
