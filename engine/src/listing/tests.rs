//! The listing parsers and the scanner, on lines as the real tools print them.

use super::bytes::*;
use super::formats::*;
use super::scanner::*;
use super::tile_path::*;
use crate::grid::DEFAULT_YEARS;
use crate::grid::{Cell, Year};
use std::num::NonZeroU64;

const EMB: &str = "2024/grid_0.85_49.95/grid_0.85_49.95.npy";

fn first_entry(text: &str) -> (Format, Line<'_>) {
    let format = text.lines().find_map(|line| Format::detect(line.as_bytes())).expect("a format");
    let line = text.lines().rev().find(|l| !l.trim().is_empty() && l.trim() != "]").expect("a line");
    (format, format.parse_line(line.as_bytes()))
}

#[test]
fn every_format_is_detected_and_read() {
    let cases: [(&str, Format, &str, Size); 12] = [
        (
            "2026/11/24 21:20:14         108527232  2024/grid_0.85_49.95/grid_0.85_49.95.npy",
            Format::S5cmd,
            EMB,
            Size::Bytes(108527232),
        ),
        (
            "2026/11/24 21:20:14 STANDARD      108527232  2024/grid_0.85_49.95/grid_0.85_49.95.npy",
            Format::S5cmd,
            EMB,
            Size::Bytes(108527232),
        ),
        (
            "2026/11/24 21:20:14    51fdd406ea80416d623350e94af2d7b7-3        108527232  2024/grid_0.85_49.95/grid_0.85_49.95.npy",
            Format::S5cmd,
            EMB,
            Size::Bytes(108527232),
        ),
        (
            "2026/11/24 21:20:14            103.5M  2024/grid_0.85_49.95/grid_0.85_49.95.npy",
            Format::S5cmd,
            EMB,
            Size::Unknown,
        ),
        (
            r#"{"key":"s3://b/v1/2024/grid_0.85_49.95/grid_0.85_49.95.npy","etag":"x","type":"file","size":108527232}"#,
            Format::S5cmdJson,
            "s3://b/v1/2024/grid_0.85_49.95/grid_0.85_49.95.npy",
            Size::Bytes(108527232),
        ),
        (
            r#"{"key":"s3://b/2023/grid_-72.35_-13.55/grid_-72.35_-13.55_scales.npy","type":"file"}"#,
            Format::S5cmdJson,
            "s3://b/2023/grid_-72.35_-13.55/grid_-72.35_-13.55_scales.npy",
            Size::Bytes(0),
        ),
        (
            "2026-11-24 21:20:14  108527232 v1/x/2024/grid_0.85_49.95/grid_0.85_49.95.npy",
            Format::AwsS3,
            "v1/x/2024/grid_0.85_49.95/grid_0.85_49.95.npy",
            Size::Bytes(108527232),
        ),
        (
            "108527232 2026-11-24 21:20:14.000000000 2024/grid_0.85_49.95/grid_0.85_49.95.npy",
            Format::RcloneLsl,
            EMB,
            Size::Bytes(108527232),
        ),
        ("108527232;2024/grid_0.85_49.95/grid_0.85_49.95.npy", Format::RcloneLsf, EMB, Size::Bytes(108527232)),
        (
            "[\n{\"Path\":\"2024/grid_0.85_49.95/grid_0.85_49.95.npy\",\"Name\":\"n\",\"Size\":9984,\"IsDir\":false},\n]",
            Format::RcloneLsjson,
            EMB,
            Size::Bytes(9984),
        ),
        ("   179 ./2024/grid_0.85_49.95/SHA256", Format::SizePath, "./2024/grid_0.85_49.95/SHA256", Size::Bytes(179)),
        ("./2024/grid_0.85_49.95/my tile.npy", Format::Paths, "./2024/grid_0.85_49.95/my tile.npy", Size::Unknown),
    ];
    for (text, format, path, size) in cases {
        let (detected, line) = first_entry(text);
        assert_eq!(detected, format, "{text}");
        assert_eq!(line, Line::Entry { path: path.as_bytes(), size }, "{text}");
    }
}

