//! Listing parsers: which tiles a store holds, from the text that `s5cmd ls`, `find`,
//! `rclone ls/lsl/lsf/lsjson` and `aws s3 ls` print (shapes in `research/formats.md`).
//!
//! A listing is read line by line. Its [`Format`] is detected from its first meaningful line;
//! each line then yields a path and, where the format shows it, a size. Paths are matched
//! anywhere against `{year}/grid_{lon}_{lat}/{file}`, so any prefix (a bucket, a mount point, a
//! dataset version) is fine. A tile counts as present when both `.npy` files are listed with
//! non-zero sizes, and its `SHA256` file too whenever the listing shows `SHA256` files at all.
//! Everything else is counted in a [`ScanReport`], with the first line of each kind of problem.
//!
//! Written for throughput (millions of lines a second): lines are borrowed slices, tokens are
//! found by byte scans, and nothing is allocated per line.

use std::num::NonZeroU64;

use crate::grid::{Cell, TileId, Year, YearRange};

/// A listing format, detected from the first meaningful line of each input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `s5cmd ls`: `date time [class] [etag] size  key` (also `DIR` lines).
    S5cmd,
    /// `s5cmd --json ls`: one object per line, `size` omitted when 0.
    S5cmdJson,
    /// `aws s3 ls --recursive`: `date time size key`, `PRE` lines without `--recursive`.
    AwsS3,
    /// `rclone lsl`: `size date time path`.
    RcloneLsl,
    /// `rclone lsf` with `;`-separated fields (`--format sp`, `tsp`, `psh`, ...).
    RcloneLsf,
    /// `rclone lsjson`: a JSON array, one object per line.
    RcloneLsjson,
    /// `size path`: `find -printf '%s %p\n'` (or `%s\t%P`) and `rclone ls`.
    SizePath,
    /// Bare paths, sizes unknown: `find` without `-printf`, `rclone lsf -R`, `s5cmd ls --show-fullpath`.
    Paths,
}

impl Format {
    /// Detects the format of a listing from one of its lines; `None` for lines that decide
    /// nothing (blank, `[`, `]`).
    pub fn detect(line: &[u8]) -> Option<Format> {
        let line = trim(line);
        if line.is_empty() || line == b"[" || line == b"]" {
            return None;
        }
        if line.starts_with(b"{") {
            return Some(if contains(line, b"\"Path\"") { Format::RcloneLsjson } else { Format::S5cmdJson });
        }
        if is_s5cmd_date(line) || trim_start(line).starts_with(b"DIR ") {
            return Some(Format::S5cmd);
        }
        if line.contains(&b';') {
            return Some(Format::RcloneLsf);
        }
        if is_dash_date(line) || trim_start(line).starts_with(b"PRE ") {
            return Some(Format::AwsS3);
        }
        let (first, rest) = split_token(line);
        if is_digits(first) {
            let (second, _) = split_token(rest);
            return Some(if is_dash_date(second) { Format::RcloneLsl } else { Format::SizePath });
        }
        Some(Format::Paths)
    }

    /// Parses one line of this format.
    pub fn parse_line(self, line: &[u8]) -> Line<'_> {
        let line = trim(line);
        if line.is_empty() {
            return Line::Skip;
        }
        match self {
            Format::S5cmd => parse_s5cmd(line),
            Format::S5cmdJson => parse_json(line, b"\"key\":\"", b"\"size\":", b"\"type\":\"directory\""),
            Format::RcloneLsjson => parse_json(line, b"\"Path\":\"", b"\"Size\":", b"\"IsDir\":true"),
            Format::AwsS3 => parse_aws(line),
            Format::RcloneLsl => parse_size_first(line, 2),
            Format::SizePath => parse_size_first(line, 0),
            Format::RcloneLsf => parse_lsf(line),
            Format::Paths => entry(line, Size::Unknown),
        }
    }
}

/// A size as a listing shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// An exact size in bytes.
    Bytes(u64),
    /// Not shown (bare paths) or rounded (`-H`, `--human-readable`): only "not zero" is known.
    Unknown,
}

/// What one line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// A file: its path (as printed) and size.
    Entry {
        /// The path as printed, e.g. `s3://bucket/v1/2024/grid_0.85_49.95/grid_0.85_49.95.npy`.
        path: &'a [u8],
        /// The size, or [`Size::Unknown`] when the format does not show it exactly.
        size: Size,
    },
    /// A line with nothing to count: directories, prefixes, summaries, brackets, blanks.
    Skip,
    /// A line this format cannot read.
    Garbage,
}

