//! The engine on the full demo inventory (3.8M tiles, 3 stores), with croaring's zero-copy
//! view measured in the same process as the peer to beat.
//!
//! Run: `cargo bench -p tessera-benches --bench engine` (generates the demo inventory in
//! `target/bench-demo` on first use). `cargo test --all-targets` runs each case once on the
//! small demo, so the benches stay compiled and working.
//!
//! Cases: diff okavango - scaleway (ids, ranges, count; croaring andnot and
//! andnot_cardinality), s3 - okavango (24 extra tiles), the reverse direction scaleway -
//! okavango (nothing missing, every container different), bbox counts of 1 and 10 degrees
//! over all years, per-year counts, copy-list rendering of the diff, opening one store's view,
//! and a cold open of the whole inventory (map + verify every index).

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use croaring::{BitmapView, Portable};
use tessera_benches::{demo_dir, demo_inventory};
use tessera_engine::bitmap::{RoaringView, kernels};
use tessera_engine::copylist::{KeyStyle, KeyWriter};
use tessera_engine::grid::Bbox;
use tessera_engine::inventory::{Filter, Inventory, TileSet};

fn tiles<'a>(inventory: &'a Inventory, name: &str) -> &'a TileSet {
    &inventory.store(name).expect("demo store").tiles
}

#[allow(unsafe_code)]
fn croaring_view(bytes: &[u8]) -> BitmapView<'_> {
    // SAFETY: the bytes are a portable bitmap that our index verified (checksum + structure)
    // when the inventory was opened.
    unsafe { BitmapView::deserialize::<Portable>(bytes) }
}

fn diff(c: &mut Criterion) {
    eprintln!("machine: {}", tessera_benches::machine());
    let inventory = demo_inventory();
    let (okavango, scaleway, s3) =
        (tiles(&inventory, "okavango"), tiles(&inventory, "scaleway"), tiles(&inventory, "s3"));
    let (c_okavango, c_scaleway, c_s3) =
        (croaring_view(okavango.bytes()), croaring_view(scaleway.bytes()), croaring_view(s3.bytes()));
    let mut group = c.benchmark_group("diff okavango-scaleway");
    group.bench_function("tessera ids", |b| b.iter(|| kernels::andnot_ids(black_box(okavango), black_box(scaleway))));
    group.bench_function("tessera ranges", |b| {
        b.iter(|| kernels::andnot_ranges(black_box(okavango), black_box(scaleway)))
    });
    group.bench_function("tessera count", |b| {
        b.iter(|| kernels::andnot_count(black_box(okavango), black_box(scaleway)))
    });
    group.bench_function("croaring view andnot", |b| b.iter(|| black_box(&c_okavango).andnot(black_box(&c_scaleway))));
    group.bench_function("croaring view andnot_cardinality", |b| {
        b.iter(|| black_box(&c_okavango).andnot_cardinality(black_box(&c_scaleway)))
    });
    by_delta(&mut group, &inventory, "okavango", "scaleway");
    group.finish();

    let mut group = c.benchmark_group("diff s3-okavango");
    group.bench_function("tessera ids", |b| b.iter(|| kernels::andnot_ids(black_box(s3), black_box(okavango))));
    group.bench_function("tessera count", |b| b.iter(|| kernels::andnot_count(black_box(s3), black_box(okavango))));
    group.bench_function("croaring view andnot", |b| b.iter(|| black_box(&c_s3).andnot(black_box(&c_okavango))));
    group.bench_function("croaring view andnot_cardinality", |b| {
        b.iter(|| black_box(&c_s3).andnot_cardinality(black_box(&c_okavango)))
    });
    group.finish();

    // The mirror minus the primary: nothing is missing, but every container differs (the
    // mirror's 9,184 holes), so the kernel cannot skip any of them.
    let mut group = c.benchmark_group("diff scaleway-okavango");
    group.bench_function("tessera ids", |b| b.iter(|| kernels::andnot_ids(black_box(scaleway), black_box(okavango))));
    group.bench_function("tessera count", |b| {
        b.iter(|| kernels::andnot_count(black_box(scaleway), black_box(okavango)))
    });
    group.bench_function("croaring view andnot", |b| b.iter(|| black_box(&c_scaleway).andnot(black_box(&c_okavango))));
    group.bench_function("croaring view andnot_cardinality", |b| {
        b.iter(|| black_box(&c_scaleway).andnot_cardinality(black_box(&c_okavango)))
    });
    by_delta(&mut group, &inventory, "scaleway", "okavango");
    group.finish();
}

