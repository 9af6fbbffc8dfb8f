//! The view a URL describes: year, layer, zoom, centre and selected tile, so a link
//! reproduces what its sender saw.

use std::fmt;

/// What the map colours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layer {
    /// The tiles one store holds.
    Store(String),
    /// Every tile, coloured by how many stores hold it.
    All,
    /// The tiles the primary holds and this store lacks (for the primary: the registry lists and it lacks).
    Missing(String),
}

impl Layer {
    /// `okavango`, `all` or `missing-scaleway`.
    pub fn parse(text: &str) -> Option<Layer> {
        match text {
            "" => None,
            "all" => Some(Layer::All),
            _ => Some(match text.strip_prefix("missing-") {
                Some(store) if !store.is_empty() => Layer::Missing(store.to_owned()),
                _ => Layer::Store(text.to_owned()),
            }),
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layer::Store(store) => f.write_str(store),
            Layer::All => f.write_str("all"),
            Layer::Missing(store) => write!(f, "missing-{store}"),
        }
    }
}

/// Everything the URL query holds.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub year: Option<u16>,
    pub layer: Option<Layer>,
    pub zoom: Option<f64>,
    /// Longitude and latitude of the map's centre.
    pub centre: Option<(f64, f64)>,
    /// A selected item id, `2024_grid_0.85_49.95`.
    pub tile: Option<String>,
}

impl View {
    /// Reads `?year=2024&layer=okavango&z=4.5&lon=10&lat=50&tile=...`; bad values are ignored.
    pub fn parse(query: &str) -> View {
        let mut view = View { year: None, layer: None, zoom: None, centre: None, tile: None };
        let (mut lon, mut lat) = (None, None);
        for (name, value) in form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
            let value = value.into_owned();
            match &*name {
                "year" => view.year = value.parse().ok(),
                "layer" => view.layer = Layer::parse(&value),
                "z" => view.zoom = value.parse().ok().filter(|z: &f64| (0.0..=24.0).contains(z)),
                "lon" => lon = value.parse().ok().filter(|x: &f64| (-180.0..=180.0).contains(x)),
                "lat" => lat = value.parse().ok().filter(|y: &f64| (-90.0..=90.0).contains(y)),
                "tile" if !value.is_empty() => view.tile = Some(value),
                _ => {}
            }
        }
        view.centre = lon.zip(lat);
        view
    }

    /// The query string for this view, starting with `?`.
    pub fn to_query(&self) -> String {
        // `for_suffix`: the pairs follow the `?` with no `&` before the first.
        let mut query = form_urlencoded::Serializer::for_suffix(String::from("?"), 1);
        if let Some(year) = self.year {
            query.append_pair("year", &year.to_string());
        }
        if let Some(layer) = &self.layer {
            query.append_pair("layer", &layer.to_string());
        }
        if let Some(zoom) = self.zoom {
            query.append_pair("z", &format!("{zoom:.2}"));
        }
        if let Some((lon, lat)) = self.centre {
            query.append_pair("lon", &format!("{lon:.4}"));
            query.append_pair("lat", &format!("{lat:.4}"));
        }
        if let Some(tile) = &self.tile {
            query.append_pair("tile", tile);
        }
        query.finish()
    }
}

/// `n` with its thousands grouped by commas, as the status line shows counts: `453,887`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (at, digit) in digits.chars().enumerate() {
        if at > 0 && (digits.len() - at).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        let cases = [(0, "0"), (999, "999"), (1000, "1,000"), (453_887, "453,887"), (97_200_000, "97,200,000")];
        for (n, text) in cases {
            assert_eq!(thousands(n), text);
        }
    }

    #[test]
    fn a_view_round_trips_through_its_query() {
        let view = View {
            year: Some(2024),
            layer: Some(Layer::Missing("scaleway".into())),
            zoom: Some(5.5),
            centre: Some((10.25, -33.5)),
            tile: Some("2024_grid_0.85_49.95".into()),
        };
        assert_eq!(
            view.to_query(),
            "?year=2024&layer=missing-scaleway&z=5.50&lon=10.2500&lat=-33.5000&tile=2024_grid_0.85_49.95"
        );
        assert_eq!(View::parse(&view.to_query()), view);
        assert_eq!(View::parse("?year=2024&layer=okavango").layer, Some(Layer::Store("okavango".into())));
        assert_eq!(View::parse("?layer=all&year=x&z=99").layer, Some(Layer::All));
        assert_eq!(View::parse("?year=x&z=99"), View { year: None, layer: None, zoom: None, centre: None, tile: None });
    }
}
