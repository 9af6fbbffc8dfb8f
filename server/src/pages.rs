//! Search pages already rendered, kept for the snapshot they were rendered from.
//!
//! A page is a pure function of the snapshot and the request's path and query: paging tokens
//! are signed without a nonce or a clock, and every link starts with the configured public URL,
//! never with a request header. So a page asked for again (a map panning back, STAC Browser
//! reloading, many users on the same link) is answered with the bytes of the first answer:
//! the 1-degree search of `benches/stac/run.sh` (35 KB, ten items) then runs at 81% of hyper
//! answering fixed bytes, against 56% searched afresh. The pages live with their snapshot, so
//! a reload starts afresh and a page never outlives the data it shows.
//!
//! The cache is bounded by bytes and resists scans. A page is kept only when its query is asked a
//! second time while still remembered among the last few thousand asked (a doorkeeper of key
//! hashes, as in TinyLFU): a map or a crawler asking a different box each time costs one hash a
//! request, not an insertion and an eviction (3% of the server's time on such queries). What is
//! kept is managed by S3-FIFO (`quick_cache`): pages asked once more pass through a small
//! probation queue and do not push out the pages asked again and again.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use quick_cache::Weighter;
use quick_cache::sync::Cache;
use xxhash_rust::xxh3::xxh3_64;

/// The largest share of the cache one page may take: a page larger than this is not kept.
const LARGEST_PAGE_SHARE: u64 = 64;

/// Queries remembered by the doorkeeper (a power of two).
const REMEMBERED: usize = 4096;

/// Rendered pages by `path?query`; `None` when the server keeps none.
#[derive(Debug)]
pub struct Pages {
    cache: Option<Cache<Box<str>, Bytes, ByLength>>,
    largest: u64,
    /// The hashes of queries asked lately and not kept, one a slot (0: none).
    asked: Box<[AtomicU64]>,
}

/// A page weighs its length and its key's.
#[derive(Debug, Clone, Copy)]
struct ByLength;

impl Weighter<Box<str>, Bytes> for ByLength {
    fn weight(&self, key: &Box<str>, page: &Bytes) -> u64 {
        (key.len() + page.len()) as u64
    }
}

impl Pages {
    /// A cache of up to `bytes` of pages (0 keeps none).
    pub fn new(bytes: u64) -> Pages {
        // The estimate sizes the table: pages of ten items are about 36 KB.
        let cache = (bytes > 0).then(|| Cache::with_weighter((bytes / 32_768).max(16) as usize, bytes, ByLength));
        let asked = (0..if cache.is_some() { REMEMBERED } else { 0 }).map(|_| AtomicU64::new(0)).collect();
        Pages { cache, largest: bytes / LARGEST_PAGE_SHARE, asked }
    }

    /// The page kept for `key`.
    pub fn get(&self, key: &str) -> Option<Bytes> {
        self.cache.as_ref()?.get(key)
    }

    /// Keeps `page` for `key` when `key` was asked lately too, unless the page is too large.
    pub fn keep(&self, key: &str, page: &Bytes) {
        if let Some(cache) = &self.cache
            && (page.len() as u64) <= self.largest
            && self.asked_before(key)
        {
            cache.insert(key.into(), page.clone());
        }
    }

    /// Whether `key` was asked lately; remembers it for next time (a slot remembers the last
    /// key whose hash falls in it).
    fn asked_before(&self, key: &str) -> bool {
        let hash = xxh3_64(key.as_bytes()) | 1;
        let slot = &self.asked[(hash >> 32) as usize & (REMEMBERED - 1)];
        slot.swap(hash, Ordering::Relaxed) == hash
    }

    /// The bytes of the pages kept.
    pub fn weight(&self) -> u64 {
        self.cache.as_ref().map_or(0, Cache::weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_pages_up_to_its_bytes_and_none_when_sized_zero() {
        let pages = Pages::new(64 * 1024);
        let page = Bytes::from(vec![b'x'; 1000]);
        pages.keep("/search?bbox=0,0,1,1", &page);
        assert_eq!(pages.get("/search?bbox=0,0,1,1"), None, "a query asked once is not kept");
        pages.keep("/search?bbox=0,0,1,1", &page);
        assert_eq!(pages.get("/search?bbox=0,0,1,1"), Some(page.clone()), "asked twice, it is");
        assert_eq!(pages.get("/search?bbox=0,0,1,2"), None);

        for n in 0..500 {
            pages.keep(&format!("/search?n={n}"), &page);
            pages.keep(&format!("/search?n={n}"), &page);
        }
        assert!(pages.weight() <= 64 * 1024, "held {} bytes", pages.weight());

        let none = Pages::new(0);
        none.keep("/search", &page);
        assert_eq!(none.get("/search"), None);
    }

    #[test]
    fn a_page_over_its_share_is_not_kept() {
        let pages = Pages::new(64 * 1024);
        for _ in 0..2 {
            pages.keep("/search?limit=10000", &Bytes::from(vec![b'x'; 1025]));
        }
        assert_eq!(pages.get("/search?limit=10000"), None);
    }
}
