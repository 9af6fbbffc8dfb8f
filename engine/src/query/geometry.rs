//! GeoJSON `intersects` geometries rasterised onto the 0.1-degree grid.
//!
//! A tile matches a polygon when its footprint and the polygon overlap with positive area,
//! like a `bbox` (so a polygon drawn on grid lines selects exactly the cells inside it). That
//! happens exactly when the cell's centre is inside the polygon or an edge crosses the cell's
//! open interior, which is what the rasteriser computes: a scanline through each row's centre, and
//! each edge clipped to each open row band. A point matches the cell whose half-open footprint
//! holds it, a line the cells its segments cross and those of its vertices.
//!
//! The work a request can cost is bounded, whatever it sends: cells are marked in one bitset
//! of the grid (3600 x 1800 bits, 810 KB), and a geometry may have at most [`MAX_POSITIONS`]
//! positions, its edges may cross at most [`MAX_CROSSINGS`] rows in all, and the cells it
//! selects may form at most [`MAX_SPANS`] runs. Past a budget the geometry is refused, saying
//! which, before more memory or time is spent on it.

use crate::grid::{COLS, ROWS};
use serde_json::Value;
use xxhash_rust::xxh3::Xxh3;

/// At most this many positions in one geometry.
pub const MAX_POSITIONS: usize = 100_000;
/// At most this many rows crossed by all of a geometry's edges together: the work of tracing
/// them, and the scanline crossings a polygon's interior is filled from.
pub const MAX_CROSSINGS: usize = 2_000_000;
/// At most this many runs of cells: what the search's id ranges are built from, per year.
pub const MAX_SPANS: usize = 200_000;

/// The cells a geometry touches, as `(row, first col, last col)` spans sorted by row and col.
pub type Spans = Vec<(u32, u32, u32)>;

/// Rasterises a GeoJSON geometry, or says what is wrong with it.
pub fn rasterise(geometry: &Value) -> Result<Spans, String> {
    let mut raster = Raster::new();
    raster.geometry(geometry, 0)?;
    raster.into_spans()
}

/// A hash of `spans`, computed as it goes (a search's fingerprint binds its tokens to it).
pub fn fingerprint(spans: &Spans) -> u64 {
    let mut hasher = Xxh3::new();
    for &(row, lo, hi) in spans {
        hasher.update(&row.to_le_bytes());
        hasher.update(&lo.to_le_bytes());
        hasher.update(&hi.to_le_bytes());
    }
    hasher.digest()
}

/// A position in grid units: `x` in 0..=3600 columns, `y` in 0..=1800 rows.
#[derive(Debug, Clone, Copy)]
struct Point {
    x: f64,
    y: f64,
}

/// Words of one grid row in the bitset.
const ROW_WORDS: usize = (COLS as usize).div_ceil(64);

#[derive(Debug)]
struct Raster {
    /// One bit a cell, row by row: a fixed 810 KB whatever the geometry.
    cells: Vec<u64>,
    positions: usize,
    crossings: usize,
}

impl Raster {
    fn new() -> Raster {
        Raster { cells: vec![0; ROW_WORDS * ROWS as usize], positions: 0, crossings: 0 }
    }

    /// Marks columns `lo..=hi` of `row`.
    fn mark(&mut self, row: u32, lo: u32, hi: u32) {
        let words = &mut self.cells[row as usize * ROW_WORDS..][..ROW_WORDS];
        let (lo, hi) = (lo as usize, hi as usize);
        for (word, bits) in words.iter_mut().enumerate().take(hi / 64 + 1).skip(lo / 64) {
            let from = if word == lo / 64 { lo % 64 } else { 0 };
            let to = if word == hi / 64 { hi % 64 } else { 63 };
            *bits |= (u64::MAX >> (63 - to)) & (u64::MAX << from);
        }
    }

    /// Counts `rows` more crossed rows against the budget.
    fn cross(&mut self, rows: usize) -> Result<(), String> {
        self.crossings += rows;
        if self.crossings > MAX_CROSSINGS {
            return Err(format!(
                "its edges cross more than {MAX_CROSSINGS} grid rows in all; simplify it or split the search"
            ));
        }
        Ok(())
    }