fn entry(path: &[u8], size: Size) -> Line<'_> {
    if path.is_empty() || path.ends_with(b"/") { Line::Skip } else { Line::Entry { path, size } }
}

fn parse_s5cmd(line: &[u8]) -> Line<'_> {
    if let Some(entry) = parse_s5cmd_plain(line) {
        return entry;
    }
    if trim_start(line).starts_with(b"DIR ") {
        return Line::Skip;
    }
    // date, time, then optional storage class and etag, then the size, two spaces, the key.
    let (_, rest) = split_token(line);
    let (_, mut rest) = split_token(rest);
    for _ in 0..3 {
        let (token, after) = split_token(rest);
        if token.is_empty() {
            return Line::Garbage;
        }
        if let Some(size) = size_token(token) {
            return entry(trim_start(after), size);
        }
        rest = after;
    }
    Line::Garbage
}

/// The common shape, `2006/01/02 15:04:05` then spaces, a byte count, spaces, the key, read in
/// one pass; `None` sends any other shape to the general parser.
#[inline]
fn parse_s5cmd_plain(line: &[u8]) -> Option<Line<'_>> {
    if let Some((size, key)) = s5cmd_columns(line) {
        return Some(entry(key, Size::Bytes(size)));
    }
    let rest = line.get(19..)?;
    let digits_at = rest.iter().position(|&b| b != b' ')?;
    let rest = &rest[digits_at..];
    let digits = rest.iter().position(|&b| !b.is_ascii_digit())?;
    if digits == 0 || rest[digits] != b' ' {
        return None;
    }
    let size = parse_u64(&rest[..digits])?;
    Some(entry(trim_start(&rest[digits..]), Size::Bytes(size)))
}

/// The size and key of an `s5cmd ls` line in its own layout, `%19s %2s %-1s %12s  %s`: without
/// a storage class or etag, a size of up to 12 digits ends at column 37 and the key starts at
/// 39. Written for speed: read at those columns, no scanning; `None` for any other shape.
#[inline]
fn s5cmd_columns(line: &[u8]) -> Option<(u64, &[u8])> {
    let (head, key) = line.split_at_checked(39)?;
    let (field, gap) = head[24..].split_at(13);
    if gap != b"  " {
        return None;
    }
    // `field` is column 24 and the 12 columns of `%12s`: spaces, then 1 to 12 digits.
    let digits = field[1..].iter().rev().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || field[12 - digits] != b' ' {
        return None;
    }
    let size = field[13 - digits..].iter().fold(0, |size, &b| size * 10 + u64::from(b - b'0'));
    Some((size, key))
}

fn parse_aws(line: &[u8]) -> Line<'_> {
    let trimmed = trim_start(line);
    if trimmed.starts_with(b"PRE ") || trimmed.starts_with(b"Total Objects:") || trimmed.starts_with(b"Total Size:") {
        return Line::Skip;
    }
    let (_, rest) = split_token(line);
    let (_, rest) = split_token(rest);
    let (size, rest) = split_token(rest);
    match size_token(size) {
        Some(size) => {
            let (unit, after_unit) = split_token(rest);
            let rest = if unit == b"Bytes" { after_unit } else { rest };
            entry(trim_start(rest), size)
        }
        // `--human-readable`: `103.5 MiB`, `179 Bytes` (exact), `9.8 KiB`.
        None if is_human(size) => entry(trim_start(split_token(rest).1), Size::Unknown),
        None => Line::Garbage,
    }
}

/// `size [date time] path`, skipping `skip` tokens after the size (rclone lsl's time).
fn parse_size_first(line: &[u8], skip: usize) -> Line<'_> {
    let (size, mut rest) = split_token(line);
    let Some(size) = size_token(size).filter(|_| is_digits(size)) else { return Line::Garbage };
    for _ in 0..skip {
        rest = split_token(rest).1;
    }
    entry(trim_start(rest), size)
}

fn parse_lsf(line: &[u8]) -> Line<'_> {
    let mut path = None;
    let mut size = Size::Unknown;
    for field in line.split(|&b| b == b';') {
        if contains(field, b"grid_") || field.contains(&b'/') {
            path = Some(field);
        } else if is_digits(field) && !field.is_empty() {
            size = size_token(field).unwrap_or(Size::Unknown);
        }
    }
    path.map_or(Line::Garbage, |path| entry(path, size))
}

