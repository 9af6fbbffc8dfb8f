//! Coverage painted into an RGBA canvas laid out in Web Mercator, so that MapLibre, which
//! stretches a canvas source linearly between its corners in Mercator space, puts every
//! 0.1-degree cell on its true footprint at every zoom.
//!
//! The canvas is [`WIDTH`] x [`HEIGHT`] pixels over lon -180..180 and lat +-[`MAX_LAT`]: one
//! pixel column per grid column, and pixel rows mapped to latitudes through the inverse
//! Mercator formula (one pixel per cell at the equator, more toward the poles).

use tessera_engine::bitmap::RoaringView;
use tessera_engine::grid::{COLS, ROWS};

/// Pixel columns: one per grid column.
pub const WIDTH: u32 = COLS;
/// Pixel rows: the Mercator world is square.
pub const HEIGHT: u32 = COLS;
/// The latitude where Web Mercator stops (the corners of the canvas source).
pub const MAX_LAT: f64 = 85.051_128_779_806_59;

/// A 1-degree block of the grid and how many of its cells are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// Its west edge, in whole degrees.
    pub west: i16,
    /// Its south edge, in whole degrees.
    pub south: i16,
    pub cells: u32,
}

/// Cells of one year, each with a small level (0 = nothing drawn).
#[derive(Debug, Clone)]
pub struct Levels {
    levels: Vec<u8>,
    drawn: u64,
}

impl Levels {
    pub fn new() -> Levels {
        Levels { levels: vec![0; (COLS * ROWS) as usize], drawn: 0 }
    }

    /// Adds 1 to the level of every cell in `view` (a bitmap of cell indexes of one year).
    pub fn add<B: AsRef<[u8]>>(&mut self, view: &RoaringView<B>) {
        let levels = &mut self.levels;
        view.for_each_range(|lo, hi| {
            let (lo, hi) = (lo as usize, (hi as usize).min(levels.len() - 1));
            if lo <= hi {
                for level in &mut levels[lo..=hi] {
                    *level = level.saturating_add(1);
                }
            }
        });
        self.drawn = self.levels.iter().filter(|&&l| l > 0).count() as u64;
    }

    /// Cells with a level above 0: what the map shows.
    pub fn drawn(&self) -> u64 {
        self.drawn
    }

    /// The level of the cell at `index` (`row * 3600 + col`).
    pub fn level(&self, index: u32) -> u8 {
        self.levels.get(index as usize).copied().unwrap_or(0)
    }

    /// Paints the canvas: `palette[level]` as RGBA for each pixel (level 0 is usually clear).
    pub fn paint(&self, palette: &[[u8; 4]]) -> Vec<u8> {
        self.paint_scaled(palette, 1)
    }

    /// Paints a canvas `scale` times smaller each way (`WIDTH / scale` square), each pixel
    /// showing the highest level of the `scale` cells it covers in its row. For world views,
    /// where a cell is smaller than a screen pixel anyway: a quarter of the pixels to upload.
    pub fn paint_scaled(&self, palette: &[[u8; 4]], scale: u32) -> Vec<u8> {
        let scale = scale.clamp(1, 4) as usize;
        let (width, height) = (WIDTH as usize / scale, HEIGHT as usize / scale);
        let mut rgba = vec![0u8; width * height * 4];
        let mut previous: Option<(u32, usize)> = None;
        for py in 0..height {
            let row = grid_row_of_pixel_in(py as u32, height as u32);
            let line = py * width * 4..(py + 1) * width * 4;
            // Rows near the poles repeat: copy the line above instead of painting it again.
            if let Some((prev_row, prev_py)) = previous
                && prev_row == row
            {
                rgba.copy_within(prev_py * width * 4..(prev_py + 1) * width * 4, line.start);
                continue;
            }
            let cells = &self.levels[(row * COLS) as usize..((row + 1) * COLS) as usize];
            for (pixel, group) in rgba[line].chunks_exact_mut(4).zip(cells.chunks(scale)) {
                let level = group.iter().copied().max().unwrap_or(0);
                if level > 0 {
                    pixel.copy_from_slice(&palette[usize::from(level).min(palette.len() - 1)]);
                }
            }
            previous = Some((row, py));
        }
        rgba
    }

