//! The app: the controls, the map and its coverage, the legend; the box tools are in
//! [`boxes`], the clicked tile's panel in [`tile`].
//!
//! Reactive state (year, layer, status, panel) lives in Leptos signals; the map, the canvas
//! and the downloaded bitmaps live in [`MODEL`], outside the reactive graph, because they are
//! JS objects and megabytes of bytes that no view renders directly.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;
use tessera_engine::bitmap::RoaringView;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

mod boxes;
mod tile;

use boxes::{BoxPanel, BoxSignals, count_box, on_box_drag};
use tile::{TilePanel, item_id_at, open_tile, tile_view};

use crate::maplibre::{self, Map};
use crate::paint::{self, Block, Levels};
use crate::view::{Layer, View, thousands};

/// Colours: a store's tiles, tiles by number of stores (1, 2, 3+), missing tiles.
const STORE_COLOUR: [u8; 4] = [232, 0, 140, 255];
const COUNT_COLOURS: [[u8; 4]; 4] = [[0, 0, 0, 0], [230, 60, 30, 255], [245, 170, 20, 255], [20, 160, 80, 255]];
const MISSING_COLOUR: [u8; 4] = [220, 20, 60, 255];

/// One store as `/coverage` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreInfo {
    pub name: String,
    pub primary: bool,
    /// Where its files are (a path, a bucket); empty when the server keeps that to its admin
    /// listener, and then the map offers no copy commands.
    pub storage: String,
    pub years: HashMap<String, u64>,
}

impl StoreInfo {
    /// Whether copy commands can name the store's files.
    pub fn has_storage(&self) -> bool {
        !self.storage.is_empty()
    }
}

#[derive(Default)]
struct Model {
    map: Option<Map>,
    canvas: Option<web_sys::HtmlCanvasElement>,
    bitmaps: HashMap<String, Rc<Vec<u8>>>,
    levels: Option<Levels>,
    palette: Vec<[u8; 4]>,
    /// Whether the basemap's outlines were asked for (after the first coverage frame).
    outlines_requested: bool,
    /// How the layer is painted at the current zoom (see [`look_for`]).
    look: Look,
    /// Whether the layer shown is sparse (a store's gaps, or few cells): its cells are drawn
    /// as marks that stay visible at every zoom (see [`paint_for`]).
    sparse: bool,
    /// Bumped on each redraw, so a slow download never overwrites a newer view.
    generation: u64,
    /// The corners of the box being dragged on the map, `(lon, lat)` as the map gives them.
    drag: Option<((f64, f64), (f64, f64))>,
}

thread_local! {
    static MODEL: RefCell<Model> = RefCell::new(Model::default());
}

