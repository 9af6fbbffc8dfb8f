//! GeoJSON `intersects` geometries rasterised onto the 0.1-degree grid.
//!
//! A tile matches a polygon when its footprint and the polygon overlap with positive area,
//! like a `bbox` (so a polygon drawn on grid lines selects exactly the cells inside it). That
//! happens exactly when the cell's centre is inside the polygon or an edge crosses the cell's
//! open interior, which is what [`Raster`] computes: a scanline through each row's centre, and
//! each edge clipped to each open row band. A point matches the cell whose half-open footprint
//! holds it, a line the cells its segments cross and those of its vertices.

use serde_json::Value;
use tessera_engine::grid::{COLS, ROWS};

/// At most this many positions in one geometry: the work is vertices x rows.
const MAX_POSITIONS: usize = 100_000;

/// The cells a geometry touches, as `(row, first col, last col)` spans sorted by row and col.
pub type Spans = Vec<(u32, u32, u32)>;

/// Rasterises a GeoJSON geometry, or says what is wrong with it.
pub fn rasterise(geometry: &Value) -> Result<Spans, String> {
    let mut raster = Raster::default();
    raster.geometry(geometry, 0)?;
    Ok(raster.into_spans())
}

/// A position in grid units: `x` in 0..=3600 columns, `y` in 0..=1800 rows.
#[derive(Debug, Clone, Copy)]
struct Point {
    x: f64,
    y: f64,
}

#[derive(Debug, Default)]
struct Raster {
    /// Marked cells, as `(row, col_lo, col_hi)` in any order; sorted and merged at the end.
    marks: Vec<(u32, u32, u32)>,
    positions: usize,
}

impl Raster {
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
        self.marks.push((row, col, col));
        Ok(())
    }

    fn line(&mut self, coordinates: &Value) -> Result<(), String> {
        let points = self.positions(coordinates, 2, "a LineString")?;
        for pair in points.windows(2) {
            self.edge(pair[0], pair[1]);
        }
        for p in points {
            let (col, row) = (half_open_cell(p.x, COLS), half_open_cell(p.y, ROWS));
            self.marks.push((row, col, col));
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
            self.edge(a, b);
        }
        self.interior(&edges);
        Ok(())
    }

    /// Cells whose centre is inside the rings (even-odd, so holes are left out).
    fn interior(&mut self, edges: &[(Point, Point)]) {
        let (lo, hi) =
            edges.iter().fold((f64::MAX, f64::MIN), |(lo, hi), (a, b)| (lo.min(a.y.min(b.y)), hi.max(a.y.max(b.y))));
        let first_row = (lo - 0.5).ceil().max(0.0) as u32;
        let last_row = ((hi - 0.5).floor().min(f64::from(ROWS - 1))).max(-1.0);
        if last_row < 0.0 {
            return;
        }
        let mut crossings = Vec::new();
        for row in first_row..=last_row as u32 {
            let y = f64::from(row) + 0.5;
            crossings.clear();
            for &(a, b) in edges {
                if (a.y <= y) != (b.y <= y) {
                    crossings.push(a.x + (y - a.y) / (b.y - a.y) * (b.x - a.x));
                }
            }
            crossings.sort_by(f64::total_cmp);
            for pair in crossings.chunks_exact(2) {
                // Columns whose centre c + 0.5 lies in [pair[0], pair[1]].
                let lo = (pair[0] - 0.5).ceil().max(0.0);
                let hi = (pair[1] - 0.5).floor().min(f64::from(COLS - 1));
                if lo <= hi {
                    self.marks.push((row, lo as u32, hi as u32));
                }
            }
        }
    }

    /// Cells whose open interior the segment `a`-`b` crosses.
    fn edge(&mut self, a: Point, b: Point) {
        let (y_lo, y_hi) = (a.y.min(b.y), a.y.max(b.y));
        if y_lo == y_hi {
            if y_lo.fract() != 0.0 && y_lo < f64::from(ROWS) {
                let (x_lo, x_hi) = (a.x.min(b.x), a.x.max(b.x));
                self.mark_open(y_lo as u32, x_lo, x_hi);
            }
            return;
        }
        let first_row = y_lo.floor() as u32;
        let last_row = (y_hi.ceil() as u32).saturating_sub(1).min(ROWS - 1);
        for row in first_row..=last_row {
            let (band_lo, band_hi) = (y_lo.max(f64::from(row)), y_hi.min(f64::from(row + 1)));
            let x_at = |y: f64| a.x + (y - a.y) / (b.y - a.y) * (b.x - a.x);
            let (x1, x2) = (x_at(band_lo), x_at(band_hi));
            self.mark_open(row, x1.min(x2), x1.max(x2));
        }
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
            self.marks.push((row, lo as u32, hi as u32));
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

    fn into_spans(mut self) -> Spans {
        self.marks.sort_unstable();
        let mut spans: Spans = Vec::with_capacity(self.marks.len());
        for (row, lo, hi) in self.marks {
            match spans.last_mut() {
                Some(last) if last.0 == row && last.2 + 1 >= lo => last.2 = last.2.max(hi),
                _ => spans.push((row, lo, hi)),
            }
        }
        spans
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
    use serde_json::json;
    use tessera_engine::grid::{Bbox, Cell};

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
