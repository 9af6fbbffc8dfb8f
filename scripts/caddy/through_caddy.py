"""tessera serve through Caddy (deploy/Caddyfile), as a visitor sees it. Standard library only.

Usage: python3 through_caddy.py SITE ADMIN
  SITE   Caddy's address (http://127.0.0.1:PORT): the map at /, the API under /api/
  ADMIN  tessera's admin listener, with its base path (http://127.0.0.1:PORT/api)

Exits non-zero on the first failed check.
"""

import http.client
import json
import socket
import sys
import time
import urllib.parse
import urllib.request

SITE, ADMIN = sys.argv[1], sys.argv[2]
failures = 0


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    failures += 0 if ok else 1


def fetch(url, headers=None, source=None):
    """Status, headers (lower-case names) and body of a GET, from `source` when given."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30,
                                            source_address=(source, 0) if source else None)
    connection.request("GET", parts.path + ("?" + parts.query if parts.query else ""), headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def held_request(source):
    """A POST /api/search from `source` whose body never ends: in flight until closed."""
    host, port = urllib.parse.urlsplit(SITE).hostname, urllib.parse.urlsplit(SITE).port
    sock = socket.create_connection((host, port), source_address=(source, 0))
    sock.sendall(b"POST /api/search HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{")
    return sock


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# The landing page: every link under /api on Caddy's address.
status, _, body = fetch(f"{SITE}/api/")
landing = json.loads(body)
hrefs = [link["href"] for link in landing["links"]]
check(status == 200 and all(h.startswith(f"{SITE}/api") for h in hrefs), f"the landing page's {len(hrefs)} links are under {SITE}/api")

# A search pages by its next links.
url, seen, pages = f"{SITE}/api/search?collections=geotessera-2024&bbox=-10,35,30,60&limit=50", set(), 0
matched = None
while url and pages < 20:
    status, _, body = fetch(url)
    page = json.loads(body)
    matched = page["numberMatched"] if matched is None else matched
    ids = [item["id"] for item in page["features"]]
    check(status == 200 and not seen.intersection(ids), f"page {pages + 1}: {len(ids)} new items") if pages < 2 else None
    seen.update(ids)
    pages += 1
    url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
check(len(seen) == matched, f"the search paged whole through Caddy: {len(seen)} items of {matched}, {pages} pages")

# Compression and the cache headers a CDN needs.
status, headers, _ = fetch(f"{SITE}/api/search?limit=10", {"Accept-Encoding": "gzip"})
check(headers.get("content-encoding") == "gzip", f"a search page is compressed by Caddy ({headers.get('content-encoding')})")
status, headers, body = fetch(f"{SITE}/api/coverage/okavango/2024", {"Accept-Encoding": "br"})
etag, cache = headers.get("etag"), headers.get("cache-control", "")
check(status == 200 and headers.get("content-encoding") == "br" and etag and "public" in cache,
      f"a coverage bitmap: br, ETag {etag}, Cache-Control {cache!r}")
status, headers, _ = fetch(f"{SITE}/api/coverage/okavango/2024", {"Accept-Encoding": "br", "If-None-Match": etag})
check(status == 304, f"revalidated with its ETag: {status}")
status, headers, _ = fetch(f"{SITE}/")
check(status == 200 and headers.get("etag") and "max-age" in headers.get("cache-control", ""),
      f"the map's index.html at /: ETag {headers.get('etag')}, Cache-Control {headers.get('cache-control')!r}")
status, headers, _ = fetch(f"{SITE}/pkg/tessera_web_bg.wasm", {"Accept-Encoding": "gzip"})
check(status == 200 and headers.get("content-encoding") == "gzip", "the map's WebAssembly, compressed")

# Operator data stays on the admin listener.
status, _, _ = fetch(f"{SITE}/api/metrics")
check(status == 404, f"/api/metrics through Caddy: {status}")
status, _, body = fetch(f"{SITE}/api/coverage")
check(status == 200 and all("storage" not in s for s in json.loads(body)["stores"]), "/api/coverage through Caddy names no storage")
status, _, body = fetch(f"{SITE}/api/copylist/okavango/scaleway?year=2024")
check(status == 404, f"/api/copylist through Caddy: {status}")
status, _, body = fetch(f"{ADMIN}/coverage")
check(status == 200 and all("storage" in s for s in json.loads(body)["stores"]), "the admin listener names each store's storage")

# The per-client cap (2 here) counts the visitors Caddy names, not Caddy: 127.0.0.2 holds two
# requests in flight, and its third is refused while 127.0.0.3 is served.
held = [held_request("127.0.0.2") for _ in range(2)]
deadline = time.time() + 10
while metric(fetch(f"{ADMIN}/metrics")[2].decode(), "tessera_clients ") < 2 and time.time() < deadline:
    time.sleep(0.05)
time.sleep(0.2)
status_a, headers_a, _ = fetch(f"{SITE}/api/healthz", source="127.0.0.2")
status_b, _, _ = fetch(f"{SITE}/api/healthz", source="127.0.0.3")
check(status_a == 429 and headers_a.get("retry-after") == "1", f"127.0.0.2 at its cap: {status_a}")
check(status_b == 200, f"127.0.0.3 beside it: {status_b}")
for sock in held:
    sock.close()
deadline, status_a = time.time() + 10, 0
while status_a != 200 and time.time() < deadline:
    status_a = fetch(f"{SITE}/api/healthz", source="127.0.0.2")[0]
    time.sleep(0.05)
check(status_a == 200, "127.0.0.2 is served again once its requests end")
refusals = metric(fetch(f"{ADMIN}/metrics")[2].decode(), 'tessera_client_cap_refusals_total{unit="request"}')
check(refusals >= 1, f"the refusal is counted in /metrics: {refusals}")

if failures:
    sys.exit(f"{failures} check(s) through Caddy failed")
print("through Caddy: all checks passed")
