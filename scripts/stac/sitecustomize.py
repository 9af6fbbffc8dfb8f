"""Offline JSON schemas for stac-api-validator, loaded through PYTHONPATH.

The validator fetches STAC, GeoJSON and JSON Schema documents from the internet. CI has no
internet, so requests for those hosts are answered from the schema files that PyPI packages
already ship (pystac ships STAC 1.1.0 and GeoJSON, jsonschema-specifications ships draft-07).
Extension schemas (stac-extensions.github.io) are answered from TESSERA_SCHEMA_DIR when it holds
them (laid out as <host>/<path>), else with a permissive empty schema. Every other request goes
out unchanged (the server under test is on 127.0.0.1).
"""

import email.message
import importlib.util
import io
import json
import os
import urllib.error
import urllib.parse
import urllib.request
import urllib.response

SCHEMA_HOSTS = {"schemas.stacspec.org", "geojson.org", "json-schema.org", "stac-extensions.github.io"}


def _package_dir(name):
    spec = importlib.util.find_spec(name)
    return os.path.dirname(spec.origin) if spec and spec.origin else None


def _candidates(url):
    parts = urllib.parse.urlsplit(url)
    path = parts.path.strip("/")
    found = []
    local = os.environ.get("TESSERA_SCHEMA_DIR")
    if local:
        found.append(os.path.join(local, parts.hostname, path))
    pystac = _package_dir("pystac")
    specs = _package_dir("jsonschema_specifications")
    name = os.path.basename(path)
    if pystac and parts.hostname == "schemas.stacspec.org" and path.startswith("v1.1.0/"):
        found.append(os.path.join(pystac, "validation", "jsonschemas", "stac-spec", "v1.1.0", name))
    if pystac and parts.hostname == "geojson.org":
        found.append(os.path.join(pystac, "validation", "jsonschemas", "geojson", name))
    if specs and parts.hostname == "json-schema.org" and "draft-07" in path:
        found.append(os.path.join(specs, "schemas", "draft7", "metaschema.json"))
    return found


def schema_bytes(url):
    """The schema at url from local files, a permissive one for extensions, None when unknown."""
    for path in _candidates(url):
        if os.path.isfile(path):
            with open(path, "rb") as f:
                return f.read()
    if urllib.parse.urlsplit(url).hostname == "stac-extensions.github.io":
        # pystac needs an id in every schema it caches.
        return json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", "$id": url}).encode()
    return None


def _is_schema_url(url):
    return isinstance(url, str) and urllib.parse.urlsplit(url).hostname in SCHEMA_HOSTS


def _install_requests_hook():
    try:
        import requests.adapters
        import requests.models
    except ImportError:
        return
    real_send = requests.adapters.HTTPAdapter.send

    def send(self, request, *args, **kwargs):
        if not _is_schema_url(request.url):
            return real_send(self, request, *args, **kwargs)
        body = schema_bytes(request.url)
        response = requests.models.Response()
        response.url, response.request, response.encoding = request.url, request, "utf-8"
        response.status_code = 200 if body is not None else 404
        response._content = body if body is not None else b"no offline copy"
        return response

    requests.adapters.HTTPAdapter.send = send


def _install_urllib_hook():
    real_urlopen = urllib.request.urlopen

    def urlopen(url, *args, **kwargs):
        text = url.full_url if isinstance(url, urllib.request.Request) else url
        if not _is_schema_url(text):
            return real_urlopen(url, *args, **kwargs)
        body = schema_bytes(text)
        if body is None:
            raise urllib.error.HTTPError(text, 404, "no offline copy", email.message.Message(), None)
        headers = email.message.Message()
        headers["Content-Type"] = "application/json"
        return urllib.response.addinfourl(io.BytesIO(body), headers, text, 200)

    urllib.request.urlopen = urlopen


class _OfflineResponse(io.BytesIO):
    """Enough of urllib3's HTTPResponse for pystac's schema reads."""

    def __init__(self, body, status):
        super().__init__(body)
        self.status, self.reason, self.headers, self.data = status, "offline", {}, body


def _install_urllib3_hook():
    try:
        import urllib3
    except ImportError:
        return
    real_request = urllib3.PoolManager.request

    def request(self, method, url, *args, **kwargs):
        if not _is_schema_url(url):
            return real_request(self, method, url, *args, **kwargs)
        body = schema_bytes(url)
        return _OfflineResponse(body if body is not None else b"no offline copy", 200 if body is not None else 404)

    urllib3.PoolManager.request = request


_install_requests_hook()
_install_urllib_hook()
_install_urllib3_hook()
