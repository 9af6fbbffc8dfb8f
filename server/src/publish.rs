//! The map's data as static files: what `tessera publish` writes, rendered by the same code
//! that answers the API, so a static site and a running server never disagree.
//!
//! Each file is named by the path the map reads it from (`coverage/okavango/2024.bin`,
//! `coverage/registry/okavango/2024.bin`), relative to the site's root.

use std::path::Path;

use bytes::Bytes;
use tessera_engine::bitmap::encode_ranges;
use tessera_engine::inventory::Role;

use crate::catalog::Catalog;
use crate::error::Result;

/// One file of a published site: where it goes (relative to the site's root) and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteFile {
    pub path: String,
    pub bytes: Bytes,
}

/// The coverage the map draws, as files: every store's tiles per year, and the gap layers the
/// map offers (what each store lacks of the registry, what each mirror lacks of the primary).
pub fn coverage_files(inventory: &Path) -> Result<Vec<SiteFile>> {
    // The base URL only shapes the API's documents, none of which is written here.
    let catalog = Catalog::load(inventory, "http://localhost")?;
    let mut files = Vec::new();
    for (source, target) in layers(&catalog) {
        for year in catalog.inventory().years().iter() {
            // The bytes `/coverage` sends, without the gzip and brotli forms it keeps beside
            // them: a static site's server compresses what it serves.
            let cells = catalog.inventory().coverage(&source, target.as_deref(), year)?;
            let path = match &target {
                None => format!("coverage/{source}/{year}.bin"),
                Some(target) => format!("coverage/{source}/{target}/{year}.bin"),
            };
            files.push(SiteFile { path, bytes: Bytes::from(encode_ranges(&cells)) });
        }
    }
    Ok(files)
}

/// `(source, None)` for each store's own coverage, `(source, Some(target))` for each gap.
fn layers(catalog: &Catalog) -> Vec<(String, Option<String>)> {
    let stores = catalog.inventory().stores();
    let primaries: Vec<&str> = stores
        .iter()
        .filter(|store| store.config.role == Role::Primary)
        .map(|store| store.config.name.as_str())
        .collect();
    let mut layers = Vec::new();
    for store in stores {
        let name = store.config.name.clone();
        layers.push((name.clone(), None));
        if catalog.inventory().registry().is_some() {
            layers.push((tessera_engine::inventory::REGISTRY.to_owned(), Some(name.clone())));
        }
        if store.config.role != Role::Primary {
            layers.extend(primaries.iter().map(|primary| ((*primary).to_owned(), Some(name.clone()))));
        }
    }
    layers
}
