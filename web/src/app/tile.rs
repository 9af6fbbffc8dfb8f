//! A clicked tile: its STAC item in the side panel, its footprint outlined on the map, and
//! the copy commands (`s5cmd cp` or `rsync`) that would copy it to the stores that lack it.

use leptos::prelude::*;
use serde_json::Value;
use tessera_engine::grid::{Cell, Tile};
use tessera_engine::storage::CopyTool;

use super::{Signals, StoreInfo, fetch_json, show_feature, update_url};

/// What the side panel shows about a clicked tile.
#[derive(Debug, Clone, PartialEq)]
pub struct TilePanel {
    pub id: String,
    pub key: String,
    pub stores: Vec<String>,
    pub assets: Vec<AssetPanel>,
    pub copy_lines: Vec<String>,
}

/// One file of the clicked tile.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetPanel {
    pub key: String,
    pub size: Option<u64>,
    pub checksum: Option<String>,
    /// `(store, href)`: the asset's href first, then its alternates.
    pub links: Vec<(String, String)>,
}

pub(super) fn tile_view(tile: TilePanel) -> impl IntoView {
    let stores = tile.stores.join(", ");
    view! {
        <section id="tile" data-item-id=tile.id.clone()>
            <h2>{tile.id.clone()}</h2>
            <p>"Held by: " <span id="tile-stores">{stores}</span></p>
            {tile.assets.into_iter().map(|asset| view! {
                <h3>{asset.key}</h3>
                <p>{asset.size.map(|s| format!("{s} bytes")).unwrap_or_default()}</p>
                <p class="checksum">{asset.checksum.unwrap_or_default()}</p>
                <ul class="links">
                    {asset.links.into_iter().map(|(store, href)| {
                        let label = store.clone();
                        view! { <li><a class="store-link" data-store=store href=href>{label}</a></li> }
                    }).collect_view()}
                </ul>
            }).collect_view()}
            {(!tile.copy_lines.is_empty()).then(|| view! {
                <h3>"Copy to the stores that lack it"</h3>
                <pre class="copy">{tile.copy_lines.join("\n")}</pre>
            })}
        </section>
    }
}

/// The item id of the tile at a point, e.g. `2024_grid_0.85_49.95`.
pub fn item_id_at(year: u16, lon: f64, lat: f64) -> Option<String> {
    let col = ((lon + 180.0) * 10.0).floor().clamp(0.0, 3599.0) as u32;
    let row = ((lat + 90.0) * 10.0).floor().clamp(0.0, 1799.0) as u32;
    let cell = Cell::new(row, col).ok()?;
    Some(Tile::new(year, cell).item_id().to_string())
}

/// Shows a tile's item in the panel and outlines it on the map.
pub(super) async fn open_tile(signals: Signals, item_id: String) {
    let Ok(tile) = Tile::parse_item_id(&item_id) else { return };
    let url = format!("/collections/geotessera-{}/items/{item_id}", tile.year);
    match fetch_json(&url).await {
        Ok(item) => {
            outline(&item);
            signals.panel.set(Some(panel_of(&item, tile, &signals.stores.get_untracked())));
            update_url(signals, Some(item_id));
        }
        Err(_) => signals.message.set(Some(format!("no tile {item_id} in the registry"))),
    }
}

fn panel_of(item: &Value, tile: Tile, stores: &[StoreInfo]) -> TilePanel {
    let holders: Vec<String> = item["properties"]["tessera:stores"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str())
        .map(str::to_owned)
        .collect();
    let assets = ["embeddings", "scales", "checksums"]
        .iter()
        .filter_map(|key| {
            let asset = item["assets"].get(*key)?;
            let mut links = vec![(
                asset["alternate:name"].as_str().unwrap_or("href").to_owned(),
                asset["href"].as_str()?.to_owned(),
            )];
            for (store, alternate) in asset["alternate"].as_object().into_iter().flatten() {
                links.push((store.clone(), alternate["href"].as_str().unwrap_or_default().to_owned()));
            }
            Some(AssetPanel {
                key: key.to_string(),
                size: asset["file:size"].as_u64(),
                checksum: asset["file:checksum"].as_str().map(str::to_owned),
                links,
            })
        })
        .collect();
    let key = tile.key().to_string();
    let source = stores.iter().find(|s| holders.contains(&s.name) && s.has_storage());
    let copy_lines = match source {
        Some(source) => stores
            .iter()
            .filter(|s| !holders.contains(&s.name) && s.has_storage())
            .map(|target| copy_line(stores, source, target, &key))
            .collect(),
        None => Vec::new(),
    };
    TilePanel { id: item["id"].as_str().unwrap_or_default().to_owned(), key, stores: holders, assets, copy_lines }
}

/// One command that copies tile `key` from `source` to `target` with the tool for the pair:
/// `s5cmd cp` when S3 is on a side, `rsync` (which makes the tile folder's parents) between two
/// directories.
fn copy_line(stores: &[StoreInfo], source: &StoreInfo, target: &StoreInfo, key: &str) -> String {
    let (from, to) = (source.storage.trim_end_matches('/'), target.storage.trim_end_matches('/'));
    match super::boxes::copy_tool(stores, &source.name, &target.name) {
        CopyTool::S5cmd => format!("s5cmd cp \"{from}/{key}/*\" \"{to}/{key}/\""),
        CopyTool::Rsync | CopyTool::Cp => format!("rsync -a --mkpath \"{from}/{key}/\" \"{to}/{key}/\""),
    }
}

fn outline(item: &Value) {
    let footprint = serde_json::json!({"type": "Feature", "geometry": item["geometry"], "properties": {}});
    let layer = serde_json::json!({"id": "selected", "type": "line", "source": "selected",
        "paint": {"line-color": "#ffffff", "line-width": 2}});
    show_feature("selected", footprint, layer);
}