#[component]
pub fn App() -> impl IntoView {
    let view = View::parse(&location_search());
    let year = RwSignal::new(view.year.unwrap_or(0));
    let layer = RwSignal::new(view.layer.clone().map(|l| l.to_string()).unwrap_or_default());
    let stores: RwSignal<Vec<StoreInfo>> = RwSignal::new(Vec::new());
    let years: RwSignal<Vec<u16>> = RwSignal::new(Vec::new());
    let status = RwSignal::new("loading".to_owned());
    let drawn = RwSignal::new(0u64);
    let panel: RwSignal<Option<TilePanel>> = RwSignal::new(None);
    let message: RwSignal<Option<String>> = RwSignal::new(None);
    let gaps: RwSignal<Vec<Block>> = RwSignal::new(Vec::new());
    let boxed = BoxSignals {
        text: RwSignal::new(String::new()),
        chosen: RwSignal::new(None),
        counts: RwSignal::new(None),
        error: RwSignal::new(None),
        drawing: RwSignal::new(false),
    };
    let signals = Signals { year, layer, stores, status, drawn, panel, message, boxed, gaps };

    spawn_local(async move {
        match start(signals, years, view).await {
            Ok(()) => {}
            Err(err) => {
                status.set("error".into());
                message.set(Some(err));
            }
        }
    });
    // A chosen box is counted again when the year changes.
    Effect::new(move |_| {
        if let (Some(bbox), year) = (boxed.chosen.get(), year.get())
            && year != 0
        {
            spawn_local(count_box(signals, bbox, year));
        }
    });
    let _escape = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape" {
            boxed.drawing.set(false);
        }
    });
    Effect::new(move |_| {
        let (year, layer) = (year.get(), layer.get());
        if year != 0 && !layer.is_empty() && MODEL.with(|m| m.borrow().map.is_some()) {
            spawn_local(redraw(signals, year, layer));
        }
    });

    let layer_options = move || {
        let mut options = vec![("all".to_owned(), "All stores, by count".to_owned())];
        for store in stores.get() {
            options.push((store.name.clone(), format!("Held by {}", store.name)));
        }
        // A mirror's gaps are against the primary, the primary's against the registry.
        for store in stores.get() {
            let against = if store.primary { "vs. the registry" } else { "vs. the primary" };
            options.push((format!("missing-{}", store.name), format!("Missing from {} ({against})", store.name)));
        }
        options
    };
    view! {
        <header>
            <h1>"tessera"</h1>
            <label>"Year "
                <select id="year" on:change=move |ev| year.set(event_target_value(&ev).parse().unwrap_or(0))>
                    {move || years.get().into_iter().map(|y| view! {
                        <option value=y.to_string() selected=move || year.get() == y>{y}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"Show "
                <select id="layer" on:change=move |ev| layer.set(event_target_value(&ev))>
                    {move || layer_options().into_iter().map(|(value, text)| {
                        let chosen = value.clone();
                        view! { <option value=value selected=move || layer.get() == chosen>{text}</option> }
                    }).collect_view()}
                </select>
            </label>
            <span id="status" role="status" aria-live="polite">
                {move || match status.get().as_str() {
                    "ready" => format!("{} tiles shown", thousands(drawn.get())),
                    "error" => "error".to_owned(),
                    _ => "loading…".to_owned(),
                }}
            </span>
        </header>
        <main>
            <div id="map" data-state="loading" data-coverage-tiles="0" class:drawing=move || boxed.drawing.get()></div>
            <aside id="panel">
                {move || message.get().map(|m| view! { <p class="message">{m}</p> })}
                <Legend layer=layer />
                <Gaps signals=signals />
                <BoxPanel signals=signals />
                {move || match panel.get() {
                    Some(tile) => tile_view(tile).into_any(),
                    None => view! { <p class="hint">"Click a tile to see its item and where to download it."</p> }.into_any(),
                }}
            </aside>
        </main>
    }
}

#[component]
fn Legend(layer: RwSignal<String>) -> impl IntoView {
    let swatch = |colour: [u8; 4], text: String| {
        let style = format!("background: rgb({},{},{})", colour[0], colour[1], colour[2]);
        view! { <li><span class="swatch" style=style></span>{text}</li> }
    };
    view! {
        <ul id="legend">
            {move || match Layer::parse(&layer.get()) {
                Some(Layer::All) => (1..=3).map(|n| swatch(COUNT_COLOURS[n], format!("held by {n}{} store{}", if n == 3 { "+" } else { "" }, if n == 1 { "" } else { "s" }))).collect_view().into_any(),
                Some(Layer::Missing(store)) => swatch(MISSING_COLOUR, format!("missing from {store}")).into_any(),
                Some(Layer::Store(store)) => swatch(STORE_COLOUR, format!("held by {store}")).into_any(),
                None => ().into_any(),
            }}
        </ul>
    }
}

/// The largest gaps of a store, by 1-degree block; a click flies there.
#[component]
fn Gaps(signals: Signals) -> impl IntoView {
    let gaps = signals.gaps;
    let fly = |block: Block| {
        move |_| {
            let centre = (f64::from(block.west) + 0.5, f64::from(block.south) + 0.5);
            MODEL.with(|m| {
                if let Some(map) = &m.borrow().map {
                    let options = js_sys::Object::new();
                    maplibre::set(&options, "center", js_sys::Array::of2(&centre.0.into(), &centre.1.into()));
                    maplibre::set(&options, "zoom", 7.0);
                    maplibre::set(&options, "duration", 1500);
                    map.fly_to(&options);
                }
            });
        }
    };
    let degrees = |value: i16, positive: char, negative: char| {
        format!("{}°{}", value.unsigned_abs(), if value < 0 { negative } else { positive })
    };
    move || {
        let gaps = gaps.get();
        (!gaps.is_empty()).then(|| {
            let items = gaps.into_iter().map(|block| {
                let place = format!("{}, {}", degrees(block.south, 'N', 'S'), degrees(block.west, 'E', 'W'));
                view! {
                    <li><button class="gap" data-west=block.west data-south=block.south data-tiles=block.cells on:click=fly(block)>
                        {format!("{} tile{} at {place}", block.cells, if block.cells == 1 { "" } else { "s" })}
                    </button></li>
                }
            });
            let search = gap_search(signals);
            view! {
                <h2 class="gaps-title">"Largest gaps (1° blocks)"</h2>
                <ol id="gaps">{items.collect_view()}</ol>
                {search.map(|href| view! {
                    <p class="gap-stac"><a id="gap-stac" href=href target="_blank">"This gap as a STAC search"</a>
                    " (for pystac-client, QGIS or a notebook)"</p>
                })}
            }
        })
    }
}

/// The STAC search that pages the gap shown: the tiles the layer's store lacks of what its
/// source holds (the primary, or the registry for the primary itself) in the year shown.
fn gap_search(signals: Signals) -> Option<String> {
    let Some(Layer::Missing(store)) = Layer::parse(&signals.layer.get()) else { return None };
    let stores = signals.stores.get();
    let primary = stores.iter().find(|s| s.primary).map(|s| s.name.as_str());
    let source = primary.filter(|&primary| primary != store);
    let filter = tessera_engine::stac::gap_filter(source, &store);
    Some(api_path(&tessera_engine::stac::search_path(&filter, &[signals.year.get()], None)))
}

#[derive(Clone, Copy)]
struct Signals {
    year: RwSignal<u16>,
    layer: RwSignal<String>,
    stores: RwSignal<Vec<StoreInfo>>,
    status: RwSignal<String>,
    drawn: RwSignal<u64>,
    panel: RwSignal<Option<TilePanel>>,
    message: RwSignal<Option<String>>,
    boxed: BoxSignals,
    gaps: RwSignal<Vec<Block>>,
}

/// Reads `/coverage` (preloaded by `index.html`), chooses the initial year and layer, starts
/// downloading their bitmaps, and creates the map meanwhile.
async fn start(signals: Signals, years: RwSignal<Vec<u16>>, view: View) -> Result<(), String> {
    let listing = fetch_json("/coverage").await?;
    let all_years: Vec<u16> =
        listing["years"].as_array().into_iter().flatten().filter_map(|y| y.as_u64()).map(|y| y as u16).collect();
    let stores: Vec<StoreInfo> = listing["stores"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| StoreInfo {
            name: s["name"].as_str().unwrap_or_default().to_owned(),
            primary: s["role"] == "primary",
            storage: s["storage"].as_str().unwrap_or_default().to_owned(),
            years: s["years"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect(),
        })
        .collect();
    let primary = stores.iter().find(|s| s.primary).or(stores.first()).map(|s| s.name.clone()).ok_or("no stores")?;
    let year = view.year.filter(|y| all_years.contains(y)).or(all_years.last().copied()).ok_or("no years")?;
    let layer = view.layer.as_ref().map(|l| l.to_string()).unwrap_or(primary);
    years.set(all_years);
    signals.stores.set(stores);
    // Download the first view's bitmaps while the map starts: both take a while.
    let first_urls =
        Layer::parse(&layer).map(|l| sources(&l, year, &signals.stores.get_untracked()).0).unwrap_or_default();
    let prefetch = prefetch(first_urls);
    let map = create_map(&view);
    let loaded = js_sys::Promise::new(&mut |resolve, _| {
        map.on("load", &resolve);
    });
    on_map_events(&map, signals);
    JsFuture::from(loaded).await.map_err(|_| "the map did not load")?;
    if let Some(basemap) = listing.get("basemap") {
        add_imagery(&map, basemap);
    }
    let _ = JsFuture::from(prefetch).await;
    MODEL.with(|m| m.borrow_mut().map = Some(map));
    signals.year.set(year);
    signals.layer.set(layer);
    if let Some(tile) = view.tile.clone() {
        spawn_local(open_tile(signals, tile));
    }
    Ok(())
}

fn create_map(view: &View) -> Map {
    let options = js_sys::Object::new();
    maplibre::set(&options, "container", "map");
    maplibre::set(&options, "style", maplibre::json(FIRST_STYLE));
    let (lon, lat) = view.centre.unwrap_or((10.0, 20.0));
    maplibre::set(&options, "center", js_sys::Array::of2(&lon.into(), &lat.into()));
    maplibre::set(&options, "zoom", view.zoom.unwrap_or(1.5));
    // No cross-fade of label placement: the map has no labels, and the fade would hold back
    // `idle` (what marks the coverage drawn) for 300 ms of repaints.
    maplibre::set(&options, "fadeDuration", 0);
    maplibre::set(&options, "attributionControl", maplibre::json("{\"compact\": true}"));
    maplibre::set(&options, "canvasContextAttributes", maplibre::json("{\"preserveDrawingBuffer\": true}"));
    let map = Map::new(&options);
    // For browser checks: `window.tesseraMap.project([lon, lat])` gives a tile's pixel.
    if let Some(window) = web_sys::window() {
        let _ = js_sys::Reflect::set(&window, &"tesseraMap".into(), &map);
    }
    map
}

/// The map's layers, bottom to top. Layers are added when first needed, each under the
/// ones above it that already exist (see [`add_layer`]).
const LAYER_ORDER: [&str; 7] = ["ocean", "land", "imagery", "coverage", "borders", "box", "selected"];

/// The first style: the ocean alone, so the map is up at once. Imagery is added when the
/// inventory names some; the offline outlines after the first coverage frame and the
/// selection with the first opened tile, because a GeoJSON source waits for MapLibre's worker.
const FIRST_STYLE: &str = r##"{"version": 8, "sources": {},
    "layers": [{"id": "ocean", "type": "background", "paint": {"background-color": "#0e2a47"}}]}"##;

/// Adds the configured online imagery (Sentinel-2 cloudless) under the coverage.
fn add_imagery(map: &Map, basemap: &Value) {
    let Some(url) = basemap["url"].as_str() else { return };
    let attribution = basemap["attribution"].as_str().unwrap_or_default();
    let source = serde_json::json!({"type": "raster", "tiles": [url], "tileSize": 256, "attribution": attribution});
    map.add_source("imagery", &maplibre::json(&source.to_string()));
    add_layer(map, &serde_json::json!({"id": "imagery", "type": "raster", "source": "imagery"}));
}

/// Adds `layer` (its `id` one of [`LAYER_ORDER`]) under the layers above it in that order.
fn add_layer(map: &Map, layer: &Value) {
    let id = layer["id"].as_str().unwrap_or_default();
    let above = LAYER_ORDER.iter().skip_while(|l| **l != id).skip(1);
    let before = above.copied().find(|l| !map.get_layer(l).is_undefined()).map(str::to_owned);
    map.add_layer(&maplibre::json(&layer.to_string()), before);
}

/// Adds a GeoJSON source (`data` a URL or an object) and its layer.
fn add_geojson(map: &Map, source: &str, data: Value, layer: Value) {
    map.add_source(source, &maplibre::json(&serde_json::json!({"type": "geojson", "data": data}).to_string()));
    add_layer(map, &layer);
}

fn on_map_events(map: &Map, signals: Signals) {
    let click = Closure::<dyn Fn(JsValue)>::new(move |event: JsValue| {
        let Some((lon, lat)) = lng_lat(&event) else { return };
        let lon = (lon + 180.0).rem_euclid(360.0) - 180.0;
        let Some(id) = item_id_at(signals.year.get_untracked(), lon, lat) else { return };
        spawn_local(open_tile(signals, id));
    });
    map.on("click", click.as_ref().unchecked_ref());
    click.forget();
    let moved = Closure::<dyn Fn()>::new(move || {
        rescale();
        update_url(signals, None);
    });
    map.on("moveend", moved.as_ref().unchecked_ref());
    moved.forget();
    // Failed basemap tiles (offline) are expected: report them as warnings, not errors.
    let error = Closure::<dyn Fn(JsValue)>::new(|event: JsValue| {
        web_sys::console::warn_2(&"map:".into(), &js_sys::Reflect::get(&event, &"error".into()).unwrap_or(event));
    });
    map.on("error", error.as_ref().unchecked_ref());
    error.forget();
    on_box_drag(map, signals);
}

/// The `(lon, lat)` of a map event, when it has one.
fn lng_lat(event: &JsValue) -> Option<(f64, f64)> {
    let lng_lat = js_sys::Reflect::get(event, &"lngLat".into()).ok()?;
    let point = (maplibre::number(&lng_lat, "lng")?, maplibre::number(&lng_lat, "lat")?);
    (point.0.is_finite() && point.1.is_finite()).then_some(point)
}

/// Downloads what `layer` needs for `year`, paints it and swaps it into the map.
async fn redraw(signals: Signals, year: u16, layer: String) {
    let generation = MODEL.with(|m| {
        let mut m = m.borrow_mut();
        m.generation += 1;
        m.generation
    });
    signals.status.set("loading".into());
    set_map_attribute("data-state", "loading");
    let Some(layer_kind) = Layer::parse(&layer) else { return };
    let stores = signals.stores.get_untracked();
    let (urls, palette) = sources(&layer_kind, year, &stores);
    let downloaded = match bitmaps(&urls).await {
        Ok(downloaded) => downloaded,
        Err(err) => return fail(signals, err),
    };
    let mut levels = Levels::new();
    for (url, bytes) in urls.iter().zip(downloaded) {
        match RoaringView::open(bytes.as_slice()) {
            Ok(view) => levels.add(&view),
            Err(err) => return fail(signals, format!("{url}: {err}")),
        }
    }
    if MODEL.with(|m| m.borrow().generation) != generation {
        return;
    }
    let fetched = now_ms();
    let gaps = matches!(layer_kind, Layer::Missing(_));
    let sparse = gaps || levels.drawn() < SPARSE_CELLS;
    // The palette's last level stands for "that many or more": the level every store reaches.
    let full = matches!(layer_kind, Layer::All).then(|| stores.len().min(palette.len() - 1) as u8).filter(|&n| n > 1);
    let look = look_for(MODEL.with(|m| m.borrow().map.as_ref().map_or(0.0, Map::get_zoom)), sparse, full);
    let rgba = paint_for(&levels, &palette, look, sparse);
    signals.gaps.set(if gaps { levels.largest_blocks(GAPS_LISTED) } else { Vec::new() });
    let painted = now_ms();
    if let Err(err) = show(&rgba, look.scale) {
        return fail(signals, err);
    }
    let shown = now_ms();
    let drawn = levels.drawn();
    MODEL.with(|m| {
        let mut model = m.borrow_mut();
        (model.levels, model.palette, model.look, model.sparse) = (Some(levels), palette, look, sparse);
    });
    // Ready once the map has drawn a frame with the coverage in it.
    let on_drawn = move || {
        if MODEL.with(|m| m.borrow().generation) != generation {
            return;
        }
        // For performance checks: milliseconds from navigation to each step.
        let timings = format!(
            "{{\"fetched\":{fetched:.0},\"painted\":{painted:.0},\"shown\":{shown:.0},\"drawn\":{:.0}}}",
            now_ms()
        );
        set_map_attribute("data-timings", &timings);
        signals.drawn.set(drawn);
        signals.status.set("ready".into());
        set_map_attribute("data-coverage-tiles", &drawn.to_string());
        set_map_attribute("data-state", "ready");
        update_url(signals, None);
        load_outlines();
    };
    if let Some(map) = MODEL.with(|m| m.borrow().map.clone()) {
        after_coverage_frame(map, on_drawn);
    }
}

/// Calls `done` after the first frame the map renders with the coverage source loaded: the
/// coverage is on screen then, while imagery tiles may still be arriving (so not `idle`).
fn after_coverage_frame(map: Map, done: impl FnOnce() + 'static) {
    let next = map.clone();
    let check = Closure::once_into_js(move || match next.is_source_loaded("coverage") {
        Ok(true) => done(),
        Ok(false) => after_coverage_frame(next, done),
        Err(_) => {} // replaced by a newer view, which reports for itself
    });
    map.once("render", check.unchecked_ref());
    map.trigger_repaint();
}

/// Adds the offline basemap's land and borders, once, after the first coverage frame is on
/// screen: coverage is what the page is for, so it is drawn first, then the outlines fill in.
fn load_outlines() {
    MODEL.with(|m| {
        let mut model = m.borrow_mut();
        if std::mem::replace(&mut model.outlines_requested, true) {
            return;
        }
        let Some(map) = &model.map else { return };
        let land =
            serde_json::json!({"id": "land", "type": "fill", "source": "land", "paint": {"fill-color": "#3a4a3f"}});
        add_geojson(map, "land", "basemap/land.json".into(), land);
        let borders = serde_json::json!({"id": "borders", "type": "line", "source": "borders",
            "paint": {"line-color": "#8fa39a", "line-width": 0.6}});
        add_geojson(map, "borders", "basemap/borders.json".into(), borders);
    });
}

/// Milliseconds since navigation started.
fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

/// The bitmaps a layer is drawn from, and its palette (by level).
fn sources(layer: &Layer, year: u16, stores: &[StoreInfo]) -> (Vec<String>, Vec<[u8; 4]>) {
    let primary = stores.iter().find(|s| s.primary).map(|s| s.name.as_str()).unwrap_or_default();
    match layer {
        Layer::Store(store) => (vec![format!("/coverage/{store}/{year}")], vec![[0; 4], STORE_COLOUR]),
        Layer::Missing(store) => {
            let source = if store == primary { "registry" } else { primary };
            (vec![format!("/coverage/{source}/{store}/{year}")], vec![[0; 4], MISSING_COLOUR])
        }
        Layer::All => (stores.iter().map(|s| format!("/coverage/{}/{year}", s.name)).collect(), COUNT_COLOURS.to_vec()),
    }
}

fn fail(signals: Signals, err: String) {
    signals.status.set("error".into());
    signals.message.set(Some(err));
    set_map_attribute("data-state", "error");
}

/// Below this many cells a layer is drawn as marks (see [`scale_for`]), as a store's gaps
/// always are: at the world view a 1,000-pixel-wide map shows about 3,600 x 1,800 cells on a
/// few hundred thousand pixels, so a layer of fewer cells is mostly lone cells, each a
/// fraction of a pixel. Denser coverage (the demo's 450,000 a year) is drawn cell for cell.
const SPARSE_CELLS: u64 = 100_000;

/// Gaps listed beside the map.
const GAPS_LISTED: usize = 8;

/// Screen pixels (CSS) a sparse layer's mark spans at least, each way.
const MARK_PIXELS: f64 = 4.0;

/// Cells per canvas pixel at a zoom. A dense layer: 2 for world views, where a cell is under
/// a screen pixel anyway and a quarter of the pixels uploads much faster; 1 (every cell its
/// own pixels) from zoom 3, where a cell starts to cover a screen pixel. A sparse layer: as
/// many as make a mark [`MARK_PIXELS`] wide (a divisor of the 3,600 columns, at most 20), so
/// a lone missing tile shows at the world view; 1 once a cell is that wide itself (zoom 5.1).
fn scale_for(zoom: f64, sparse: bool) -> u32 {
    if !sparse {
        return if zoom < 3.0 { 2 } else { 1 };
    }
    // MapLibre's world is 512 CSS pixels wide at zoom 0, so a cell is 512 * 2^zoom / 3600
    // pixels wide. Doubling by hand keeps a general power function out of the WebAssembly.
    let mut cell_pixels = 512.0 / f64::from(paint::WIDTH);
    let mut doubled = 0.0;
    while doubled + 1.0 <= zoom {
        cell_pixels *= 2.0;
        doubled += 1.0;
    }
    // Between whole zooms, 1 + x(1 + x)/2 is within 3% of 2^x: marks need only be about right.
    cell_pixels *= 1.0 + (zoom - doubled) * (1.0 + (zoom - doubled)) / 2.0;
    [1, 2, 3, 4, 5, 6, 8, 9, 10, 12, 15, 16, 18, 20]
        .into_iter()
        .find(|&cells| f64::from(cells) * cell_pixels >= MARK_PIXELS)
        .unwrap_or(20)
}

/// How a layer is painted at a zoom: the cells a canvas pixel spans each way, and for the
/// all-stores layer the width in cells of the marks on cells below `full`, the level of a
/// cell every store holds (see [`Levels::mark_below`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Look {
    scale: u32,
    marks: Option<(u32, u8)>,
}

fn look_for(zoom: f64, sparse: bool, full: Option<u8>) -> Look {
    Look { scale: scale_for(zoom, sparse), marks: full.map(|full| (scale_for(zoom, true), full)) }
}

/// The canvas for `levels` as `look` says: exact cells for a dense layer, marks for a sparse
/// one, and marks on the cells some stores lack for the all-stores layer.
fn paint_for(levels: &Levels, palette: &[[u8; 4]], look: Look, sparse: bool) -> Vec<u8> {
    let mut rgba = if sparse && look.scale > 1 {
        levels.paint_blocks(palette, look.scale)
    } else {
        levels.paint_scaled(palette, look.scale)
    };
    if let Some((mark, full)) = look.marks {
        levels.mark_below(&mut rgba, palette, look.scale, mark, full, SPARSE_CELLS as usize);
    }
    rgba
}

/// Repaints at the resolution the zoom needs, when it changed.
fn rescale() {
    let repaint = MODEL.with(|m| {
        let model = m.borrow();
        // The all-stores layer keeps its level of a cell every store holds in its marks.
        let full = model.look.marks.map(|(_, full)| full);
        let look = look_for(model.map.as_ref()?.get_zoom(), model.sparse, full);
        let paint = || Some((paint_for(model.levels.as_ref()?, &model.palette, look, model.sparse), look));
        (look != model.look).then(paint)?
    });
    if let Some((rgba, look)) = repaint
        && show(&rgba, look.scale).is_ok()
    {
        MODEL.with(|m| m.borrow_mut().look = look);
    }
}

/// Puts the painted pixels into the coverage canvas and (re)adds it to the map.
fn show(rgba: &[u8], scale: u32) -> Result<(), String> {
    let canvas = coverage_canvas()?;
    let side = paint::WIDTH / scale;
    if canvas.width() != side {
        canvas.set_width(side);
        canvas.set_height(side);
    }
    let context = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into::<web_sys::CanvasRenderingContext2d>().ok())
        .ok_or("no 2D canvas")?;
    let image = web_sys::ImageData::new_with_u8_clamped_array_and_sh(wasm_bindgen::Clamped(rgba), side, side)
        .map_err(|err| format!("cannot make the image ({side}x{side}): {err:?}"))?;
    context.put_image_data(&image, 0.0, 0.0).map_err(|_| "cannot draw the image")?;
    MODEL.with(|m| {
        let model = m.borrow();
        let Some(map) = &model.map else { return };
        if !map.get_layer("coverage").is_undefined() {
            map.remove_layer("coverage");
        }
        if !map.get_source("coverage").is_undefined() {
            map.remove_source("coverage");
        }
        let source = js_sys::Object::new();
        maplibre::set(&source, "type", "canvas");
        maplibre::set(&source, "canvas", canvas.clone());
        maplibre::set(&source, "animate", false);
        let corners = format!("[[-180,{0}],[180,{0}],[180,-{0}],[-180,-{0}]]", paint::MAX_LAT);
        maplibre::set(&source, "coordinates", maplibre::json(&corners));
        map.add_source("coverage", &source);
        add_layer(
            map,
            &serde_json::json!({"id": "coverage", "type": "raster", "source": "coverage",
                "paint": {"raster-opacity": 1, "raster-resampling": "nearest", "raster-fade-duration": 0}}),
        );
    });
    Ok(())
}

