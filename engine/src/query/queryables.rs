//! The properties a filter may name, as items carry them: the one list the compiler checks
//! names against and the STAC API's `/queryables` documents.

use crate::inventory::Inventory;

/// What a queryable holds, which decides the comparisons it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queryable {
    /// A string (`id`, `title`, `collection`, `grid:code`).
    Text,
    /// An integer (`year`, `tessera:bytes`).
    Integer,
    /// An instant (`datetime`, `start_datetime`, `end_datetime`).
    Instant,
    /// The tile's footprint.
    Geometry,
    /// `tessera:stores`: the names of the stores holding the tile.
    Stores(Vec<String>),
}

/// A named queryable with the sentence `/queryables` describes it by.
pub type Named = (&'static str, &'static str, Queryable);

/// The properties every tile of one year shares: a filter on them alone is decided once per
/// year by the `cql2` crate's evaluator.
pub const YEAR_PROPERTIES: &[&str] = &["datetime", "start_datetime", "end_datetime", "year", "collection"];

/// Every queryable of `inventory`, in the order `/queryables` lists them.
pub fn queryables(inventory: &Inventory) -> Vec<Named> {
    let stores = inventory.stores().iter().map(|store| store.config.name.clone()).collect();
    vec![
        ("id", "The item id: `{year}_grid_{lon}_{lat}`", Queryable::Text),
        ("title", "The item's title (its id)", Queryable::Text),
        ("collection", "The year's collection: `geotessera-{year}`", Queryable::Text),
        ("datetime", "The start of the tile's year", Queryable::Instant),
        ("start_datetime", "The start of the tile's year", Queryable::Instant),
        ("end_datetime", "The last second of the tile's year", Queryable::Instant),
        ("year", "The tile's year", Queryable::Integer),
        ("geometry", "The tile's 0.1-degree footprint", Queryable::Geometry),
        ("grid:code", "The tile's cell: `TESSERA-grid_{lon}_{lat}`", Queryable::Text),
        ("tessera:stores", "The stores holding the tile", Queryable::Stores(stores)),
        ("tessera:bytes", "Bytes of the tile's two .npy files, from the registry", Queryable::Integer),
    ]
}

/// The queryable `name` is close to, when it is probably a misspelling of one: a name in the
/// `tessera:` namespace, or one edit or two away from a queryable's name.
pub(crate) fn near_miss(name: &str, known: &[Named]) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let closest = known.iter().map(|&(known, ..)| (distance(&lower, known), known)).min()?;
    (closest.0 <= 2 || name.starts_with("tessera:")).then_some(closest.1)
}

/// Levenshtein distance over bytes (names are short ASCII).
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &x) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &y) in b.iter().enumerate() {
            let substituted = diagonal + usize::from(x != y);
            diagonal = row[j + 1];
            row[j + 1] = substituted.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspellings_of_our_names_are_caught_and_foreign_names_are_not() {
        let known = [("tessera:stores", "", Queryable::Text), ("datetime", "", Queryable::Instant)];
        assert_eq!(near_miss("tessera:store", &known), Some("tessera:stores"));
        assert_eq!(near_miss("Datetme", &known), Some("datetime"));
        assert_eq!(near_miss("tessera:anything", &known), Some("tessera:stores"));
        assert_eq!(near_miss("eo:cloud_cover", &known), None);
        assert_eq!(near_miss("mission", &known), None);
    }
}