    fn geometry(&mut self, geometry: &Value, depth: usize) -> Result<(), String> {
        let kind = geometry.get("type").and_then(Value::as_str).ok_or("a geometry needs a string `type`")?;
        if kind == "GeometryCollection" {
            let members = geometry.get("geometries").and_then(Value::as_array).ok_or("needs `geometries`")?;
            if depth > 4 {
                return Err("GeometryCollections are nested too deeply".into());
            }
            return members.iter().try_for_each(|member| self.geometry(member, depth + 1));
        }
        let coordinates = geometry.get("coordinates").ok_or_else(|| format!("a {kind} needs `coordinates`"))?;
        match kind {
            "Point" => self.point(coordinates),
            "MultiPoint" => list(coordinates, "MultiPoint")?.iter().try_for_each(|p| self.point(p)),
            "LineString" => self.line(coordinates),
            "MultiLineString" => list(coordinates, "MultiLineString")?.iter().try_for_each(|l| self.line(l)),
            "Polygon" => self.polygon(coordinates),
            "MultiPolygon" => list(coordinates, "MultiPolygon")?.iter().try_for_each(|p| self.polygon(p)),
            other => Err(format!("`{other}` is not a GeoJSON geometry type")),
        }
    }

    fn point(&mut self, position: &Value) -> Result<(), String> {
        let p = self.position(position)?;
        let (col, row) = (half_open_cell(p.x, COLS), half_open_cell(p.y, ROWS));
        self.mark(row, col, col);
        Ok(())
    }

    fn line(&mut self, coordinates: &Value) -> Result<(), String> {
        let points = self.positions(coordinates, 2, "a LineString")?;
        for pair in points.windows(2) {
            self.edge(pair[0], pair[1])?;
        }
        for p in points {
            let (col, row) = (half_open_cell(p.x, COLS), half_open_cell(p.y, ROWS));
            self.mark(row, col, col);
        }
        Ok(())
    }

    fn polygon(&mut self, coordinates: &Value) -> Result<(), String> {
        let rings: Vec<Vec<Point>> = list(coordinates, "Polygon")?
            .iter()
            .map(|ring| self.positions(ring, 4, "a Polygon ring"))
            .collect::<Result<_, _>>()?;
        if rings.is_empty() {
            return Err("a Polygon needs at least one ring".into());
        }
        let edges: Vec<(Point, Point)> =
            rings.iter().flat_map(|ring| ring.windows(2).map(|pair| (pair[0], pair[1]))).collect();
        for &(a, b) in &edges {
            self.edge(a, b)?;
        }
        self.interior(&edges)
    }

    /// Cells whose centre is inside the rings (even-odd, so holes are left out). Each edge
    /// adds its crossing of every row centre it spans; each row's crossings, sorted, pair up
    /// into runs. The work is the crossings, counted against the budget, not rows x edges.
    fn interior(&mut self, edges: &[(Point, Point)]) -> Result<(), String> {
        let mut crossings: Vec<(u32, f64)> = Vec::new();
        for &(a, b) in edges {
            // Rows whose centre y = row + 0.5 lies in [min(a.y, b.y), max(a.y, b.y)).
            let (y_lo, y_hi) = (a.y.min(b.y), a.y.max(b.y));
            let first = (y_lo - 0.5).ceil().max(0.0);
            let last = ((y_hi - 0.5).ceil() - 1.0).min(f64::from(ROWS - 1));
            if first > last {
                continue;
            }
            self.cross((last - first) as usize + 1)?;
            for row in first as u32..=last as u32 {
                let y = f64::from(row) + 0.5;
                if (a.y <= y) != (b.y <= y) {
                    crossings.push((row, a.x + (y - a.y) / (b.y - a.y) * (b.x - a.x)));
                }
            }
        }
        crossings.sort_by(|p, q| p.0.cmp(&q.0).then(p.1.total_cmp(&q.1)));
        for row_crossings in crossings.chunk_by(|p, q| p.0 == q.0) {
            for pair in row_crossings.chunks_exact(2) {
                // Columns whose centre c + 0.5 lies in [pair[0], pair[1]].
                let lo = (pair[0].1 - 0.5).ceil().max(0.0);
                let hi = (pair[1].1 - 0.5).floor().min(f64::from(COLS - 1));
                if lo <= hi {
                    self.mark(pair[0].0, lo as u32, hi as u32);
                }
            }
        }
        Ok(())
    }

