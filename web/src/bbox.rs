//! Boxes drawn on the map: two dragged corners become a [`Bbox`] on the 0.1-degree grid lines,
//! so it selects whole cells, and a box becomes the ring that outlines it.

use tessera_engine::grid::Bbox;

/// The box between two corners, as the map gives them: longitudes may run past +-180 when
/// the drag crosses the antimeridian (MapLibre repeats the world). Each edge moves to the
/// nearest grid line; a drag across the antimeridian gives a box with west > east.
pub fn from_corners(a: (f64, f64), b: (f64, f64)) -> Option<Bbox> {
    let [west, east] = [a.0.min(b.0), a.0.max(b.0)].map(grid_line);
    let [south, north] = [a.1.min(b.1), a.1.max(b.1)].map(|lat| grid_line(lat.clamp(-90.0, 90.0)));
    let [west, east] = if east - west >= 360.0 { [-180.0, 180.0] } else { [wrap(west), wrap(east)] };
    Bbox::new(west, south, east, north).ok()
}

/// The nearest 0.1-degree grid line.
fn grid_line(degrees: f64) -> f64 {
    (degrees * 10.0).round() / 10.0
}

/// A longitude in -180..=180 (180 itself stays 180, so a box can end at the antimeridian).
fn wrap(lon: f64) -> f64 {
    if (-180.0..=180.0).contains(&lon) { lon } else { (lon + 180.0).rem_euclid(360.0) - 180.0 }
}

/// The box's outline, closed, west to east: across the antimeridian the east edge is given
/// past 180 so the map draws one box, not one around the world.
pub fn ring(bbox: &Bbox) -> [[f64; 2]; 5] {
    let [west, south, mut east, north] = bbox.degrees();
    if bbox.crosses_antimeridian() {
        east += 360.0;
    }
    [[west, south], [east, south], [east, north], [west, north], [west, south]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corners_snap_to_the_nearest_grid_lines_in_any_order() {
        let bbox = from_corners((10.04, 44.96), (-0.02, 55.01)).unwrap();
        assert_eq!(bbox.to_string(), "0,45,10,55");
        assert_eq!(from_corners((0.0, 55.0), (10.0, 45.0)), Some(bbox));
    }

    #[test]
    fn a_drag_across_the_antimeridian_gives_a_crossing_box() {
        let bbox = from_corners((170.0, -50.0), (190.0, 10.0)).unwrap();
        assert_eq!(bbox.to_string(), "170,-50,-170,10");
        assert!(bbox.crosses_antimeridian());
        assert_eq!(ring(&bbox)[1], [190.0, -50.0]);
        let west = from_corners((-190.0, 0.0), (-170.0, 1.0)).unwrap();
        assert_eq!(west.to_string(), "170,0,-170,1");
        let to_the_line = from_corners((170.0, 0.0), (180.04, 1.0)).unwrap();
        assert_eq!(to_the_line.to_string(), "170,0,180,1");
    }

    #[test]
    fn a_drag_round_the_world_is_the_whole_world() {
        assert_eq!(from_corners((-200.0, -95.0), (200.0, 95.0)).unwrap().to_string(), "-180,-90,180,90");
    }

    #[test]
    fn a_ring_is_closed() {
        let ring = ring(&Bbox::parse("0,45,10,55").unwrap());
        assert_eq!(ring[0], ring[4]);
        assert_eq!(ring[2], [10.0, 55.0]);
    }
}
