"""A pystac-client session against `tessera serve` on the small demo inventory.

Usage: client_check.py ROOT_URL [TESSERA INVENTORY]. With the tessera binary and the served
inventory, a filtered search is compared with `tessera diff`. Any pystac-client warning (a missing conformance class, link
or count) is an error here, as is any mismatch below. Exits 0 when everything holds.
"""

import json
import subprocess
import sys
import urllib.request
import warnings

from pystac_client import Client
from pystac_client.warnings import PystacClientWarning

warnings.simplefilter("error", PystacClientWarning)
root = sys.argv[1]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


client = Client.open(root)
collections = {c.id: c for c in client.get_collections()}
check(set(collections) == {f"geotessera-{y}" for y in range(2017, 2026)}, f"one collection per year: {sorted(collections)}")
spatial = collections["geotessera-2024"].extent.spatial.bboxes[0]
check(spatial[0] <= 20 and spatial[2] >= 21 and spatial[1] <= 20 and spatial[3] >= 21, f"2024 extent {spatial} covers the probe box")

# The probe box lon 20..21, lat 20..21 holds all 100 of its cells in every year of the demo.
box = [20.0, 20.0, 21.0, 21.0]
for method in ["POST", "GET"]:
    search = client.search(method=method, bbox=box, datetime="2024", collections=["geotessera-2024"], limit=7, max_items=1000)
    pages = list(search.pages_as_dicts())
    items = [item for page in pages for item in page["features"]]
    ids = [item["id"] for item in items]
    check(len(pages) > 3, f"{method}: paged through {len(pages)} pages of 7")
    check(len(ids) == 100 and len(set(ids)) == 100, f"{method}: 100 distinct items, got {len(ids)} ({len(set(ids))} distinct)")
    check(search.matched() == 100, f"{method}: matched() is 100, got {search.matched()}")
    check(all(i["collection"] == "geotessera-2024" for i in items), f"{method}: every item is in geotessera-2024")
    inside = all(20 <= i["bbox"][0] and i["bbox"][2] <= 21 and 20 <= i["bbox"][1] and i["bbox"][3] <= 21 for i in items)
    check(inside, f"{method}: every footprint lies in the box")

capped = list(client.search(bbox=box, collections=["geotessera-2024"], max_items=12, limit=5).items())
check(len(capped) == 12, f"max_items=12 gives 12 items, got {len(capped)}")

newest_first = list(client.search(bbox=[20.0, 20.0, 20.2, 20.2], sortby="-properties.datetime", limit=3, max_items=100).items_as_dicts())
years = [item["properties"]["datetime"][:4] for item in newest_first]
check(years == sorted(years, reverse=True) and len(years) == 4 * 9, f"sortby -datetime: {len(years)} items, newest year first")

item = client.get_collection("geotessera-2024").get_item("2024_grid_0.85_49.95")
check(item is not None, "the example item 2024_grid_0.85_49.95 is found")
if item is not None:
    embeddings = item.assets["embeddings"]
    check(embeddings.href.endswith("/2024/grid_0.85_49.95/grid_0.85_49.95.npy"), f"embeddings href {embeddings.href}")
    check(set(item.assets) == {"embeddings", "scales", "checksums"}, f"assets {sorted(item.assets)}")
    checksum = embeddings.extra_fields.get("file:checksum", "")
    check(checksum.startswith("1220") and len(checksum) == 68, f"file:checksum is a sha2-256 multihash: {checksum}")
    alternates = embeddings.extra_fields.get("alternate", {})
    check(set(alternates) <= {"s3", "scaleway"} and all(a["href"].endswith(".npy") for a in alternates.values()), f"alternate hrefs on {sorted(alternates)}")
    check(item.geometry["coordinates"][0][0] == [0.8, 49.9], f"footprint starts at the south-west corner: {item.geometry['coordinates'][0][0]}")

# Collection search, answered by the server (pystac-client filters on its side, with a warning
# that fails this check, when the server does not conform).
found = [c.id for c in client.collection_search(datetime="2019-03-01/2020-06-30", limit=1).collections()]
check(found == ["geotessera-2019", "geotessera-2020"], f"collection search by datetime, a page at a time: {found}")
found = [c.id for c in client.collection_search(q="2021,2023").collections()]
check(found == ["geotessera-2021", "geotessera-2023"], f"collection search by free text: {found}")
found = [c.id for c in client.collection_search(bbox=box).collections()]
check(len(found) == 9, f"collection search by a box every year covers: {found}")

# A gap as a user asks it of the API: scaleway's missing tiles of 2024 (those okavango holds),
# as a CQL2-JSON dict and as CQL2-text; each pages every tile once and counts what diff counts.
if len(sys.argv) >= 4:
    tessera, inventory = sys.argv[2], sys.argv[3]
    diff = int(subprocess.run([tessera, "--inventory", inventory, "diff", "okavango", "scaleway", "--year", "2024", "--count"],
                              check=True, capture_output=True, text=True).stdout)
    lacks = {"op": "not", "args": [{"op": "a_contains", "args": [{"property": "tessera:stores"}, ["scaleway"]]}]}
    holds = {"op": "a_contains", "args": [{"property": "tessera:stores"}, ["okavango"]]}
    as_json = {"op": "and", "args": [lacks, holds]}
    as_text = "NOT a_contains(tessera:stores, ('scaleway')) AND a_contains(tessera:stores, ('okavango'))"
    for method in ["POST", "GET"]:
        for filter in [as_json, as_text]:
            search = client.search(method=method, filter=filter, collections=["geotessera-2024"], limit=50, max_items=100_000)
            ids = [item["id"] for page in search.pages_as_dicts() for item in page["features"]]
            kind = "dict" if isinstance(filter, dict) else "text"
            check(len(ids) == diff and len(set(ids)) == diff, f"{method} filter ({kind}): {len(ids)} items ({len(set(ids))} distinct), diff counts {diff}")
            check(search.matched() == diff, f"{method} filter ({kind}): matched() {search.matched()} == {diff}")
    # The URL `tessera diff --stac-url` prints for the same gap, paged by its next links.
    url = subprocess.run([tessera, "--inventory", inventory, "diff", "okavango", "scaleway", "--year", "2024", "--stac-url", root],
                         check=True, capture_output=True, text=True).stdout.strip()
    ids = []
    while url:
        with urllib.request.urlopen(url, timeout=30) as reply:
            page = json.load(reply)
        ids += [item["id"] for item in page["features"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    check(len(ids) == diff and len(set(ids)) == diff, f"diff --stac-url pages {len(ids)} items ({len(set(ids))} distinct), diff counts {diff}")

if failures:
    print(f"{len(failures)} check(s) failed", file=sys.stderr)
    sys.exit(1)
print("pystac-client: all checks passed")