    /// Cells whose open interior the segment `a`-`b` crosses.
    fn edge(&mut self, a: Point, b: Point) -> Result<(), String> {
        let (y_lo, y_hi) = (a.y.min(b.y), a.y.max(b.y));
        if y_lo == y_hi {
            if y_lo.fract() != 0.0 && y_lo < f64::from(ROWS) {
                let (x_lo, x_hi) = (a.x.min(b.x), a.x.max(b.x));
                self.mark_open(y_lo as u32, x_lo, x_hi);
            }
            return Ok(());
        }
        let first_row = y_lo.floor() as u32;
        let last_row = (y_hi.ceil() as u32).saturating_sub(1).min(ROWS - 1);
        self.cross((last_row.saturating_sub(first_row) + 1) as usize)?;
        for row in first_row..=last_row {
            let (band_lo, band_hi) = (y_lo.max(f64::from(row)), y_hi.min(f64::from(row + 1)));
            let x_at = |y: f64| a.x + (y - a.y) / (b.y - a.y) * (b.x - a.x);
            let (x1, x2) = (x_at(band_lo), x_at(band_hi));
            self.mark_open(row, x1.min(x2), x1.max(x2));
        }
        Ok(())
    }

    /// Marks the columns of `row` whose open interval `(c, c + 1)` meets `[x_lo, x_hi]`.
    fn mark_open(&mut self, row: u32, x_lo: f64, x_hi: f64) {
        let (lo, hi) = if x_lo < x_hi {
            (x_lo.floor(), x_hi.ceil() - 1.0)
        } else if x_lo.fract() != 0.0 {
            (x_lo.floor(), x_lo.floor())
        } else {
            return;
        };
        let (lo, hi) = (lo.max(0.0), hi.min(f64::from(COLS - 1)));
        if lo <= hi {
            self.mark(row, lo as u32, hi as u32);
        }
    }

    fn positions(&mut self, coordinates: &Value, at_least: usize, what: &str) -> Result<Vec<Point>, String> {
        let positions = list(coordinates, what)?;
        if positions.len() < at_least {
            return Err(format!("{what} needs at least {at_least} positions, found {}", positions.len()));
        }
        positions.iter().map(|p| self.position(p)).collect()
    }

    fn position(&mut self, position: &Value) -> Result<Point, String> {
        self.positions += 1;
        if self.positions > MAX_POSITIONS {
            return Err(format!("the geometry has more than {MAX_POSITIONS} positions"));
        }
        let numbers = position.as_array().filter(|p| (2..=3).contains(&p.len()));
        let lon_lat = numbers.and_then(|p| Some((p[0].as_f64()?, p[1].as_f64()?)));
        let Some((lon, lat)) = lon_lat else {
            return Err(format!("`{position}` is not a position [lon, lat]"));
        };
        if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
            return Err(format!("position [{lon}, {lat}] is off the globe"));
        }
        Ok(Point { x: (lon + 180.0) * 10.0, y: (lat + 90.0) * 10.0 })
    }

    /// The marked cells as runs, row by row; refused past [`MAX_SPANS`] runs.
    fn into_spans(self) -> Result<Spans, String> {
        let mut spans: Spans = Vec::new();
        for (row, words) in self.cells.chunks_exact(ROW_WORDS).enumerate() {
            let mut col = 0usize;
            while col < COLS as usize {
                let (word, bit) = (col / 64, col % 64);
                let bits = words[word] >> bit;
                if bits == 0 {
                    col = (word + 1) * 64;
                    continue;
                }
                let start = col + bits.trailing_zeros() as usize;
                let mut end = start;
                while end + 1 < COLS as usize && words[(end + 1) / 64] >> ((end + 1) % 64) & 1 == 1 {
                    end += 1;
                }
                spans.push((row as u32, start as u32, end as u32));
                if spans.len() > MAX_SPANS {
                    return Err(format!("it selects more than {MAX_SPANS} separate runs of cells; simplify it"));
                }
                col = end + 1;
            }
        }
        Ok(spans)
    }
}

fn list<'v>(value: &'v Value, what: &str) -> Result<&'v Vec<Value>, String> {
    value.as_array().ok_or_else(|| format!("the coordinates of {what} must be an array"))
}

