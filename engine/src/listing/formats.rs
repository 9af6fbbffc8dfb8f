//! The listing formats: which tool printed a listing, and the path and size on each line.

use super::bytes::*;

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

pub(super) fn entry(path: &[u8], size: Size) -> Line<'_> {
    if path.is_empty() || path.ends_with(b"/") { Line::Skip } else { Line::Entry { path, size } }
}

pub(super) fn parse_s5cmd(line: &[u8]) -> Line<'_> {
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
pub(super) fn parse_s5cmd_plain(line: &[u8]) -> Option<Line<'_>> {
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
pub(super) fn s5cmd_columns(line: &[u8]) -> Option<(u64, &[u8])> {
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

pub(super) fn parse_aws(line: &[u8]) -> Line<'_> {
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
pub(super) fn parse_size_first(line: &[u8], skip: usize) -> Line<'_> {
    let (size, mut rest) = split_token(line);
    let Some(size) = size_token(size).filter(|_| is_digits(size)) else { return Line::Garbage };
    for _ in 0..skip {
        rest = split_token(rest).1;
    }
    entry(trim_start(rest), size)
}

pub(super) fn parse_lsf(line: &[u8]) -> Line<'_> {
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
pub(super) fn parse_json<'a>(line: &'a [u8], path_key: &[u8], size_key: &[u8], directory: &[u8]) -> Line<'a> {
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

pub(super) fn size_token(token: &[u8]) -> Option<Size> {
    if is_digits(token) {
        return parse_u64(token).map(Size::Bytes);
    }
    is_human(token).then_some(Size::Unknown)
}

/// `9.8K`, `103.5M`, `103.5` (aws prints the unit as the next token).
pub(super) fn is_human(token: &[u8]) -> bool {
    let number = token.strip_suffix(b"K").or(token.strip_suffix(b"M")).or(token.strip_suffix(b"G"));
    let number = number.or(token.strip_suffix(b"T")).unwrap_or(token);
    !number.is_empty() && number.iter().all(|b| b.is_ascii_digit() || *b == b'.') && number.contains(&b'.')
}

/// `2006/01/02 15:04:05` at the start of the line.
pub(super) fn is_s5cmd_date(line: &[u8]) -> bool {
    line.len() >= 19 && line[4] == b'/' && line[7] == b'/' && line[10] == b' ' && line[13] == b':'
}

/// `2006-01-02` at the start of the text.
pub(super) fn is_dash_date(text: &[u8]) -> bool {
    text.len() >= 10 && text[4] == b'-' && text[7] == b'-' && is_digits(&text[..4])
}