    /// Paints a canvas `block` times smaller each way, each pixel showing the highest level of
    /// the `block` x `block`-pixel square of the full canvas it stands for (every cell under
    /// it, whole rows included). A sparse layer then shows each of its cells as a mark at
    /// least a block wide, where one cell would be a fraction of a screen pixel.
    pub fn paint_blocks(&self, palette: &[[u8; 4]], block: u32) -> Vec<u8> {
        let block = block.max(1);
        let (width, height) = ((WIDTH / block) as usize, (HEIGHT / block) as usize);
        // Each grid row's highest level per block of columns, computed once.
        let columns = COLS as usize / block as usize;
        let by_row: Vec<u8> = self
            .levels
            .chunks_exact(COLS as usize)
            .flat_map(|row| row.chunks(block as usize).map(|group| group.iter().copied().max().unwrap_or(0)))
            .collect();
        let mut rgba = vec![0u8; width * height * 4];
        for py in 0..height {
            // The grid rows under this pixel row: from its bottom edge to its top edge.
            let top = grid_row_of_pixel(py as u32 * block);
            let bottom = grid_row_of_pixel((py as u32 + 1) * block - 1);
            let line = &mut rgba[py * width * 4..(py + 1) * width * 4];
            for (px, pixel) in line.chunks_exact_mut(4).enumerate().take(columns) {
                let level = (bottom..=top).map(|row| by_row[row as usize * columns + px]).max().unwrap_or(0);
                if level > 0 {
                    pixel.copy_from_slice(&palette[usize::from(level).min(palette.len() - 1)]);
                }
            }
        }
        rgba
    }

    /// Marks, on a canvas painted at `scale` (by [`Levels::paint_scaled`] or
    /// [`Levels::paint_blocks`]), each cell below level `full` (held by fewer stores than all)
    /// with a square `mark` cells wide, the lowest level on top. A mirror's few missing tiles
    /// are then seen among the millions every store holds: painted alone, each is a fraction
    /// of a pixel, and its pixel shows the highest level under it. Cells below `full` in their
    /// thousands need no marks (they show as areas): past `most` of them none are made.
    pub fn mark_below(&self, rgba: &mut [u8], palette: &[[u8; 4]], scale: u32, mark: u32, full: u8, most: usize) {
        let mut below: Vec<(u8, u32)> = Vec::new();
        for (index, &level) in self.levels.iter().enumerate() {
            if level > 0 && level < full {
                if below.len() == most {
                    return;
                }
                below.push((level, index as u32));
            }
        }
        let scale = scale.max(1);
        let side = (mark / scale).max(1) as usize;
        let (width, height) = ((WIDTH / scale) as usize, (HEIGHT / scale) as usize);
        let pixel_rows = pixel_row_of_grid_row(height as u32);
        // Highest level first, so the lowest is painted last and stays on top.
        for level in (1..full).rev() {
            let colour = palette[usize::from(level).min(palette.len() - 1)];
            for &(_, index) in below.iter().filter(|(at, _)| *at == level) {
                let (row, col) = (index / COLS, index % COLS);
                let (x, y) = ((col / scale) as usize, pixel_rows[row as usize] as usize);
                let (left, top) = (x.saturating_sub(side / 2), y.saturating_sub(side / 2));
                for py in top..(top + side).min(height) {
                    let line = &mut rgba[py * width * 4..(py + 1) * width * 4];
                    for pixel in line.chunks_exact_mut(4).take((left + side).min(width)).skip(left) {
                        pixel.copy_from_slice(&colour);
                    }
                }
            }
        }
    }

    /// The `n` 1-degree blocks with the most cells drawn, most first (ties west to east,
    /// then south to north): where a sparse layer's tiles gather.
    pub fn largest_blocks(&self, n: usize) -> Vec<Block> {
        let mut counts = vec![0u32; 360 * 180];
        for (index, _) in self.levels.iter().enumerate().filter(|(_, level)| **level > 0) {
            let (row, col) = (index / COLS as usize, index % COLS as usize);
            counts[row / 10 * 360 + col / 10] += 1;
        }
        let mut blocks: Vec<Block> = counts
            .iter()
            .enumerate()
            .filter(|(_, cells)| **cells > 0)
            .map(|(at, &cells)| Block { west: (at % 360) as i16 - 180, south: (at / 360) as i16 - 90, cells })
            .collect();
        blocks.sort_by(|a, b| b.cells.cmp(&a.cells).then((a.west, a.south).cmp(&(b.west, b.south))));
        blocks.truncate(n);
        blocks
    }
}

impl Default for Levels {
    fn default() -> Levels {
        Levels::new()
    }
}

/// The grid row (0 at the south pole) shown by canvas pixel row `py` (0 at the top).
pub fn grid_row_of_pixel(py: u32) -> u32 {
    grid_row_of_pixel_in(py, HEIGHT)
}