/// One object of a JSON-lines listing, read by its keys without a JSON parser: the values
/// tessera needs are a string without escapes (tile paths never have any) and an integer.
fn parse_json<'a>(line: &'a [u8], path_key: &[u8], size_key: &[u8], directory: &[u8]) -> Line<'a> {
    let line = line.strip_suffix(b",").unwrap_or(line);
    if line == b"[" || line == b"]" {
        return Line::Skip;
    }
    if !line.starts_with(b"{") || !line.ends_with(b"}") {
        return Line::Garbage;
    }
    if contains(line, directory) {
        return Line::Skip;
    }
    let Some(start) = find(line, path_key).map(|at| at + path_key.len()) else { return Line::Garbage };
    let Some(len) = line[start..].iter().position(|&b| b == b'"') else { return Line::Garbage };
    let path = &line[start..start + len];
    if path.contains(&b'\\') {
        return Line::Garbage;
    }
    // s5cmd omits `size` for empty objects (Go's omitempty).
    let size = match find(line, size_key) {
        Some(at) => {
            let digits = &line[at + size_key.len()..];
            let end = digits.iter().position(|b| !b.is_ascii_digit()).unwrap_or(digits.len());
            match parse_u64(&digits[..end]) {
                Some(bytes) => Size::Bytes(bytes),
                None => return Line::Garbage,
            }
        }
        None => Size::Bytes(0),
    };
    entry(path, size)
}

/// Which file of a tile folder a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `grid_X_Y.npy`
    Embeddings,
    /// `grid_X_Y_scales.npy`
    Scales,
    /// `SHA256`
    Sha256,
}

/// A tile file found in a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TilePath {
    /// A file of a tile folder.
    File {
        /// The year from the path's `{year}/` component, else `default_year`.
        year: Year,
        /// The cell of the `grid_{lon}_{lat}` folder.
        cell: Cell,
        /// Which of the tile's three files the path names.
        role: Role,
    },
    /// A `grid_*.npy` whose name does not match its folder's tile (a misfiled tile).
    Misfiled,
    /// Not a tile file: another file, or no `{year}/grid_{lon}_{lat}/` in the path.
    Other,
}

/// Finds `{year}/grid_{lon}_{lat}/{file}` at the end of `path`; `default_year` stands in when
/// the listing's keys start at the tile folder (`s5cmd ls .../2024/grid_*`).
pub fn parse_tile_path(path: &[u8], default_year: Option<Year>) -> TilePath {
    match split_tile_path(path) {
        Some((folder_at, slash)) => parse_split_tile_path(path, folder_at, slash, default_year),
        None => TilePath::Other,
    }
}

/// Where the folder and the file of `path` start, `(folder_at, slash)`: the folder is
/// `path[folder_at..slash]` and the file `path[slash + 1..]`; `None` without a `/`.
#[inline]
fn split_tile_path(path: &[u8]) -> Option<(usize, usize)> {
    let slash = rfind_slash(path)?;
    let folder_at = rfind_slash(&path[..slash]).map_or(0, |at| at + 1);
    Some((folder_at, slash))
}

