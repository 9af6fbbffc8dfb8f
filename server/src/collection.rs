//! The ItemCollection of a search page, written whole for a small page and a chunk of items at
//! a time for a large one, so that a client that reads a 10,000-item page slowly (36 MB of
//! JSON on the full inventory) holds one chunk of the server's memory, not the page. Rendering
//! checks its request's budget as it goes: it stops once nobody reads the page, or once the
//! request has spent its CPU allowance.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use tessera_engine::grid::TileId;

use crate::budget::Visit;
use crate::error::Result;
use crate::fields::Fields;
use crate::render::Items;
use crate::search::{Page, Search};
use crate::snapshot::Snapshot;

/// Pages of more items than this are streamed; smaller ones are sent whole, with a length.
pub const STREAM_ABOVE: usize = 100;

/// A chunk is cut once it holds this many bytes (about 16 items without `fields`): one visit to
/// the pool, large enough that the visit's cost (a permit, a thread's wake-up) is small beside
/// the rendering, and small enough that a client that stops reading holds little (with the
/// connection's buffer, about 100 KB).
const CHUNK_BYTES: usize = 64 * 1024;

/// Items rendered between two checks of the budget without `fields` (a few microseconds
/// each); with `fields`, each item is checked.
const ITEMS_PER_CHECK: usize = 16;

/// One page's ItemCollection, rendered as it is read.
#[derive(Debug)]
pub struct ItemCollection {
    snapshot: Arc<Snapshot>,
    fields: Option<Fields>,
    tiles: Vec<TileId>,
    /// The next item to render; `None` before the head is written.
    next: Option<usize>,
    /// The links and counts that close the collection; taken when written.
    tail: Option<String>,
}

impl ItemCollection {
    /// The collection of `page` of `search`, closed by `links` (JSON objects, comma-separated).
    pub fn new(snapshot: Arc<Snapshot>, search: &Search, page: Page, links: &str) -> ItemCollection {
        let mut tail = String::with_capacity(128 + links.len());
        tail.push_str("],\"links\":[");
        tail.push_str(links);
        tail.push_str("],\"numberMatched\":");
        tail.push_str(itoa::Buffer::new().format(page.matched));
        tail.push_str(",\"numberReturned\":");
        tail.push_str(itoa::Buffer::new().format(page.tiles.len()));
        tail.push('}');
        ItemCollection { snapshot, fields: search.fields.clone(), tiles: page.tiles, next: None, tail: Some(tail) }
    }

    /// Whether the page is large enough to be streamed.
    pub fn is_large(&self) -> bool {
        self.tiles.len() > STREAM_ABOVE
    }

    /// The whole collection.
    pub fn into_string(mut self, visit: &Visit) -> Result<String> {
        let mut out = String::with_capacity(256 + self.tiles.len() * 4096);
        self.render(&mut out, usize::MAX, visit)?;
        Ok(out)
    }

    /// The next chunk of the collection, or `None` once it is all written.
    pub fn next_chunk(&mut self, visit: &Visit) -> Result<Option<Bytes>> {
        let mut out = String::with_capacity(CHUNK_BYTES + 4096);
        self.render(&mut out, CHUNK_BYTES, visit)?;
        Ok((!out.is_empty()).then(|| Bytes::from(out)))
    }

    /// Appends to `out` until it holds `size` bytes or the collection ends; stops early when
    /// the budget says so.
    fn render(&mut self, out: &mut String, size: usize, visit: &Visit) -> Result<()> {
        let mut at = self.next.unwrap_or_else(|| {
            out.push_str("{\"type\":\"FeatureCollection\",\"features\":[");
            0
        });
        let mut items = Items::new(&self.snapshot.catalog, &self.snapshot.templates);
        let per_check = if self.fields.is_some() { 1 } else { ITEMS_PER_CHECK };
        while at < self.tiles.len() && out.len() < size {
            if at.is_multiple_of(per_check) {
                visit.check()?;
            }
            if at > 0 {
                out.push(',');
            }
            push_item(out, &mut items, self.tiles[at], self.fields.as_ref());
            at += 1;
        }
        self.next = Some(at);
        if at == self.tiles.len()
            && let Some(tail) = self.tail.take()
        {
            out.push_str(&tail);
        }
        Ok(())
    }
}

fn push_item(out: &mut String, items: &mut Items, id: TileId, fields: Option<&Fields>) {
    let Some(fields) = fields else {
        items.push(out, id);
        return;
    };
    // The slow path, only when fields are chosen: render, parse, filter, write.
    let mut full = String::with_capacity(4096);
    items.push(&mut full, id);
    let value: Value = serde_json::from_str(&full).unwrap_or(Value::Null);
    out.push_str(&fields.apply(value).to_string());
}