/// For each grid row, the middle pixel row of those that show it on a canvas `height` pixels
/// tall, or the nearest one: a canvas shorter than the grid near the equator skips rows there.
fn pixel_row_of_grid_row(height: u32) -> Vec<u32> {
    let mut spans: Vec<Option<(u32, u32)>> = vec![None; ROWS as usize];
    for py in 0..height {
        let span = spans[grid_row_of_pixel_in(py, height) as usize].get_or_insert((py, py));
        span.1 = py;
    }
    // Rows south of the canvas take its bottom row; a skipped row, the row south of it's.
    let mut last = height.saturating_sub(1);
    spans
        .into_iter()
        .map(|span| {
            last = span.map_or(last, |(top, bottom)| (top + bottom) / 2);
            last
        })
        .collect()
}

/// The same for a canvas `height` pixels tall.
fn grid_row_of_pixel_in(py: u32, height: u32) -> u32 {
    let y = std::f64::consts::PI * (1.0 - 2.0 * (f64::from(py) + 0.5) / f64::from(height));
    let lat = y.sinh().atan().to_degrees();
    (((lat + 90.0) * 10.0).floor() as u32).min(ROWS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_engine::grid::Cell;

    /// The canvas pixel row where MapLibre draws latitude `lat` (the forward projection).
    fn pixel_row_of_lat(lat: f64) -> u32 {
        let y = (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0).tan().ln();
        ((1.0 - y / std::f64::consts::PI) / 2.0 * f64::from(HEIGHT)) as u32
    }

    #[test]
    fn every_cell_centre_lands_on_its_own_row() {
        for lat_centi in (-8495..=8495).step_by(10) {
            let cell = Cell::from_centi(5, lat_centi).unwrap();
            let py = pixel_row_of_lat(cell.lat());
            assert_eq!(grid_row_of_pixel(py), cell.row(), "lat {}", cell.lat());
        }
    }

    fn view_of(cells: &[Cell]) -> RoaringView<Vec<u8>> {
        let bitmap: roaring::RoaringBitmap = cells.iter().map(|cell| cell.index()).collect();
        let mut bytes = Vec::new();
        bitmap.serialize_into(&mut bytes).unwrap();
        RoaringView::open(bytes).unwrap()
    }

    fn levels_of(cells: &[Cell]) -> Levels {
        let mut levels = Levels::new();
        levels.add(&view_of(cells));
        levels
    }

    #[test]
    fn blocks_mark_every_cell_under_them_and_count_by_degree() {
        let cells = [(0.85, 49.95), (0.95, 49.95), (-179.95, -60.05), (179.95, 70.05), (20.05, 0.05)]
            .map(|(lon, lat)| Cell::from_degrees(lon, lat).unwrap());
        let levels = levels_of(&cells);
        for block in [2, 5, 8, 10] {
            let rgba = levels.paint_blocks(&[[0; 4], [255, 0, 255, 255]], block);
            let width = (WIDTH / block) as usize;
            assert_eq!(rgba.len(), width * width * 4);
            for cell in &cells {
                // The block holding the cell's full-canvas pixel is marked.
                let (px, py) = (cell.col() / block, pixel_row_of_lat(cell.lat()) / block);
                let at = (py as usize * width + px as usize) * 4;
                assert_eq!(&rgba[at..at + 4], [255, 0, 255, 255], "block {block}, cell {cell:?}");
            }
            let marked = rgba.chunks_exact(4).filter(|p| p[3] != 0).count();
            assert!(marked <= cells.len() * 3, "block {block}: {marked} marks for {} cells", cells.len());
        }
        let largest = levels.largest_blocks(2);
        assert_eq!(largest[0], Block { west: 0, south: 49, cells: 2 });
        assert_eq!(largest[1], Block { west: -180, south: -61, cells: 1 });
    }

    /// Three stores over a square of cells, one of them lacking a single cell: at the world
    /// view's scale that cell is marked in its level's colour, over the full level around it.
    #[test]
    fn a_cell_held_by_fewer_stores_is_marked_among_cells_held_by_all() {
        let square: Vec<Cell> = (0..40)
            .flat_map(|i| {
                (0..40)
                    .map(move |j| Cell::from_degrees(10.05 + f64::from(i) / 10.0, 40.05 + f64::from(j) / 10.0).unwrap())
            })
            .collect();
        let lacking = Cell::from_degrees(11.55, 41.55).unwrap();
        let mirror: Vec<Cell> = square.iter().copied().filter(|cell| *cell != lacking).collect();
        let mut levels = Levels::new();
        for store in [&square, &mirror, &square] {
            levels.add(&view_of(store));
        }
        let palette = [[0; 4], [255, 0, 0, 255], [255, 200, 0, 255], [0, 160, 80, 255]];
        let (scale, mark) = (2, 20);
        let width = (WIDTH / scale) as usize;
        let at = |rgba: &[u8], cell: Cell| {
            let (px, py) = (cell.col() / scale, pixel_row_of_lat(cell.lat()) / scale);
            rgba[(py as usize * width + px as usize) * 4..][..4].to_vec()
        };
        let plain = levels.paint_scaled(&palette, scale);
        assert_eq!(at(&plain, lacking), palette[3], "painted plainly, the cell is hidden by its neighbours");
        let marked = |scale: u32, mark: u32, most: usize| {
            let mut rgba = levels.paint_scaled(&palette, scale);
            levels.mark_below(&mut rgba, &palette, scale, mark, 3, most);
            rgba
        };
        let with_marks = marked(scale, mark, 100);
        assert_eq!(at(&with_marks, lacking), palette[2]);
        let marks = with_marks.chunks_exact(4).filter(|p| *p == palette[2]).count();
        assert_eq!(marks, (mark / scale).pow(2) as usize, "one square {} pixels wide", mark / scale);
        let far = Cell::from_degrees(13.55, 43.55).unwrap();
        assert_eq!(at(&with_marks, far), palette[3]);
        // Past `most` cells below full, no marks: they show as areas.
        assert_eq!(marked(scale, mark, 0), plain);
        // Where a cell is as wide as a mark, the plain paint is exact and marks change nothing.
        assert_eq!(marked(1, 1, 100), levels.paint_scaled(&palette, 1));
        // On a sparse layer's blocks, the block holding the cell shows its level, not the highest.
        let mut blocks = levels.paint_blocks(&palette, mark);
        let block_width = (WIDTH / mark) as usize;
        let block_at = |rgba: &[u8]| {
            let (px, py) = (lacking.col() / mark, pixel_row_of_lat(lacking.lat()) / mark);
            rgba[(py as usize * block_width + px as usize) * 4..][..4].to_vec()
        };
        assert_eq!(block_at(&blocks), palette[3]);
        levels.mark_below(&mut blocks, &palette, mark, mark, 3, 100);
        assert_eq!(block_at(&blocks), palette[2]);
    }

    #[test]
    fn every_grid_row_has_a_pixel_row_near_its_own() {
        for height in [HEIGHT, HEIGHT / 2, HEIGHT / 4] {
            let rows = pixel_row_of_grid_row(height);
            for row in (0..ROWS).step_by(7) {
                let lat = f64::from(row) / 10.0 - 90.0 + 0.05;
                if lat.abs() + 0.05 > MAX_LAT {
                    continue;
                }
                let exact = pixel_row_of_lat(lat) * height / HEIGHT;
                assert!(
                    rows[row as usize].abs_diff(exact) <= 1,
                    "height {height}, row {row}: {} vs {exact}",
                    rows[row as usize]
                );
            }
        }
    }

    #[test]
    fn painting_marks_exactly_the_cells_of_the_bitmap() {
        let cell = Cell::from_degrees(0.85, 49.95).unwrap();
        let mut bitmap = roaring::RoaringBitmap::new();
        bitmap.insert(cell.index());
        let mut bytes = Vec::new();
        bitmap.serialize_into(&mut bytes).unwrap();
        let mut levels = Levels::new();
        levels.add(&RoaringView::open(bytes).unwrap());
        assert_eq!(levels.drawn(), 1);
        let rgba = levels.paint(&[[0; 4], [255, 0, 255, 255]]);
        let py = pixel_row_of_lat(cell.lat()) as usize;
        let at = |px: usize, py: usize| &rgba[(py * WIDTH as usize + px) * 4..][..4];
        assert_eq!(at(cell.col() as usize, py), [255, 0, 255, 255]);
        assert_eq!(at(cell.col() as usize + 1, py), [0, 0, 0, 0]);
        let painted = rgba.chunks_exact(4).filter(|p| p[3] != 0).count();
        // At lat 50 a cell is about 1.56 pixel rows tall: 1 or 2 rows.
        assert!((1..=2).contains(&painted), "{painted} pixels");
        let half = levels.paint_scaled(&[[0; 4], [255, 0, 255, 255]], 2);
        assert_eq!(half.len(), rgba.len() / 4);
        let at_half = (py / 2 * WIDTH as usize / 2 + cell.col() as usize / 2) * 4;
        assert_eq!(&half[at_half..at_half + 4], [255, 0, 255, 255]);
    }
}