/// [`parse_tile_path`] once [`split_tile_path`] has found the folder and the file.
#[inline]
fn parse_split_tile_path(path: &[u8], folder_at: usize, slash: usize, default_year: Option<Year>) -> TilePath {
    let (folder, file) = (&path[folder_at..slash], &path[slash + 1..]);
    // The year is the whole path component before the folder, if there is one.
    let parent = folder_at.checked_sub(1).map(|end| &path[..end]);
    let year = match parent.and_then(|parent| parent.last_chunk::<4>().map(|year| (parent, year))) {
        Some((parent, year)) if is_digits(year) && parent.len().checked_sub(5).is_none_or(|at| parent[at] == b'/') => {
            parse_u64(year).map(|y| y as Year)
        }
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

/// Where the last `/` of `bytes` is. Written for speed, as the scanner looks for two in every
/// new tile's path: eight bytes at a time from the end, where `memrchr` would cost a call
/// and `rposition` a mispredicted branch a byte.
#[inline]
fn rfind_slash(bytes: &[u8]) -> Option<usize> {
    let mut rest = bytes;
    while let Some((head, word)) = rest.split_last_chunk::<8>() {
        let found = zero_bytes(u64::from_le_bytes(*word) ^ u64::from_ne_bytes([b'/'; 8]));
        if found != 0 {
            return Some(head.len() + 7 - found.leading_zeros() as usize / 8);
        }
        rest = head;
    }
    rest.iter().rposition(|&b| b == b'/')
}

/// Whether `bytes` hold a `\n`, eight at a time, with no branch per byte.
#[inline]
fn has_newline(bytes: &[u8; 40]) -> bool {
    let (words, _) = bytes.as_chunks::<8>();
    let newlines = u64::from_ne_bytes([b'\n'; 8]);
    words.iter().fold(0, |found, word| found | zero_bytes(u64::from_le_bytes(*word) ^ newlines)) != 0
}

/// The top bit of each byte of `x` that is zero, exactly (no carries between bytes).
#[inline]
fn zero_bytes(x: u64) -> u64 {
    const LOW7: u64 = u64::from_ne_bytes([0x7f; 8]);
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// The cell of a tile folder name, `grid_0.85_49.95`, parsed from bytes in one pass (the
/// scanner meets a new folder every three lines). The same rules as [`Cell::parse_name`].
#[inline]
fn parse_folder(folder: &[u8]) -> Option<Cell> {
    let coords = folder.strip_prefix(b"grid_")?;
    let (lon, used) = parse_centi_prefix(coords)?;
    let rest = coords.get(used..)?.strip_prefix(b"_")?;
    let (lat, used) = parse_centi_prefix(rest)?;
    if used != rest.len() {
        return None;
    }
    Cell::from_centi(lon, lat).ok()
}

/// `-12.34` at the start of `bytes` as `-1234`, and how many bytes it took: an optional minus,
/// one to three digits, a dot, exactly two digits.
#[inline]
fn parse_centi_prefix(bytes: &[u8]) -> Option<(i32, usize)> {
    let negative = bytes.first() == Some(&b'-');
    let start = usize::from(negative);
    let int_len = bytes[start..].iter().take(4).take_while(|b| b.is_ascii_digit()).count();
    if !(1..=3).contains(&int_len) {
        return None;
    }
    let dot = start + int_len;
    let frac = bytes.get(dot + 1..dot + 3)?;
    if bytes[dot] != b'.' || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if bytes.get(dot + 3).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let digits = bytes[start..dot].iter().chain(frac);
    let value = digits.fold(0i32, |value, b| value * 10 + i32::from(b - b'0'));
    Some((if negative { -value } else { value }, dot + 3))
}

/// The role of `file` inside the tile folder `folder` (`grid_0.85_49.95`), if it is one of
/// its three files.
#[inline]
fn role_of(file: &[u8], folder: &[u8]) -> Option<Role> {
    if file == b"SHA256" {
        return Some(Role::Sha256);
    }
    let (name, rest) = file.split_at_checked(folder.len())?;
    let role = match rest {
        b".npy" => Role::Embeddings,
        b"_scales.npy" => Role::Scales,
        _ => return None,
    };
    same_bytes(name, folder).then_some(role)
}

/// The role of the file named at the start of `text` in the tile folder `name`, and the
/// length of that name, if a `\n` follows it: [`role_of`] for a line not yet cut out.
#[inline]
fn role_at_line_end(text: &[u8], name: &[u8]) -> Option<(Role, usize)> {
    if text.starts_with(b"SHA256\n") {
        return Some((Role::Sha256, 6));
    }
    let (stem, rest) = text.split_at_checked(name.len())?;
    let (role, suffix): (Role, &[u8]) = if rest.starts_with(b".npy\n") {
        (Role::Embeddings, b".npy")
    } else if rest.starts_with(b"_scales.npy\n") {
        (Role::Scales, b"_scales.npy")
    } else {
        return None;
    };
    same_bytes(stem, name).then_some((role, name.len() + suffix.len()))
}

/// The file name after `folder/` at the start of `path`, if `path` starts so.
#[inline]
fn file_in<'a>(path: &'a [u8], folder: &[u8]) -> Option<&'a [u8]> {
    let (head, rest) = path.split_at_checked(folder.len())?;
    let file = rest.strip_prefix(b"/")?;
    same_bytes(head, folder).then_some(file)
}

/// `a == b`, written for speed on the short folder and file names of tile keys (8 to 32
/// bytes): two overlapping wide loads compare them in registers, where a slice compare calls
/// `memcmp`, which costs more than the compare itself at these lengths and ran on every line.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    match a.len() {
        8..=16 => a.first_chunk::<8>() == b.first_chunk::<8>() && a.last_chunk::<8>() == b.last_chunk::<8>(),
        17..=32 => a.first_chunk::<16>() == b.first_chunk::<16>() && a.last_chunk::<16>() == b.last_chunk::<16>(),
        _ => a == b,
    }
}

