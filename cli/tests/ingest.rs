//! `tessera ingest` and `tessera import` on parquet files as other writers make them: every
//! compression codec parquet writers use, and manifests with zero sizes.

mod common;

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatchReader;
use common::{demo, run};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde_json::Value;

fn ok(dir: &Path, args: &[&str]) -> (String, String) {
    let output = run(dir, args, b"");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "tessera {args:?} failed: {stderr}");
    (String::from_utf8(output.stdout).expect("utf-8"), stderr)
}

/// Rewrites the parquet file `from` (every column, every row) with `compression`.
fn rewrite(from: &Path, to: &Path, compression: Compression) {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(from).expect("open")).expect("parquet").build();
    let reader = reader.expect("reader");
    let properties = WriterProperties::builder().set_compression(compression).build();
    let mut writer =
        ArrowWriter::try_new(File::create(to).expect("create"), reader.schema(), Some(properties)).expect("writer");
    for batch in reader {
        writer.write(&batch.expect("a batch")).expect("write");
    }
    writer.close().expect("close");
}

fn status(dir: &Path) -> Value {
    serde_json::from_str(&ok(dir, &["status", "--json"]).0).expect("json")
}

#[test]
fn registries_and_manifests_load_in_every_compression() {
    let (temp, dir) = demo();
    let registry = dir.join("registry.parquet");
    let tiles = status(&dir)["registry"]["tiles"].clone();
    let codecs = [
        ("none", Compression::UNCOMPRESSED),
        ("snappy", Compression::SNAPPY),
        ("gzip", Compression::GZIP(GzipLevel::default())),
        ("lz4", Compression::LZ4),
        ("lz4_raw", Compression::LZ4_RAW),
        ("brotli", Compression::BROTLI(BrotliLevel::default())),
        ("zstd", Compression::ZSTD(ZstdLevel::default())),
    ];
    for (name, codec) in codecs {
        let copy = temp.path().join(format!("registry-{name}.parquet"));
        rewrite(&registry, &copy, codec);
        let copy = copy.to_str().expect("utf-8");
        let (_, said) = ok(&dir, &["import", copy]);
        assert!(said.contains(&format!("imported {tiles} tiles")), "{name}: {said}");
        let (_, said) = ok(&dir, &["ingest", "scaleway", copy]);
        assert!(said.contains(&format!("ingested {tiles} tiles into scaleway")), "{name}: {said}");
        assert_eq!(ok(&dir, &["diff", "registry", "scaleway", "--count"]).0.trim(), "0", "{name}");
        assert_eq!(ok(&dir, &["diff", "scaleway", "registry", "--count"]).0.trim(), "0", "{name}");
    }
    // Another inventory's manifest, with its sizes: the same tiles, the sizes kept.
    let s3 = dir.join("stores/s3.parquet");
    let (_, said) = ok(&dir, &["ingest", "scaleway", s3.to_str().expect("utf-8")]);
    assert!(said.contains("(6 the registry does not list)"), "{said}");
    assert_eq!(ok(&dir, &["diff", "s3", "scaleway", "--count"]).0.trim(), "0");
    assert_eq!(ok(&dir, &["diff", "okavango", "scaleway", "--stale", "--count"]).0.trim(), "0");
}

#[test]
fn zero_sizes_are_a_warning_in_status_and_a_problem_in_check() {
    let (temp, dir) = demo();
    let manifest = temp.path().join("broken.parquet");
    let column = |values: Vec<i64>| -> arrow_array::ArrayRef { Arc::new(arrow_array::Int64Array::from(values)) };
    let int32 = |values: Vec<i32>| -> arrow_array::ArrayRef { Arc::new(arrow_array::Int32Array::from(values)) };
    let batch = arrow_array::RecordBatch::try_from_iter([
        ("year", column(vec![2024, 2024, 2024])),
        ("lon_i", int32(vec![85, 95, 105])),
        ("lat_i", int32(vec![4995, 4995, 4995])),
        ("file_size", column(vec![1000, 0, 1000])),
        ("scales_size", column(vec![100, 100, 100])),
    ])
    .expect("a batch");
    let mut writer =
        ArrowWriter::try_new(File::create(&manifest).expect("create"), batch.schema(), None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    assert!(!ok(&dir, &["status"]).0.contains("Warning"), "the demo has no zero sizes");
    ok(&dir, &["ingest", "scaleway", manifest.to_str().expect("utf-8")]);
    let (text, _) = ok(&dir, &["status"]);
    assert!(
        text.contains("Warning: 1 tiles with a zero file_size or scales_size (1 in scaleway); run `tessera check`"),
        "{text}"
    );
    assert_eq!(status(&dir)["zero_size"]["scaleway"], 1);
    let check = run(&dir, &["check", "scaleway", "--list", "zero-size"], b"");
    assert_eq!(check.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&check.stdout), "2024/grid_0.95_49.95\n");
}
