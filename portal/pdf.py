"""PDFs rendered with WeasyPrint (statements, attestation certificates) load only the
project's own static files: `StaticOnlyURLFetcher` refuses remote URLs and `file://`, so a
document never fetches anything over the network."""

from __future__ import annotations

import mimetypes
import os
import posixpath
from urllib.parse import unquote, urlsplit
from urllib.request import DataHandler, Request

from django.contrib.staticfiles import finders
from weasyprint.urls import URLFetcher, URLFetcherResponse

# The document's base URL. WeasyPrint turns a base URL without a scheme (such as
# "/static/") into a file:// URL, so the static files get an origin of their own on
# a reserved name (RFC 2606) that never resolves. Nothing under it is fetched over a
# network: StaticOnlyURLFetcher maps its paths to the staticfiles finders.
STATIC_ORIGIN = "https://static.statement.invalid"
STATIC_PREFIX = "/static/"
STATIC_BASE_URL = STATIC_ORIGIN + STATIC_PREFIX


# -- URL fetching -----------------------------------------------------------------


def _static_path(url: str) -> str | None:
    """The static file path `url` names (relative to the static roots), or None."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        if f"{parts.scheme}://{parts.netloc}".lower() != STATIC_ORIGIN:
            return None
        path = unquote(parts.path)
    else:
        path = unquote(parts.path)
        if not path.startswith("/"):
            path = STATIC_PREFIX + path  # relative to the static root
    if not path.startswith(STATIC_PREFIX):
        return None
    relative = posixpath.normpath(path[len(STATIC_PREFIX) :])
    if relative in ("", ".") or relative.startswith(("..", "/")) or "\\" in relative:
        return None
    return relative


def static_only_url_fetcher(url, timeout=10, ssl_context=None) -> URLFetcherResponse:
    """Serve the project's static files and `data:` URLs; refuse everything else.

    Accepts "/static/css/x.css", "css/x.css" (relative to the static root) and the
    same paths under STATIC_BASE_URL (what WeasyPrint asks for once it has joined a
    relative URL to the document's base URL). Raises ValueError for any other URL:
    http(s), file://, ftp and so on. `timeout` and `ssl_context` are accepted for
    compatibility with WeasyPrint's fetcher signature and unused: nothing here
    touches the network.

    WeasyPrint 70 needs a URLFetcher instance, not a function: pass
    `StaticOnlyURLFetcher()` as `url_fetcher`.
    """
    if url.startswith("data:"):
        response = DataHandler().data_open(Request(url))
        return URLFetcherResponse(
            url, body=response.read(), headers={"Content-Type": response.headers["Content-Type"]}
        )
    relative = _static_path(url)
    if relative is None:
        raise ValueError(f"Statements only load the project's static files, not {url!r}.")
    found = finders.find(relative)
    if not found or not os.path.isfile(found):
        raise ValueError(f"No static file {relative!r}.")
    with open(found, "rb") as file:
        body = file.read()
    mime_type = mimetypes.guess_type(relative)[0] or "application/octet-stream"
    if mime_type.startswith("text/") or mime_type == "image/svg+xml":
        mime_type += "; charset=utf-8"
    served_url = STATIC_BASE_URL + relative  # relative URLs inside a stylesheet join to it
    return URLFetcherResponse(served_url, body=body, headers={"Content-Type": mime_type})


class StaticOnlyURLFetcher(URLFetcher):
    """WeasyPrint 70's fetcher interface around `static_only_url_fetcher`.

    With `fail_on_errors=False` (the default) a refused resource is logged by
    WeasyPrint and skipped; with True it stops the rendering.
    """

    def fetch(self, url, headers=None):
        return static_only_url_fetcher(url)
