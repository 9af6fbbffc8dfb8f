//! The scanner: listing lines in, present tiles and a report of what was wrong out.

use std::num::NonZeroU64;

use super::formats::*;
use super::tile_path::*;
use crate::grid::{TileId, Year, YearRange};

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
    /// Tiles with some files listed but not all that make a tile present, in id order, with
    /// what each lacks.
    pub partial_tiles: Vec<PartialTile>,
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

/// A tile listed in part: which of the files that make it present it lacks (not listed, or
/// listed empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialTile {
    /// The tile's dense id.
    pub id: TileId,
    /// The embeddings file, `grid_X_Y.npy`, is not listed or empty.
    pub lacks_embeddings: bool,
    /// The scales file, `grid_X_Y_scales.npy`, is not listed or empty.
    pub lacks_scales: bool,
    /// `SHA256` is not listed, where the listing shows other tiles' `SHA256` files.
    pub lacks_sha256: bool,
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

    /// The tile if what was seen makes it present: both `.npy` files listed and not empty,
    /// and its `SHA256` when the listing shows them. Else what it lacks.
    fn present(self, needs_sha256: bool) -> Result<ScannedTile, PartialTile> {
        let lacks = |size: u64| size == ABSENT || size == 0;
        let partial = PartialTile {
            id: TileId(self.id),
            lacks_embeddings: lacks(self.embeddings),
            lacks_scales: lacks(self.scales),
            lacks_sha256: needs_sha256 && !self.sha256,
        };
        if partial.lacks_embeddings || partial.lacks_scales || partial.lacks_sha256 {
            return Err(partial);
        }
        let known = |size: u64| if size == UNKNOWN { None } else { NonZeroU64::new(size) };
        let (file_size, scales_size) = (known(self.embeddings), known(self.scales));
        Ok(ScannedTile { id: TileId(self.id), file_size, scales_size })
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
    pub(super) fn feed_parts(&mut self, text: &[u8], threads: usize, min_part: usize) {
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
        let mut partial_tiles = Vec::new();
        // Written for speed: `Seen` and `ScannedTile` have the same size and alignment, so this
        // collects in place into `seen`'s buffer instead of writing 3.8M tiles to fresh pages.
        let mut tiles: Vec<ScannedTile> = (self.seen.into_iter())
            .filter_map(|seen| seen.present(needs_sha256).map_err(|partial| partial_tiles.push(partial)).ok())
            .collect();
        // Reserved room never written costs only address space, but the caller keeps `tiles`.
        tiles.shrink_to_fit();
        self.report.partial_tiles = partial_tiles;
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