fn coverage_canvas() -> Result<web_sys::HtmlCanvasElement, String> {
    if let Some(canvas) = MODEL.with(|m| m.borrow().canvas.clone()) {
        return Ok(canvas);
    }
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let canvas: web_sys::HtmlCanvasElement =
        document.create_element("canvas").map_err(|_| "no canvas")?.dyn_into().map_err(|_| "no canvas")?;
    canvas.set_width(paint::WIDTH);
    canvas.set_height(paint::HEIGHT);
    MODEL.with(|m| m.borrow_mut().canvas = Some(canvas.clone()));
    Ok(canvas)
}

/// Fetches a coverage bitmap once; later views of the same store and year reuse it.
async fn bitmap(url: &str) -> Result<Rc<Vec<u8>>, String> {
    if let Some(bytes) = MODEL.with(|m| m.borrow().bitmaps.get(url).cloned()) {
        return Ok(bytes);
    }
    let bytes = Rc::new(fetch_bytes(url).await?);
    MODEL.with(|m| m.borrow_mut().bitmaps.insert(url.to_owned(), bytes.clone()));
    Ok(bytes)
}

/// Several bitmaps, downloaded side by side (not one after another), in the order of `urls`.
async fn bitmaps(urls: &[String]) -> Result<Vec<Rc<Vec<u8>>>, String> {
    let _ = JsFuture::from(prefetch(urls.to_vec())).await;
    let mut downloaded = Vec::with_capacity(urls.len());
    for url in urls {
        downloaded.push(bitmap(url).await?);
    }
    Ok(downloaded)
}