#[test]
fn directories_prefixes_and_summaries_are_skipped() {
    for (format, line) in [
        (Format::S5cmd, "                                  DIR  grid_0.85_49.95/"),
        (Format::AwsS3, "                           PRE grid_0.85_49.95/"),
        (Format::AwsS3, "Total Objects: 3"),
        (Format::S5cmdJson, r#"{"key":"s3://b/2024/grid_-0.05_-0.05/","type":"directory"}"#),
        (Format::Paths, "2024/"),
    ] {
        assert_eq!(format.parse_line(line.as_bytes()), Line::Skip, "{line}");
    }
    assert_eq!(Format::S5cmd.parse_line(b"garbage"), Line::Garbage);
}

#[test]
fn tile_paths_are_found_anywhere_and_misfiles_flagged() {
    let cell = Cell::parse_name("grid_0.85_49.95").unwrap();
    let file = |role| TilePath::File { year: 2024, cell, role };
    assert_eq!(parse_tile_path(b"/data/v1/2024/grid_0.85_49.95/SHA256", None), file(Role::Sha256));
    assert_eq!(parse_tile_path(b"grid_0.85_49.95/grid_0.85_49.95_scales.npy", Some(2024)), file(Role::Scales));
    assert_eq!(parse_tile_path(b"2024/grid_0.85_49.95/grid_0.95_49.95.npy", None), TilePath::Misfiled);
    assert_eq!(parse_tile_path(b"2024/grid_0.80_49.95/grid_0.80_49.95.npy", None), TilePath::Other);
    assert_eq!(parse_tile_path(b"registry.parquet", None), TilePath::Other);
}

#[test]
fn a_tile_is_present_with_both_npy_files_and_its_sha256_when_listed() {
    let mut scanner = Scanner::new(DEFAULT_YEARS, None);
    scanner.text(
        b"9984 2017/grid_0.85_49.95/grid_0.85_49.95.npy\r\n\
          436 2017/grid_0.85_49.95/grid_0.85_49.95_scales.npy\n\
          179 2017/grid_0.85_49.95/SHA256\n\
          9984 2018/grid_0.85_49.95/grid_0.85_49.95.npy\n\
          0 2018/grid_0.85_49.95/grid_0.85_49.95_scales.npy\n\
          179 2018/grid_0.85_49.95/SHA256\n\
          9984 2019/grid_0.85_49.95/grid_0.85_49.95.npy\n\
          436 2019/grid_0.85_49.95/grid_0.85_49.95_scales.npy\n\
          this line is not a listing line\n\
          9984 2017/grid_0.95_49.95/grid_0.85_49.95.npy\n",
    );
    let (tiles, report) = scanner.finish();
    let id = DEFAULT_YEARS.id(crate::grid::Tile::parse_key("2017/grid_0.85_49.95").unwrap()).unwrap();
    assert_eq!(tiles, vec![ScannedTile { id, file_size: NonZeroU64::new(9984), scales_size: NonZeroU64::new(436) }]);
    assert_eq!(report.lines, 10);
    let id_of = |key| DEFAULT_YEARS.id(crate::grid::Tile::parse_key(key).unwrap()).unwrap();
    let partial = |key, lacks_scales, lacks_sha256| PartialTile {
        id: id_of(key),
        lacks_embeddings: false,
        lacks_scales,
        lacks_sha256,
    };
    let expected = [partial("2018/grid_0.85_49.95", true, false), partial("2019/grid_0.85_49.95", false, true)];
    assert_eq!(report.partial_tiles, expected, "2018 has a zero-size file, 2019 lacks its SHA256");
    assert_eq!(report.zero_size, Problem { count: 1, first_line: Some(5) });
    assert_eq!(report.misfiled, Problem { count: 1, first_line: Some(10) });
    assert_eq!(report.unreadable.count + report.other_files.count, 1);
}

#[test]
fn the_fast_folder_parser_agrees_with_the_grid() {
    for row in (0..1800).step_by(7) {
        for col in (0..3600).step_by(13) {
            let cell = Cell::new(row, col).unwrap();
            assert_eq!(parse_folder(cell.name().to_string().as_bytes()), Some(cell));
        }
    }
    for bad in [
        "grid_0.80_49.95",
        "grid_180.05_0.05",
        "grid_0.855_49.95",
        "grid_0.85_49.9",
        "grid_.85_49.95",
        "grid_0.85_49.95x",
        "grid_1000.05_0.05",
        "grid_-_0.05",
        "grid_0.85",
    ] {
        assert_eq!(parse_folder(bad.as_bytes()), None, "{bad}");
        assert!(Cell::parse_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn files_of_one_tile_may_be_far_apart() {
    let mut scanner = Scanner::new(DEFAULT_YEARS, None);
    scanner.text(b"./2017/grid_0.85_49.95/grid_0.85_49.95.npy\n./2018/grid_1.85_49.95/grid_1.85_49.95.npy\n./2017/grid_0.85_49.95/grid_0.85_49.95_scales.npy\n");
    let (tiles, report) = scanner.finish();
    assert_eq!(tiles.len(), 1);
    assert_eq!((tiles[0].file_size, report.partial_tiles.len()), (None, 1));
}

#[test]
fn the_slash_finder_agrees_with_rposition() {
    for len in 0..40 {
        // Every byte value but `/` as filler, so carries and near misses are covered.
        let filler = (0..len).map(|i| (i * 37 % 256) as u8).map(|b| if b == b'/' { 0 } else { b });
        let mut bytes: Vec<u8> = filler.collect();
        assert_eq!(rfind_slash(&bytes), None);
        for at in 0..len {
            let mut one = bytes.clone();
            one[at] = b'/';
            assert_eq!(rfind_slash(&one), Some(at), "one slash at {at} of {len}");
            bytes[at] = b'/';
            assert_eq!(rfind_slash(&bytes), Some(at), "slashes up to {at} of {len}");
        }
    }
    for b in 0..=255u8 {
        let bytes = [b; 17];
        assert_eq!(rfind_slash(&bytes), bytes.iter().rposition(|&x| x == b'/'), "{b}");
    }
}

#[test]
fn the_wide_compare_agrees_with_slice_equality() {
    for len in 0..48usize {
        let a: Vec<u8> = (0..len).map(|i| i as u8 + 1).collect();
        assert!(same_bytes(&a, &a.clone()));
        assert!(len == 0 || !same_bytes(&a, &a[..len - 1]));
        for at in 0..len {
            let mut b = a.clone();
            b[at] ^= 0x80;
            assert!(!same_bytes(&a, &b), "differs at {at} of {len}");
        }
    }
}

/// `parse_tile_path` as it was before it split paths eight bytes at a time.
fn parse_tile_path_by_rsplit(path: &[u8], default_year: Option<Year>) -> TilePath {
    let mut parts = path.rsplit(|&b| b == b'/');
    let (Some(file), Some(folder)) = (parts.next(), parts.next()) else { return TilePath::Other };
    let year = match parts.next() {
        Some(year) if year.len() == 4 && is_digits(year) => parse_u64(year).map(|y| y as Year),
        _ => default_year,
    };
    let Some(year) = year else { return TilePath::Other };
    let Some(cell) = parse_folder(folder) else { return TilePath::Other };
    let Some(role) = role_of(file, folder) else {
        let misfiled = file.starts_with(b"grid_") && file.ends_with(b".npy");
        return if misfiled { TilePath::Misfiled } else { TilePath::Other };
    };
    TilePath::File { year, cell, role }
}

#[test]
fn tile_paths_split_as_rsplit_does() {
    let prefixes =
        ["", "/", "//", "x/", "2024/", "/2024/", "v1/2024/", "x2024/", "202/", "20245/", "2O24/", "a/b/2017/"];
    let folders = ["grid_0.85_49.95", "grid_-0.05_-0.05", "grid_-179.95_-89.95", "grid_0.80_49.95", "", "grid_0.85"];
    let files = ["SHA256", "grid_0.85_49.95.npy", "grid_0.85_49.95_scales.npy", "grid_-0.05_-0.05.npy", "x.txt", ""];
    for prefix in prefixes {
        for folder in folders {
            for file in files {
                for path in [format!("{prefix}{folder}/{file}"), format!("{prefix}{folder}{file}")] {
                    for default_year in [None, Some(2024)] {
                        let expected = parse_tile_path_by_rsplit(path.as_bytes(), default_year);
                        assert_eq!(parse_tile_path(path.as_bytes(), default_year), expected, "{path}");
                    }
                }
            }
        }
    }
}

/// The size and key of a line in s5cmd's columns, read as before it became a helper.
fn s5cmd_columns_by_scanning(line: &[u8]) -> Option<(u64, &[u8])> {
    if line.get(37..39) == Some(b"  ") && line[36].is_ascii_digit() {
        let digits = line[25..37].iter().rev().take_while(|b| b.is_ascii_digit()).count();
        if line[36 - digits] == b' ' {
            return Some((parse_u64(&line[37 - digits..37])?, &line[39..]));
        }
    }
    None
}

proptest::proptest! {
    #[test]
    fn s5cmd_columns_read_as_by_scanning(line in "[0-9/: ]{19}[ A-Z]{5}[ 0-9x\t]{13}[ x]{2}[a-z/]{0,3}") {
        proptest::prop_assert_eq!(s5cmd_columns(line.as_bytes()), s5cmd_columns_by_scanning(line.as_bytes()));
    }

    #[test]
    fn the_s5cmd_fast_paths_read_as_the_general_one(picks in proptest::collection::vec(0..64usize, 0..48)) {
        let pool = s5cmd_line_pool();
        let lines: Vec<&str> = picks.iter().map(|&pick| pool[pick % pool.len()].as_str()).collect();
        let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
        let whole = scan(|scanner| scanner.text(text.as_bytes()));
        // Without its last `\n`, a last line that is not empty reads the same.
        let unended = text.strip_suffix("\n").filter(|text| !text.is_empty() && !text.ends_with('\n'));
        let unended = unended.map(|text| scan(|scanner| scanner.text(text.as_bytes())));
        let by_line = scan(|scanner| lines.iter().for_each(|line| scanner.line(line.as_bytes())));
        // A trailing `\r` keeps every line off the s5cmd fast paths.
        let general = scan(|scanner| lines.iter().for_each(|line| scanner.line(format!("{line}\r").as_bytes())));
        proptest::prop_assert_eq!(&whole, &general);
        proptest::prop_assert_eq!(&by_line, &general);
        if let Some(unended) = unended {
            proptest::prop_assert_eq!(&unended, &general);
        }
    }
}

#[test]
fn a_line_ending_inside_s5cmd_columns_is_not_read_as_the_next_tile_file() {
    let s5cmd = |size: &str, key: &str| format!("2026/04/09 21:34:55 {:>2} {:<1} {size:>12}  {key}", "", "");
    let mut text = s5cmd("179", "2024/grid_0.85_49.95/SHA256");
    text.push('\n');
    for cut in [0, 10, 24, 30, 35] {
        // A `\n` in place of one of the columns' characters makes two lines of one.
        let mut line = s5cmd("7", "2024/grid_0.85_49.95/grid_0.85_49.95.npy").into_bytes();
        line[cut] = b'\n';
        text.push_str(std::str::from_utf8(&line).unwrap_or_default());
        text.push('\n');
    }
    let whole = scan(|scanner| scanner.text(text.as_bytes()));
    let general = scan(|scanner| text.lines().for_each(|line| scanner.line(format!("{line}\r").as_bytes())));
    assert_eq!(whole, general);
    assert_eq!((whole.2.lines, whole.2.tile_files), (11, 3));
}

fn scan(feed: impl FnOnce(&mut Scanner)) -> (Option<Format>, Vec<ScannedTile>, ScanReport) {
    let mut scanner = Scanner::new(DEFAULT_YEARS, Some(2024));
    feed(&mut scanner);
    let format = scanner.format();
    let (tiles, report) = scanner.finish();
    (format, tiles, report)
}

/// `s5cmd ls` lines in and out of s5cmd's columns: three tiles' files, with sizes of 0 to
/// 12 digits, and lines that only look like them.
fn s5cmd_line_pool() -> Vec<String> {
    let s5cmd = |size: &str, key: &str| format!("2026/04/09 21:34:55 {:>2} {:<1} {size:>12}  {key}", "", "");
    let mut pool = Vec::new();
    for folder in ["2024/grid_0.85_49.95", "v1/2017/grid_-0.05_-0.05", "grid_-179.95_-89.95", "2018/grid_0.85_49.95"] {
        let name = folder.rsplit('/').next().unwrap_or_default();
        for (size, file) in [
            ("179", "SHA256".to_owned()),
            ("108527232", format!("{name}.npy")),
            ("999999999999", format!("{name}_scales.npy")),
            ("0", format!("{name}_scales.npy")),
            ("3391600", format!("{name}_scales.npy")),
            ("1", format!("{name}.npy.tmp")),
            ("1", format!("{name}x.npy")),
            ("2", "notes.txt".to_owned()),
        ] {
            pool.push(s5cmd(size, &format!("{folder}/{file}")));
        }
    }
    pool.extend([
        s5cmd("1234567890123", "2024/grid_0.85_49.95/SHA256"),
        s5cmd("9.8K", "2024/grid_0.85_49.95/grid_0.85_49.95.npy"),
        s5cmd("17", "2024/grid_0.85_49.95/"),
        s5cmd("17", "2024/grid_0.85_49.95/SHA256 "),
        "2026/04/09 21:34:55 STANDARD           9984  2024/grid_0.85_49.95/grid_0.85_49.95.npy".to_owned(),
        "                                  DIR  grid_0.85_49.95/".to_owned(),
        "2026/04/09 21:34:55".to_owned(),
        "garbage".to_owned(),
        String::new(),
    ]);
    pool
}

#[test]
fn feeding_in_parallel_parts_finds_what_one_thread_does() {
    let mut text = String::new();
    for (n, lon) in (5..400).step_by(10).enumerate() {
        let name = format!("grid_{}.{:02}_49.95", lon / 100, lon % 100);
        let size = if n % 7 == 3 { 0 } else { 1000 + n };
        text.push_str(&format!("2026/04/09 21:34:55           179  2024/{name}/SHA256\n"));
        text.push_str(&format!("2026/04/09 21:34:55 {size:>13}  2024/{name}/{name}.npy\n"));
        if n % 5 != 1 {
            text.push_str(&format!("2026/04/09 21:34:55           436  2024/{name}/{name}_scales.npy\n"));
        }
        if n % 9 == 4 {
            text.push_str("this line is not a listing line\n");
        }
    }
    let one = {
        let mut scanner = Scanner::new(DEFAULT_YEARS, None);
        scanner.text(text.as_bytes());
        scanner.finish()
    };
    assert!(one.0.len() > 20 && one.1.zero_size.count > 0 && one.1.unreadable.count > 0);
    for parts in [2, 3, 7, 64] {
        let mut scanner = Scanner::new(DEFAULT_YEARS, None);
        scanner.feed_parts(text.as_bytes(), parts, 1);
        assert_eq!(scanner.finish(), one, "{parts} parts");
    }
}
