//! Tile paths: `{year}/grid_{lon}_{lat}/{file}` found at the end of a listed path, in bytes.

use super::bytes::{is_digits, parse_u64};
use crate::grid::{Cell, Year};

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
pub(super) fn split_tile_path(path: &[u8]) -> Option<(usize, usize)> {
    let slash = rfind_slash(path)?;
    let folder_at = rfind_slash(&path[..slash]).map_or(0, |at| at + 1);
    Some((folder_at, slash))
}

/// [`parse_tile_path`] once [`split_tile_path`] has found the folder and the file.
#[inline]
pub(super) fn parse_split_tile_path(
    path: &[u8],
    folder_at: usize,
    slash: usize,
    default_year: Option<Year>,
) -> TilePath {
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
pub(super) fn rfind_slash(bytes: &[u8]) -> Option<usize> {
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
pub(super) fn has_newline(bytes: &[u8; 40]) -> bool {
    let (words, _) = bytes.as_chunks::<8>();
    let newlines = u64::from_ne_bytes([b'\n'; 8]);
    words.iter().fold(0, |found, word| found | zero_bytes(u64::from_le_bytes(*word) ^ newlines)) != 0
}

/// The top bit of each byte of `x` that is zero, exactly (no carries between bytes).
#[inline]
pub(super) fn zero_bytes(x: u64) -> u64 {
    const LOW7: u64 = u64::from_ne_bytes([0x7f; 8]);
    !(((x & LOW7) + LOW7) | x | LOW7)
}

/// The cell of a tile folder name, `grid_0.85_49.95`, parsed from bytes in one pass (the
/// scanner meets a new folder every three lines). The same rules as [`Cell::parse_name`].
#[inline]
pub(super) fn parse_folder(folder: &[u8]) -> Option<Cell> {
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
pub(super) fn parse_centi_prefix(bytes: &[u8]) -> Option<(i32, usize)> {
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
pub(super) fn role_of(file: &[u8], folder: &[u8]) -> Option<Role> {
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
pub(super) fn role_at_line_end(text: &[u8], name: &[u8]) -> Option<(Role, usize)> {
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
pub(super) fn file_in<'a>(path: &'a [u8], folder: &[u8]) -> Option<&'a [u8]> {
    let (head, rest) = path.split_at_checked(folder.len())?;
    let file = rest.strip_prefix(b"/")?;
    same_bytes(head, folder).then_some(file)
}

/// `a == b`, written for speed on the short folder and file names of tile keys (8 to 32
/// bytes): two overlapping wide loads compare them in registers, where a slice compare calls
/// `memcmp`, which costs more than the compare itself at these lengths and ran on every line.
#[inline]
pub(super) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    match a.len() {
        8..=16 => a.first_chunk::<8>() == b.first_chunk::<8>() && a.last_chunk::<8>() == b.last_chunk::<8>(),
        17..=32 => a.first_chunk::<16>() == b.first_chunk::<16>() && a.last_chunk::<16>() == b.last_chunk::<16>(),
        _ => a == b,
    }
}