/// Starts downloading the bitmaps not in the cache yet, all at once and before this returns
/// (a future would only start at the next await, after whatever the caller does next). The
/// promise settles when they are all in; a failed one is fetched again, and reported, by
/// [`bitmap`].
fn prefetch(urls: Vec<String>) -> js_sys::Promise {
    let pending = js_sys::Array::new();
    let Some(window) = web_sys::window() else { return js_sys::Promise::resolve(&JsValue::UNDEFINED) };
    let cached = |url: &String| MODEL.with(|m| m.borrow().bitmaps.contains_key(url));
    for url in urls.into_iter().filter(|url| !cached(url)) {
        let request = window.fetch_with_str(&api_path(&url));
        pending.push(&wasm_bindgen_futures::future_to_promise(async move {
            if let Ok(bytes) = body_of(&url, request).await {
                MODEL.with(|m| m.borrow_mut().bitmaps.insert(url, Rc::new(bytes)));
            }
            Ok(JsValue::UNDEFINED)
        }));
    }
    js_sys::Promise::all(&pending)
}

/// Shows one GeoJSON feature in the source `id`, adding the source and `layer` the first time.
fn show_feature(id: &str, feature: Value, layer: Value) {
    MODEL.with(|m| {
        let model = m.borrow();
        let Some(map) = &model.map else { return };
        let source = map.get_source(id);
        if source.is_undefined() {
            return add_geojson(map, id, feature, layer);
        }
        if let Ok(set_data) =
            js_sys::Reflect::get(&source, &"setData".into()).and_then(|f| f.dyn_into::<js_sys::Function>())
        {
            let _ = set_data.call1(&source, &maplibre::json(&feature.to_string()));
        }
    });
}