/// The same diff as the inventory answers it (`tessera diff`, the server, Python): from the
/// two stores' differences from the registry (`stores/NAME.delta`).
fn by_delta(group: &mut BenchmarkGroup<'_, WallTime>, inventory: &Inventory, source: &str, target: &str) {
    let everywhere = Filter::default();
    group.bench_function("inventory ranges (deltas)", |b| {
        b.iter(|| inventory.missing(black_box(source), black_box(target), &everywhere).expect("diff"))
    });
    group.bench_function("inventory count (deltas)", |b| {
        b.iter(|| inventory.missing_count(black_box(source), black_box(target), &everywhere).expect("diff"))
    });
}

fn queries(c: &mut Criterion) {
    let inventory = demo_inventory();
    let okavango = tiles(&inventory, "okavango");
    let mut group = c.benchmark_group("queries okavango");
    for (name, bbox) in [("bbox 1 degree", "20,20,21,21"), ("bbox 10 degrees", "0,45,10,55")] {
        let filter = Filter { years: Vec::new(), bbox: Some(Bbox::parse(bbox).expect("valid bbox")) };
        group.bench_function(format!("{name} count, all years"), |b| {
            b.iter(|| inventory.count(black_box(okavango), black_box(&filter)).expect("count"))
        });
    }
    group.bench_function("per-year counts", |b| b.iter(|| inventory.year_counts(black_box(okavango))));
    // What `diff --year 2024 --count` and Python's `missing_count(..., year=2024)` run: only the
    // year's containers are compared.
    let year = Filter { years: vec![2024], bbox: None };
    group.bench_function("diff okavango-scaleway count, one year", |b| {
        b.iter(|| inventory.missing_count("okavango", "scaleway", black_box(&year)).expect("diff"))
    });
    let missing = inventory.missing("okavango", "scaleway", &Filter::default()).expect("diff");
    let writer = KeyWriter::new(inventory.years());
    let mut out = Vec::with_capacity(1 << 20);
    group.bench_function("diff plus s5cmd copy list, okavango to scaleway", |b| {
        b.iter(|| {
            out.clear();
            let missing = inventory.missing("okavango", "scaleway", &Filter::default()).expect("diff");
            writer.write_s5cmd(&missing, "/data/v1", "s3://bucket/v1", &mut out).expect("write to a Vec");
        })
    });
    group.bench_function("copy list of the okavango-scaleway diff", |b| {
        b.iter(|| {
            out.clear();
            writer.write_lines(black_box(&missing), KeyStyle::Key, &mut out).expect("write to a Vec");
        })
    });
    group.finish();
}

fn open(c: &mut Criterion) {
    let inventory = demo_inventory();
    let bytes = tiles(&inventory, "okavango").bytes().to_vec();
    let mut group = c.benchmark_group("open");
    group.bench_function("view of one store (structural checks)", |b| {
        b.iter(|| RoaringView::open(black_box(&bytes[..])).expect("valid"))
    });
    group.bench_function("croaring view of one store", |b| {
        b.iter(|| croaring_view(black_box(&bytes[..])).cardinality())
    });
    let dir = demo_dir();
    group.bench_function("cold inventory: map and verify every index", |b| {
        b.iter(|| Inventory::open(black_box(&dir)).expect("opens"))
    });
    group.finish();
}

criterion_group!(benches, diff, queries, open);
criterion_main!(benches);
