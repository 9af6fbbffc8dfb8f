//! Copy-list rendering: tile keys `2024/grid_0.85_49.95` from ids, without `format!` per line.
//!
//! Every coordinate string of the grid is rendered once (3600 longitudes, 1800 latitudes),
//! so a line is five `extend_from_slice` calls: a diff of 10,000 tiles renders in microseconds.

use std::io::{self, Write};

use crate::grid::{CELLS_PER_YEAR, COLS, Cell, IdRange, ROWS, YearRange, write_centi};
use crate::storage::{CopyTool, Storage};

/// A coordinate rendered as `{:.2}`, at most 7 bytes (`-179.95`).
#[derive(Debug, Clone, Copy, Default)]
struct Text {
    bytes: [u8; 8],
    len: u8,
}

impl Text {
    fn centi(centi: i32) -> Text {
        let mut rendered = String::new();
        // Writing to a String cannot fail.
        let _ = write_centi(&mut rendered, centi);
        let mut text = Text { len: rendered.len() as u8, ..Text::default() };
        text.bytes[..rendered.len()].copy_from_slice(rendered.as_bytes());
        text
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Which text a line holds for a tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStyle {
    /// `2024/grid_0.85_49.95`: the copy-list key, a path below a store's base.
    Key,
    /// `2024_grid_0.85_49.95`: the STAC item id.
    ItemId,
}

/// Renders tile ids as text from precomputed coordinate strings.
#[derive(Debug, Clone)]
pub struct KeyWriter {
    years: YearRange,
    lon: Vec<Text>,
    lat: Vec<Text>,
}

impl KeyWriter {
    /// Renders the 3600 longitude and 1800 latitude strings once; id 0 is in `years.first()`.
    pub fn new(years: YearRange) -> KeyWriter {
        let lon = (0..COLS).map(|col| Text::centi(cell(0, col).lon_centi())).collect();
        let lat = (0..ROWS).map(|row| Text::centi(cell(row, 0).lat_centi())).collect();
        KeyWriter { years, lon, lat }
    }

    /// Appends the text of `id` in `style`, without a line end. Ids past the last year are
    /// rendered with the year they would have, which callers never pass (ids come from views
    /// whose year range was checked).
    #[inline]
    pub fn push(&self, out: &mut Vec<u8>, id: u32, style: KeyStyle) {
        let year = u32::from(self.years.first()) + id / CELLS_PER_YEAR;
        let index = id % CELLS_PER_YEAR;
        let (row, col) = ((index / COLS) as usize, (index % COLS) as usize);
        push_year(out, year);
        out.extend_from_slice(if style == KeyStyle::Key { b"/grid_" } else { b"_grid_" });
        out.extend_from_slice(self.lon[col].as_bytes());
        out.push(b'_');
        out.extend_from_slice(self.lat[row].as_bytes());
    }

    /// Writes one line per id in `ranges`, in order, through a 64 KiB buffer.
    pub fn write_lines(&self, ranges: &[IdRange], style: KeyStyle, out: &mut impl Write) -> io::Result<()> {
        let template = Template { before: b"", again: None, after: b"\n" };
        self.write_template(ranges, style, &template, out)
    }

    /// Writes `s5cmd run` commands that copy each tile folder from `source` to `target` (local
    /// paths or `s3://bucket/prefix`): `cp "SRC/2024/grid_0.85_49.95/*" "DST/2024/grid_0.85_49.95/"`.
    pub fn write_s5cmd(&self, ranges: &[IdRange], source: &str, target: &str, out: &mut impl Write) -> io::Result<()> {
        let before = format!("cp \"{}/", source.trim_end_matches('/'));
        let again = format!("/*\" \"{}/", target.trim_end_matches('/'));
        let template = Template { before: before.as_bytes(), again: Some(again.as_bytes()), after: b"/\"\n" };
        self.write_template(ranges, KeyStyle::Key, &template, out)
    }

    /// Writes one shell command per tile that copies its folder between two local directories,
    /// for `xargs -d '\n' -n 1 -P 8 sh -c`:
    /// `mkdir -p 'DST'/2024 && cp -a 'SRC'/2024/grid_0.85_49.95 'DST'/2024/`.
    /// `mkdir -p` rather than `cp --parents`, which fails when a parallel `cp` makes the same
    /// year folder first; an existing, partial tile folder is filled in, never nested. The
    /// directories are quoted for the shell; keys need no quoting.
    pub fn write_cp(&self, ranges: &[IdRange], source: &str, target: &str, out: &mut impl Write) -> io::Result<()> {
        let source = shell_quote(source.trim_end_matches('/'));
        let target = shell_quote(target.trim_end_matches('/'));
        let mut buffer = Vec::with_capacity(1 << 16);
        let mut key = Vec::with_capacity(32);
        for id in ranges.iter().flat_map(|range| range.lo..=range.hi) {
            key.clear();
            self.push(&mut key, id, KeyStyle::Key);
            let year = &key[..key.iter().position(|&b| b == b'/').unwrap_or(key.len())];
            let (source, target) = (source.as_bytes(), target.as_bytes());
            let line: [&[u8]; 12] =
                [b"mkdir -p ", target, b"/", year, b" && cp -a ", source, b"/", &key, b" ", target, b"/", year];
            line.iter().for_each(|part| buffer.extend_from_slice(part));
            buffer.extend_from_slice(b"/\n");
            if buffer.len() >= (1 << 16) - 1024 {
                out.write_all(&buffer)?;
                buffer.clear();
            }
        }
        out.write_all(&buffer)
    }

    /// Writes what `tool` reads to copy the tiles of `ranges` from `source` to `target`:
    /// `s5cmd run` commands, an `rsync --files-from` list (tile folders, relative to both
    /// storages), or `cp -a` shell commands. The caller has checked the pair with
    /// [`CopyTool::check`]; a pair the tool cannot serve still gets its lines.
    pub fn write_for_tool(
        &self,
        ranges: &[IdRange],
        tool: CopyTool,
        source: &Storage,
        target: &Storage,
        out: &mut impl Write,
    ) -> io::Result<()> {
        match tool {
            CopyTool::S5cmd => self.write_s5cmd(ranges, source.as_str(), target.as_str(), out),
            CopyTool::Rsync => self.write_lines(ranges, KeyStyle::Key, out),
            CopyTool::Cp => self.write_cp(ranges, source.as_str(), target.as_str(), out),
        }
    }

    /// Writes `before KEY [again KEY] after` per id: the shape of every line format.
    fn write_template(
        &self,
        ranges: &[IdRange],
        style: KeyStyle,
        template: &Template,
        out: &mut impl Write,
    ) -> io::Result<()> {
        let mut buffer = Vec::with_capacity(1 << 16);
        for range in ranges {
            for id in range.lo..=range.hi {
                buffer.extend_from_slice(template.before);
                self.push(&mut buffer, id, style);
                if let Some(again) = template.again {
                    buffer.extend_from_slice(again);
                    self.push(&mut buffer, id, style);
                }
                buffer.extend_from_slice(template.after);
                if buffer.len() >= (1 << 16) - 1024 {
                    out.write_all(&buffer)?;
                    buffer.clear();
                }
            }
        }
        out.write_all(&buffer)
    }
}

/// The fixed text around the key(s) of one line.
struct Template<'a> {
    before: &'a [u8],
    again: Option<&'a [u8]>,
    after: &'a [u8],
}

/// `text` in single quotes for a POSIX shell, each `'` written as `'\''`.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn cell(row: u32, col: u32) -> Cell {
    Cell::new(row, col).expect("rows and columns below ROWS and COLS are on the grid")
}