/// The cell whose half-open interval `[c, c + 1)` holds `v`; the last cell for the far edge.
fn half_open_cell(v: f64, cells: u32) -> u32 {
    (v.floor().max(0.0) as u32).min(cells - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::{Bbox, Cell};
    use serde_json::json;

    fn box_polygon(w: f64, s: f64, e: f64, n: f64) -> Value {
        json!({"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]})
    }

    fn cells(spans: &Spans) -> Vec<(u32, u32)> {
        spans.iter().flat_map(|&(row, lo, hi)| (lo..=hi).map(move |col| (row, col))).collect()
    }

    #[test]
    fn a_rectangle_selects_what_the_same_bbox_selects() {
        for (w, s, e, n) in [(10.05, 50.05, 10.25, 50.25), (20.0, 20.0, 21.0, 21.0), (-0.33, -0.41, 0.27, 0.18)] {
            let bbox = Bbox::new(w, s, e, n).unwrap();
            let (r0, r1) = bbox.rows();
            let mut expected = Vec::new();
            for row in r0..=r1 {
                for col in 0..COLS {
                    if bbox.contains_cell(Cell::new(row, col).unwrap()) {
                        expected.push((row, col));
                    }
                }
            }
            assert_eq!(cells(&rasterise(&box_polygon(w, s, e, n)).unwrap()), expected, "{w},{s},{e},{n}");
        }
    }

    #[test]
    fn a_hole_is_left_out_and_a_triangle_follows_its_diagonal() {
        let holed = json!({"type": "Polygon", "coordinates": [
            [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]],
            [[0.3, 0.3], [0.7, 0.3], [0.7, 0.7], [0.3, 0.7], [0.3, 0.3]]]});
        let got = cells(&rasterise(&holed).unwrap());
        assert_eq!(got.len(), 100 - 16);
        let hole_cell = Cell::from_degrees(0.55, 0.55).unwrap();
        assert!(!got.contains(&(hole_cell.row(), hole_cell.col())));
        // The triangle below the diagonal of a 1-degree square: 10 cells on the diagonal plus 45 below.
        let triangle = json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]]});
        assert_eq!(cells(&rasterise(&triangle).unwrap()).len(), 55);
    }

    #[test]
    fn points_lines_and_collections() {
        let point = json!({"type": "Point", "coordinates": [0.85, 49.95]});
        let cell = Cell::from_degrees(0.85, 49.95).unwrap();
        assert_eq!(cells(&rasterise(&point).unwrap()), vec![(cell.row(), cell.col())]);
        let line = json!({"type": "LineString", "coordinates": [[0.05, 0.05], [0.95, 0.05]]});
        assert_eq!(cells(&rasterise(&line).unwrap()).len(), 10);
        let both = json!({"type": "GeometryCollection", "geometries": [point, line]});
        assert_eq!(cells(&rasterise(&both).unwrap()).len(), 11);
    }

    #[test]
    fn a_hostile_geometry_is_refused_within_its_budget() {
        // 60,000 positions zig-zagging from pole to pole: 60,000 edges x 1,800 rows.
        let zigzag: Vec<Value> =
            (0..60_000).map(|k| json!([-179.0 + k as f64 * 0.005, if k % 2 == 0 { -89.9 } else { 89.9 }])).collect();
        let started = std::time::Instant::now();
        let err = rasterise(&json!({"type": "LineString", "coordinates": zigzag})).unwrap_err();
        assert!(err.contains("cross more than"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
        let too_many = vec![json!([0.0, 0.0]); MAX_POSITIONS + 1];
        assert!(rasterise(&json!({"type": "LineString", "coordinates": too_many})).unwrap_err().contains("positions"));
    }

    #[test]
    fn spans_hash_as_they_go() {
        let a = rasterise(&box_polygon(0.0, 0.0, 1.0, 1.0)).unwrap();
        let b = rasterise(&box_polygon(0.0, 0.0, 1.0, 1.1)).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn bad_geometries_are_named() {
        for (bad, says) in [
            (json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}), "at least 4"),
            (json!({"type": "Point", "coordinates": [200, 0]}), "off the globe"),
            (json!({"type": "Circle", "coordinates": [0, 0]}), "not a GeoJSON"),
            (json!({"type": "Point"}), "coordinates"),
            (json!({"type": "Point", "coordinates": ["a", 0]}), "not a position"),
        ] {
            let err = rasterise(&bad).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
    }
}
