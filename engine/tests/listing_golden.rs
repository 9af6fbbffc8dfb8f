//! Every captured listing (`fixtures/listings/*.txt`, real tool output) against its golden
//! file: the detected format, the report, and the present tiles with their sizes.

use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};

use tessera_engine::copylist::{KeyStyle, KeyWriter};
use tessera_engine::grid::DEFAULT_YEARS;
use tessera_engine::listing::{Problem, Scanner};

fn listings() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/listings")
}

fn render(name: &str, text: &[u8]) -> String {
    // Listed inside one year's folder, keys have no year.
    let default_year = name.contains("one-year").then_some(2024);
    let mut scanner = Scanner::new(DEFAULT_YEARS, default_year);
    scanner.text(text);
    let format = scanner.format();
    let (tiles, report) = scanner.finish();
    let problem =
        |p: Problem| format!("{} (first at line {})", p.count, p.first_line.map_or("-".into(), |l| l.to_string()));
    let mut out = String::new();
    let _ = writeln!(out, "format: {format:?}");
    let _ = writeln!(out, "lines: {}, tile files: {}, skipped: {}", report.lines, report.tile_files, report.skipped);
    let _ = writeln!(out, "unreadable: {}", problem(report.unreadable));
    let _ = writeln!(out, "other files: {}", problem(report.other_files));
    let _ = writeln!(out, "misfiled: {}", problem(report.misfiled));
    let _ = writeln!(out, "zero size: {}", problem(report.zero_size));
    let _ = writeln!(
        out,
        "partial tiles: {}, present tiles: {}, SHA256 listed: {}",
        report.partial_tiles.len(),
        report.present_tiles,
        report.lists_sha256
    );
    let writer = KeyWriter::new(DEFAULT_YEARS);
    for tile in tiles {
        let mut key = Vec::new();
        writer.push(&mut key, tile.id.0, KeyStyle::Key);
        let size = |s: Option<std::num::NonZeroU64>| s.map_or("?".to_owned(), |s| s.to_string());
        let _ = writeln!(out, "{} {} {}", String::from_utf8_lossy(&key), size(tile.file_size), size(tile.scales_size));
    }
    out
}

#[test]
fn captured_listings_match_their_golden_files() {
    let update = std::env::var_os("TESSERA_UPDATE_GOLDEN").is_some();
    let mut checked = 0;
    let mut entries: Vec<_> =
        fs::read_dir(listings()).expect("fixtures/listings").flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries.into_iter().filter(|p| p.extension().is_some_and(|e| e == "txt")) {
        let name = path.file_stem().and_then(|s| s.to_str()).expect("a name").to_owned();
        let rendered = render(&name, &fs::read(&path).expect("readable"));
        let golden = path.with_extension("golden");
        if update {
            fs::write(&golden, &rendered).expect("write golden");
        }
        let expected = fs::read_to_string(&golden).unwrap_or_else(|_| panic!("{} has no golden file", path.display()));
        assert_eq!(rendered, expected, "{name}: the scan changed; if intended, rewrite with TESSERA_UPDATE_GOLDEN=1");
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} listings checked");
}