/// What a scan noticed, with the first line (from 1, across inputs) of each kind of problem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Lines read across all inputs, blank ones included.
    pub lines: u64,
    /// Lines naming a tile file.
    pub tile_files: u64,
    /// Directory, prefix, summary and blank lines.
    pub skipped: u64,
    /// Lines the detected format cannot read.
    pub unreadable: Problem,
    /// Files that are not tile files (other names, no `{year}/grid_*/` folder, outside the years).
    pub other_files: Problem,
    /// `.npy` names that do not match their folder.
    pub misfiled: Problem,
    /// Tile files listed with size 0.
    pub zero_size: Problem,
    /// Tiles with some files listed but not all that make a tile present.
    pub partial_tiles: u64,
    /// Tiles present.
    pub present_tiles: u64,
    /// Whether any `SHA256` file was listed (then every present tile needs one).
    pub lists_sha256: bool,
}

/// A count of one kind of problem and where it first happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Problem {
    /// Number of lines with this problem.
    pub count: u64,
    /// The first offending line, numbered from 1 across all inputs.
    pub first_line: Option<u64>,
}

impl Problem {
    fn note(&mut self, line: u64) {
        self.count += 1;
        self.first_line.get_or_insert(line);
    }
}

/// A present tile with the sizes listed (`None` when the listing shows none). A present tile's
/// files are never empty, so a known size is non-zero, which also keeps this at 24 bytes: a
/// scan of 3.8M tiles spends less time writing them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ScannedTile {
    /// The tile's dense id.
    pub id: TileId,
    /// Size in bytes of the embeddings file, `grid_X_Y.npy`.
    pub file_size: Option<NonZeroU64>,
    /// Size in bytes of the scales file, `grid_X_Y_scales.npy`.
    pub scales_size: Option<NonZeroU64>,
}

/// Sizes seen for one tile: `ABSENT`, `UNKNOWN` or bytes.
#[derive(Debug, Clone, Copy)]
struct Seen {
    id: u32,
    embeddings: u64,
    scales: u64,
    sha256: bool,
}

const ABSENT: u64 = u64::MAX;
const UNKNOWN: u64 = u64::MAX - 1;

impl Seen {
    fn new(id: u32) -> Seen {
        Seen { id, embeddings: ABSENT, scales: ABSENT, sha256: false }
    }

    fn merge(&mut self, other: &Seen) {
        self.embeddings = other_if_absent(self.embeddings, other.embeddings);
        self.scales = other_if_absent(self.scales, other.scales);
        self.sha256 |= other.sha256;
    }

    /// The tile, if what was seen makes it present: both `.npy` files listed and not empty,
    /// and its `SHA256` when the listing shows them.
    fn present(self, needs_sha256: bool) -> Option<ScannedTile> {
        let listed = |size: u64| size != ABSENT && size != 0;
        if !(listed(self.embeddings) && listed(self.scales) && (self.sha256 || !needs_sha256)) {
            return None;
        }
        let known = |size: u64| if size == UNKNOWN { None } else { NonZeroU64::new(size) };
        let (file_size, scales_size) = (known(self.embeddings), known(self.scales));
        Some(ScannedTile { id: TileId(self.id), file_size, scales_size })
    }
}

fn other_if_absent(mine: u64, other: u64) -> u64 {
    if mine == ABSENT { other } else { mine }
}

/// Reads listings line by line and gathers the tiles they show.
#[derive(Debug)]
pub struct Scanner {
    years: YearRange,
    default_year: Option<Year>,
    format: Option<Format>,
    current: Option<Seen>,
    seen: Vec<Seen>,
    report: ScanReport,
    /// The folder part of the last tile path and its tile: a tile's files come together, so
    /// most lines reuse it instead of parsing coordinates again.
    last_folder: Vec<u8>,
    last_tile: Option<(TileId, usize)>,
}

impl Scanner {
    /// A scanner for an inventory's `years`; `default_year` is used for keys without a year.
    pub fn new(years: YearRange, default_year: Option<Year>) -> Scanner {
        Scanner {
            years,
            default_year,
            format: None,
            current: None,
            seen: Vec::new(),
            report: ScanReport::default(),
            last_folder: Vec::new(),
            last_tile: None,
        }
    }

    /// Starts a new input: its format is detected afresh.
    pub fn start_input(&mut self) {
        self.format = None;
    }

    /// The format detected for the current input, if a line has decided it yet.
    pub fn format(&self) -> Option<Format> {
        self.format
    }