#[inline]
fn push_year(out: &mut Vec<u8>, year: u32) {
    if (1000..10000).contains(&year) {
        out.extend_from_slice(&[
            b'0' + (year / 1000) as u8,
            b'0' + (year / 100 % 10) as u8,
            b'0' + (year / 10 % 10) as u8,
            b'0' + (year % 10) as u8,
        ]);
    } else {
        out.extend_from_slice(year.to_string().as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::{DEFAULT_YEARS, Tile};

    #[test]
    fn keys_match_the_grid_display_for_every_cell_of_a_row_and_column() {
        let writer = KeyWriter::new(DEFAULT_YEARS);
        let cells = (0..COLS).map(|col| cell(1399, col)).chain((0..ROWS).map(|row| cell(row, 1808)));
        for (n, cell) in cells.enumerate() {
            let tile = Tile::new(2017 + (n % 9) as u16, cell);
            let id = DEFAULT_YEARS.id(tile).unwrap().0;
            for (style, expected) in
                [(KeyStyle::Key, tile.key().to_string()), (KeyStyle::ItemId, tile.item_id().to_string())]
            {
                let mut line = Vec::new();
                writer.push(&mut line, id, style);
                assert_eq!(String::from_utf8(line).unwrap(), expected);
            }
        }
    }

    #[test]
    fn s5cmd_lines_copy_tile_folders() {
        let writer = KeyWriter::new(DEFAULT_YEARS);
        let id = DEFAULT_YEARS.id(Tile::parse_key("2024/grid_0.85_49.95").unwrap()).unwrap().0;
        let mut out = Vec::new();
        writer.write_s5cmd(&[IdRange { lo: id, hi: id }], "/data/v1/", "s3://bucket/v1", &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "cp \"/data/v1/2024/grid_0.85_49.95/*\" \"s3://bucket/v1/2024/grid_0.85_49.95/\"\n"
        );
    }

    #[test]
    fn cp_lines_quote_the_directories_for_the_shell() {
        let writer = KeyWriter::new(DEFAULT_YEARS);
        let id = DEFAULT_YEARS.id(Tile::parse_key("2024/grid_0.85_49.95").unwrap()).unwrap().0;
        let mut out = Vec::new();
        writer.write_cp(&[IdRange { lo: id, hi: id }], "/data/it's v1/", "/mnt/ceph", &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "mkdir -p '/mnt/ceph'/2024 && cp -a '/data/it'\\''s v1'/2024/grid_0.85_49.95 '/mnt/ceph'/2024/\n"
        );
    }

    #[test]
    fn lines_follow_the_ranges() {
        let writer = KeyWriter::new(DEFAULT_YEARS);
        let mut out = Vec::new();
        writer.write_lines(&[IdRange { lo: 0, hi: 1 }], KeyStyle::Key, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "2017/grid_-179.95_-89.95\n2017/grid_-179.85_-89.95\n");
    }
}
