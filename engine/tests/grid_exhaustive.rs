//! The grid arithmetic is exact: every cell round-trips through its name and id, and bbox
//! id ranges equal a brute-force footprint test over every cell of the grid.

use proptest::prelude::*;
use tessera_engine::grid::{Bbox, COLS, Cell, DEFAULT_YEARS, ROWS, Tile, YearRange};

#[test]
fn every_cell_round_trips_name_to_id_to_name() {
    let years = DEFAULT_YEARS;
    let mut name = String::new();
    for row in 0..ROWS {
        for col in 0..COLS {
            let cell = Cell::new(row, col).unwrap();
            name.clear();
            std::fmt::write(&mut name, format_args!("{}", cell.name())).unwrap();
            let parsed = Cell::parse_name(&name).unwrap();
            let year = 2017 + ((row + col) % 9) as u16;
            let id = years.id(Tile::new(year, parsed)).unwrap();
            let back = years.tile(id).unwrap();
            assert_eq!((back.year, back.cell), (year, cell), "{name}");
            assert_eq!(id.0, (u32::from(year) - 2017) * 6_480_000 + row * 3600 + col);
            assert_eq!(Cell::from_centi(cell.lon_centi(), cell.lat_centi()).unwrap(), cell);
        }
    }
}

#[test]
fn python_style_names_agree_with_float_formatting() {
    // geotessera names tiles with f"grid_{lon:.2f}_{lat:.2f}"; Rust's {:.2} rounds the same way.
    for (row, col) in [(0, 0), (899, 1799), (900, 1800), (1799, 3599), (1390, 1808)] {
        let cell = Cell::new(row, col).unwrap();
        assert_eq!(cell.name().to_string(), format!("grid_{:.2}_{:.2}", cell.lon(), cell.lat()));
    }
}

/// A coordinate that is often on a grid line or a cell centre, sometimes anywhere.
fn coordinate(max: f64) -> impl Strategy<Value = f64> {
    let steps = (max * 20.0) as i32;
    prop_oneof![(-steps..=steps).prop_map(|k| f64::from(k) * 0.05), (-max..=max), Just(max), Just(-max),]
}

fn bbox() -> impl Strategy<Value = Bbox> {
    (coordinate(180.0), coordinate(90.0), coordinate(180.0), coordinate(90.0), any::<bool>()).prop_map(
        |(w, s, e, n, crossing)| {
            let (s, n) = if s <= n { (s, n) } else { (n, s) };
            // Keep both orders of west/east: west > east is an antimeridian crossing.
            let (w, e) = if crossing || w <= e { (w, e) } else { (e, w) };
            Bbox::new(w, s, e, n).unwrap()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn bbox_ranges_equal_a_brute_force_footprint_test(bbox in bbox()) {
        let years = YearRange::new(2020, 2021).unwrap();
        let ranges = bbox.id_ranges(years, &[2021]).unwrap();
        let mut selected = vec![false; (ROWS * COLS) as usize];
        for range in &ranges {
            for id in range.lo..=range.hi {
                selected[(id - 6_480_000) as usize] = true;
            }
        }
        for row in 0..ROWS {
            for col in 0..COLS {
                let cell = Cell::new(row, col).unwrap();
                let expected = bbox.contains_cell(cell);
                prop_assert_eq!(selected[cell.index() as usize], expected, "{:?} at {}", bbox, cell.name());
            }
        }
        prop_assert!(ranges.windows(2).all(|w| w[0].hi + 1 < w[1].lo));
    }
}

#[test]
fn footprint_overlap_is_what_contains_cell_means() {
    // A box inside one cell selects that cell alone; a box on grid lines selects the cells inside.
    let inside = Bbox::new(0.81, 49.91, 0.89, 49.99).unwrap();
    let cell = Cell::parse_name("grid_0.85_49.95").unwrap();
    assert!(inside.contains_cell(cell));
    let ranges = inside.id_ranges(DEFAULT_YEARS, &[2024]).unwrap();
    assert_eq!(ranges.len(), 1);
    assert_eq!(ranges[0].lo, ranges[0].hi);
    let aligned = Bbox::new(20.0, 20.0, 21.0, 21.0).unwrap();
    let count: u64 = aligned.id_ranges(DEFAULT_YEARS, &[2024]).unwrap().iter().map(|r| r.len()).sum();
    assert_eq!(count, 100);
}