    /// Reads one line (without its `\n`; a trailing `\r` is ignored).
    #[inline]
    pub fn line(&mut self, line: &[u8]) {
        match self.s5cmd_file(line) {
            Some((path, size)) => {
                self.report.lines += 1;
                self.file(path, Size::Bytes(size), self.report.lines);
            }
            None => self.any_line(line),
        }
    }

    /// The hot path, written for speed: a file line of `s5cmd ls` in s5cmd's own columns,
    /// read at those columns without detecting, trimming or tokenizing. `None` for every
    /// other line, which [`Scanner::any_line`] then reads the general way.
    #[inline]
    fn s5cmd_file<'a>(&self, line: &'a [u8]) -> Option<(&'a [u8], u64)> {
        // A trailing space or `\r` would be trimmed first, a trailing `/` is a folder.
        let last = *line.last()?;
        if self.format != Some(Format::S5cmd) || last.is_ascii_whitespace() || last == b'/' {
            return None;
        }
        s5cmd_columns(line).map(|(size, path)| (path, size))
    }

    fn any_line(&mut self, line: &[u8]) {
        self.report.lines += 1;
        let number = self.report.lines;
        let format = match self.format {
            Some(format) => format,
            None => match Format::detect(line) {
                Some(format) => *self.format.insert(format),
                None => {
                    self.report.skipped += 1;
                    return;
                }
            },
        };
        match format.parse_line(line) {
            Line::Skip => self.report.skipped += 1,
            Line::Garbage => self.report.unreadable.note(number),
            Line::Entry { path, size } => self.file(path, size, number),
        }
    }

    /// Reads every line of `text` on up to `threads` threads: the one entry point for listing
    /// text in bulk, used by `tessera scan`, the tests and the benchmark alike. `text` holds
    /// whole lines (a last line without `\n` counts as one). It is cut at line ends into one
    /// part per thread (none smaller than 4 MiB), each read by a scanner of its own, and their
    /// findings are joined in order: the same tiles and report as one thread would give.
    pub fn feed(&mut self, text: &[u8], threads: usize) {
        self.feed_parts(text, threads, 4 << 20);
    }

    /// [`Scanner::feed`] with parts of at least `min_part` bytes.
    fn feed_parts(&mut self, text: &[u8], threads: usize, min_part: usize) {
        let parts = threads.clamp(1, text.len() / min_part.max(1) + 1);
        if parts == 1 {
            return self.text(text);
        }
        if self.format.is_none() {
            self.format = text.split(|&b| b == b'\n').take(1000).find_map(Format::detect);
        }
        let pieces = split_at_line_ends(text, parts);
        let mut others: Vec<Scanner> = (1..pieces.len()).map(|_| self.fork()).collect();
        std::thread::scope(|scope| {
            for (other, piece) in others.iter_mut().zip(&pieces[1..]) {
                scope.spawn(move || other.text(piece));
            }
            self.text(pieces[0]);
        });
        for other in others {
            self.absorb(other);
        }
    }

    /// A scanner for the same inventory and input, with nothing read yet.
    fn fork(&self) -> Scanner {
        Scanner { format: self.format, ..Scanner::new(self.years, self.default_year) }
    }

    /// Takes in what `other` read after what this one read: its tiles follow, its line
    /// numbers shift by the lines read here.
    fn absorb(&mut self, mut other: Scanner) {
        self.seen.extend(self.current.take());
        self.seen.append(&mut other.seen);
        self.current = other.current;
        let (mine, theirs) = (&mut self.report, other.report);
        let lines_before = mine.lines;
        mine.lines += theirs.lines;
        mine.tile_files += theirs.tile_files;
        mine.skipped += theirs.skipped;
        for (mine, theirs) in [
            (&mut mine.unreadable, theirs.unreadable),
            (&mut mine.other_files, theirs.other_files),
            (&mut mine.misfiled, theirs.misfiled),
            (&mut mine.zero_size, theirs.zero_size),
        ] {
            mine.count += theirs.count;
            mine.first_line = mine.first_line.or(theirs.first_line.map(|line| line + lines_before));
        }
        mine.lists_sha256 |= theirs.lists_sha256;
        self.last_folder = other.last_folder;
        self.last_tile = other.last_tile;
    }

    /// Reads every line of `text`, on this thread.
    pub fn text(&mut self, text: &[u8]) {
        // A tile takes about three lines of 80-odd bytes: reserve for that many, once.
        self.seen.reserve(text.len() / 256);
        let mut rest = text;
        while !rest.is_empty() {
            let len = match self.next_file_of_last_tile(rest) {
                Some(len) => len,
                None => {
                    let len = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
                    self.line(&rest[..len]);
                    len
                }
            };
            rest = rest.get(len + 1..).unwrap_or_default();
        }
    }

    /// The hot path of [`Scanner::text`], written for speed: if `rest` starts with an `s5cmd
    /// ls` line in s5cmd's own columns naming another file of the last tile's folder (two
    /// lines in three, as listings keep a tile's files together), counts it and returns its
    /// length. The line's end is where the expected key ends, checked rather than searched
    /// for, and its folder is compared with wide loads instead of parsed again. `None`, having
    /// changed nothing, for every other line.
    #[inline]
    fn next_file_of_last_tile(&mut self, rest: &[u8]) -> Option<usize> {
        let (id, name_at) = self.last_tile?;
        if self.format != Some(Format::S5cmd) {
            return None;
        }
        // The line must not end inside the columns before the key; past them, the key is
        // compared byte for byte with a folder and a name from earlier lines, which hold no `\n`.
        let (columns, _) = rest.split_first_chunk::<40>()?;
        if has_newline(columns) {
            return None;
        }
        let folder = &self.last_folder;
        let file = file_in(&rest[39..], folder)?;
        let (role, file_len) = role_at_line_end(file, &folder[name_at..])?;
        let len = 39 + folder.len() + 1 + file_len;
        let (size, _) = s5cmd_columns(&rest[..len])?;
        self.report.lines += 1;
        self.count_file(id, role, Size::Bytes(size), self.report.lines);
        Some(len)
    }

    #[inline]
    fn file(&mut self, path: &[u8], size: Size, number: u64) {
        if let Some((id, role)) = self.tile_file(path, number) {
            self.count_file(id, role, size, number);
        }
    }

    /// Counts a tile file of `size` on line `number`.
    #[inline]
    fn count_file(&mut self, id: TileId, role: Role, size: Size, number: u64) {
        self.report.tile_files += 1;
        let bytes = match size {
            Size::Bytes(0) => {
                self.report.zero_size.note(number);
                0
            }
            Size::Bytes(bytes) => bytes,
            Size::Unknown => UNKNOWN,
        };
        // Listings keep a tile's files together, so most lines update the current tile.
        if self.current.is_some_and(|current| current.id != id.0) {
            self.seen.extend(self.current.take());
        }
        let current = self.current.get_or_insert_with(|| Seen::new(id.0));
        match role {
            Role::Embeddings => current.embeddings = bytes,
            Role::Scales => current.scales = bytes,
            Role::Sha256 => {
                current.sha256 = true;
                self.report.lists_sha256 = true;
            }
        }
    }

    /// The tile and role of a path, or `None` after counting why not. The fast path: the
    /// folder is the last tile's, so only the file name is compared.
    #[inline]
    fn tile_file(&mut self, path: &[u8], number: u64) -> Option<(TileId, Role)> {
        if let Some((id, name_at)) = self.last_tile
            && let Some(file) = file_in(path, &self.last_folder)
            && let Some(role) = role_of(file, &self.last_folder[name_at..])
        {
            return Some((id, role));
        }
        let Some((folder_at, slash)) = split_tile_path(path) else {
            self.report.other_files.note(number);
            return None;
        };
        let (year, cell, role) = match parse_split_tile_path(path, folder_at, slash, self.default_year) {
            TilePath::File { year, cell, role } => (year, cell, role),
            TilePath::Misfiled => {
                self.report.misfiled.note(number);
                return None;
            }
            TilePath::Other => {
                self.report.other_files.note(number);
                return None;
            }
        };
        let Ok(id) = self.years.id(crate::grid::Tile::new(year, cell)) else {
            self.report.other_files.note(number);
            return None;
        };
        self.last_folder.clear();
        self.last_folder.extend_from_slice(&path[..slash]);
        self.last_tile = Some((id, folder_at));
        Some((id, role))
    }

    /// The present tiles, sorted by id, and the report.
    pub fn finish(mut self) -> (Vec<ScannedTile>, ScanReport) {
        self.seen.extend(self.current.take());
        // S3 and rclone list in key order, which is id order: then there is nothing to sort.
        if !self.seen.is_sorted_by_key(|seen| seen.id) {
            self.seen.sort_by_key(|seen| seen.id);
        }
        // A tile's files listed far apart (a `find` walk) arrive as several records.
        self.seen.dedup_by(|next, seen| {
            let same = next.id == seen.id;
            if same {
                seen.merge(next);
            }
            same
        });
        let needs_sha256 = self.report.lists_sha256;
        let mut partial_tiles = 0;
        // Written for speed: `Seen` and `ScannedTile` have the same size and alignment, so this
        // collects in place into `seen`'s buffer instead of writing 3.8M tiles to fresh pages.
        let mut tiles: Vec<ScannedTile> = (self.seen.into_iter())
            .filter_map(|seen| {
                let tile = seen.present(needs_sha256);
                partial_tiles += u64::from(tile.is_none());
                tile
            })
            .collect();
        // Reserved room never written costs only address space, but the caller keeps `tiles`.
        tiles.shrink_to_fit();
        self.report.partial_tiles += partial_tiles;
        self.report.present_tiles = tiles.len() as u64;
        (tiles, self.report)
    }
}