/// Writes the current view into the address bar (without a new history entry).
fn update_url(signals: Signals, tile: Option<String>) {
    let (zoom, centre) = MODEL.with(|m| {
        let model = m.borrow();
        let map = model.map.as_ref();
        let centre = map.map(|map| map.get_center());
        let lon_lat = centre.and_then(|c| Some((maplibre::number(&c, "lng")?, maplibre::number(&c, "lat")?)));
        (map.map(|map| map.get_zoom()), lon_lat)
    });
    let tile = tile.or_else(|| signals.panel.get_untracked().map(|p| p.id));
    let view = View {
        year: Some(signals.year.get_untracked()),
        layer: Layer::parse(&signals.layer.get_untracked()),
        zoom,
        centre,
        tile,
    };
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&view.to_query()));
    }
}

fn set_map_attribute(name: &str, value: &str) {
    if let Some(element) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("map")) {
        let _ = element.set_attribute(name, value);
    }
}

fn location_search() -> String {
    web_sys::window().and_then(|w| w.location().search().ok()).unwrap_or_default()
}

async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    body_of(url, window.fetch_with_str(&api_path(url))).await
}

/// `path` below the API's root, which `index.html` finds before the app starts
/// (`window.tesseraApi`): the path `/map/` is served under (empty at the server's root,
/// `/geotessera` behind a proxy's prefix), or `api` beside the page when the map is served on
/// its own (Caddy's layout in `deploy/Caddyfile`).
pub(crate) fn api_path(path: &str) -> String {
    let root = web_sys::window()
        .and_then(|window| js_sys::Reflect::get(&window, &JsValue::from_str("tesseraApi")).ok())
        .and_then(|root| root.as_string())
        .unwrap_or_default();
    format!("{root}{path}")
}

/// The body of a fetch already under way (`request`, from `fetch(url)`), when it succeeds.
async fn body_of(url: &str, request: js_sys::Promise) -> Result<Vec<u8>, String> {
    let response = JsFuture::from(request).await.map_err(|_| format!("cannot fetch {url}"))?;
    let response: web_sys::Response = response.dyn_into().map_err(|_| "not a response")?;
    if !response.ok() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(|_| "no body")?).await.map_err(|_| "body failed")?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

async fn fetch_json(url: &str) -> Result<Value, String> {
    let bytes = fetch_bytes(url).await?;
    serde_json::from_slice(&bytes).map_err(|err| format!("{url}: {err}"))
}