/// `text` cut into at most `parts` pieces of about equal length, each ending at a line end
/// (the last one where `text` ends).
fn split_at_line_ends(text: &[u8], parts: usize) -> Vec<&[u8]> {
    let mut pieces = Vec::with_capacity(parts);
    let mut rest = text;
    for left in (1..=parts).rev() {
        if left == 1 || rest.is_empty() {
            pieces.push(rest);
            break;
        }
        let aim = rest.len() / left;
        let cut = memchr::memchr(b'\n', &rest[aim..]).map_or(rest.len(), |at| aim + at + 1);
        let (piece, after) = rest.split_at(cut);
        pieces.push(piece);
        rest = after;
    }
    pieces
}

fn size_token(token: &[u8]) -> Option<Size> {
    if is_digits(token) {
        return parse_u64(token).map(Size::Bytes);
    }
    is_human(token).then_some(Size::Unknown)
}

/// `9.8K`, `103.5M`, `103.5` (aws prints the unit as the next token).
fn is_human(token: &[u8]) -> bool {
    let number = token.strip_suffix(b"K").or(token.strip_suffix(b"M")).or(token.strip_suffix(b"G"));
    let number = number.or(token.strip_suffix(b"T")).unwrap_or(token);
    !number.is_empty() && number.iter().all(|b| b.is_ascii_digit() || *b == b'.') && number.contains(&b'.')
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &b| b.is_ascii_digit().then(|| value * 10 + u64::from(b - b'0')))
}

fn is_digits(token: &[u8]) -> bool {
    !token.is_empty() && token.iter().all(u8::is_ascii_digit)
}

/// `2006/01/02 15:04:05` at the start of the line.
fn is_s5cmd_date(line: &[u8]) -> bool {
    line.len() >= 19 && line[4] == b'/' && line[7] == b'/' && line[10] == b' ' && line[13] == b':'
}

/// `2006-01-02` at the start of the text.
fn is_dash_date(text: &[u8]) -> bool {
    text.len() >= 10 && text[4] == b'-' && text[7] == b'-' && is_digits(&text[..4])
}

fn trim(line: &[u8]) -> &[u8] {
    let end = line.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |at| at + 1);
    &line[..end]
}

fn trim_start(text: &[u8]) -> &[u8] {
    let start = text.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(text.len());
    &text[start..]
}

/// The first whitespace-separated token and what follows it (not trimmed).
fn split_token(text: &[u8]) -> (&[u8], &[u8]) {
    let text = trim_start(text);
    let end = text.iter().position(u8::is_ascii_whitespace).unwrap_or(text.len());
    (&text[..end], &text[end..])
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::DEFAULT_YEARS;

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
            (
                "   179 ./2024/grid_0.85_49.95/SHA256",
                Format::SizePath,
                "./2024/grid_0.85_49.95/SHA256",
                Size::Bytes(179),
            ),
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
        assert_eq!(
            tiles,
            vec![ScannedTile { id, file_size: NonZeroU64::new(9984), scales_size: NonZeroU64::new(436) }]
        );
        assert_eq!(report.lines, 10);
        assert_eq!(report.partial_tiles, 2, "2018 has a zero-size file, 2019 lacks its SHA256");
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
        assert_eq!((tiles[0].file_size, report.partial_tiles), (None, 1));
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
        let folders =
            ["grid_0.85_49.95", "grid_-0.05_-0.05", "grid_-179.95_-89.95", "grid_0.80_49.95", "", "grid_0.85"];
        let files =
            ["SHA256", "grid_0.85_49.95.npy", "grid_0.85_49.95_scales.npy", "grid_-0.05_-0.05.npy", "x.txt", ""];
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
        for folder in
            ["2024/grid_0.85_49.95", "v1/2017/grid_-0.05_-0.05", "grid_-179.95_-89.95", "2018/grid_0.85_49.95"]
        {
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
}
