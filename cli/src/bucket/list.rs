//! Listing an S3 store in key ranges that split where the store is big.
//!
//! The key space is cut at the grid's own folder names: each year's folder
//! (`{year}/`), and inside it each whole degree of longitude (`{year}/grid_12.`, 360 a year,
//! about 1,200 tile folders apart on a full store). Every key falls in exactly one range
//! between two cuts, strays and keys outside the grid included, so the ranges together list
//! what one `s5cmd ls` would.
//!
//! A listing starts with one range per year. A range whose page comes back with more to come
//! is split at the cuts left inside it, every as many cuts as that page spanned, and the parts
//! are listed at once: pieces of about a page each, split again if denser than that. A small
//! store costs a request a year; any store about one request per thousand keys (a page), at
//! most two, with up to `concurrency` in flight. S3 has no end key, so a range is listed from its start
//! (`start-after`) until a key passes its end: at most one page beyond.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use anyhow::Result;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use object_store::aws::AmazonS3;
use object_store::list::{PaginatedListOptions, PaginatedListResult, PaginatedListStore};
use tessera_engine::grid::{Year, YearRange};
use tessera_engine::store::Scope;
use tokio::sync::mpsc;

/// Bytes of listing lines gathered before they are handed over.
const BLOCK: usize = 1 << 20;

/// What a listing saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct Listed {
    /// Objects listed.
    pub objects: u64,
    /// List requests answered (pages), retries not counted.
    pub pages: u64,
    /// Key ranges listed, after splitting.
    pub ranges: usize,
}

/// Progress counters, read while the listing runs.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) objects: AtomicU64,
    pages: AtomicU64,
    ranges: AtomicUsize,
}

impl Counters {
    pub(super) fn listed(&self) -> Listed {
        Listed {
            objects: self.objects.load(Ordering::Relaxed),
            pages: self.pages.load(Ordering::Relaxed),
            ranges: self.ranges.load(Ordering::Relaxed),
        }
    }
}

/// A slice of the key space: the keys under `prefix` after `after` and up to `until` (both
/// full keys; `None` for no bound).
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyRange {
    prefix: String,
    after: Option<String>,
    until: Option<String>,
}

impl KeyRange {
    fn holds(&self, key: &str) -> bool {
        key.starts_with(&self.prefix)
            && self.after.as_deref().is_none_or(|after| key > after)
            && self.until.as_deref().is_none_or(|until| key <= until)
    }
}

/// A range and where its listing has got to.
#[derive(Debug)]
struct Pending {
    range: KeyRange,
    page_token: Option<String>,
}

/// How far a page went in its range.
#[derive(Debug)]
enum Taken {
    /// The page held no keys.
    Nothing,
    /// Every key of the page was in the range, this one last.
    UpTo(String),
    /// The page went past the range's end: the range is done.
    PastTheEnd,
}

/// One listing of a store, run by [`Listing::run`] on the client's runtime.
pub(super) struct Listing {
    store: Arc<AmazonS3>,
    root: String,
    /// Every cut of the store's key space, sorted.
    cuts: Vec<String>,
    queue: VecDeque<Pending>,
    concurrency: usize,
    counters: Arc<Counters>,
}

impl Listing {
    /// The listing of `scope` under `root` (empty, or a prefix ending in `/`).
    pub(super) fn new(
        store: Arc<AmazonS3>,
        root: &str,
        years: YearRange,
        scope: &Scope,
        concurrency: usize,
    ) -> Listing {
        let cuts = all_cuts(root, years);
        let queue =
            first_ranges(root, years, scope, &cuts).into_iter().map(|range| Pending { range, page_token: None });
        Listing {
            store,
            root: root.to_owned(),
            cuts,
            queue: queue.collect(),
            concurrency: concurrency.max(1),
            counters: Arc::default(),
        }
    }

    pub(super) fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// Lists every range, sending `size path` lines in blocks; the first error ends it and is
    /// sent instead.
    pub(super) async fn run(mut self, send: mpsc::Sender<Result<Vec<u8>>>) {
        self.counters.ranges.store(self.queue.len(), Ordering::Relaxed);
        let mut lines = Vec::with_capacity(BLOCK + 64 * 1024);
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < self.concurrency
                && let Some(next) = self.queue.pop_front()
            {
                in_flight.push(list_page(self.store.clone(), next));
            }
            let Some(answer) = in_flight.next().await else { break };
            let (pending, page) = match answer {
                Ok(answered) => answered,
                Err(err) => {
                    let _ = send.send(Err(err)).await;
                    return;
                }
            };
            self.counters.pages.fetch_add(1, Ordering::Relaxed);
            let taken = self.take_page(&pending.range, &page, &mut lines);
            match (taken, page.page_token) {
                (Taken::UpTo(last_key), Some(page_token)) => self.continue_range(pending.range, &last_key, page_token),
                (Taken::Nothing, Some(page_token)) => {
                    self.queue.push_back(Pending { range: pending.range, page_token: Some(page_token) })
                }
                _ => {}
            }
            if lines.len() >= BLOCK && send.send(Ok(std::mem::take(&mut lines))).await.is_err() {
                return; // The reader stopped on an error it reports.
            }
        }
        if !lines.is_empty() {
            let _ = send.send(Ok(lines)).await;
        }
    }

    /// Writes the page's keys that `range` holds as lines.
    fn take_page(&self, range: &KeyRange, page: &PaginatedListResult, lines: &mut Vec<u8>) -> Taken {
        let mut taken = Taken::Nothing;
        for object in &page.result.objects {
            let listed = object.location.as_ref();
            let Some(key) = key_in(range, listed) else { return Taken::PastTheEnd };
            if key == listed {
                push_line(lines, object.size, listed.strip_prefix(self.root.as_str()).unwrap_or(listed));
                self.counters.objects.fetch_add(1, Ordering::Relaxed);
            }
            taken = Taken::UpTo(key.into_owned());
        }
        taken
    }

    /// Queues the rest of `range` after `last_key`, split at the cuts inside it when there
    /// are any, else as the next page. The page just listed spanned some cuts: the rest is cut
    /// every as many, into pieces of about a page each, so a dense store is listed a degree
    /// folder at a time and a sparse one in few requests.
    fn continue_range(&mut self, range: KeyRange, last_key: &str, page_token: String) {
        let spanned = cuts_inside(&range.prefix, range.after.as_deref(), Some(last_key), &self.cuts).count();
        let rest = KeyRange { after: Some(last_key.to_owned()), ..range };
        let parts = split(&rest, &self.cuts, spanned.max(1));
        if parts.len() > 1 {
            self.counters.ranges.fetch_add(parts.len() - 1, Ordering::Relaxed);
            self.queue.extend(parts.into_iter().map(|range| Pending { range, page_token: None }));
        } else {
            self.queue.push_back(Pending { range: rest, page_token: Some(page_token) });
        }
    }
}

/// The key S3 listed as `listed`, if `range` holds it. object_store drops a key's trailing
/// `/`, so a folder marker (`v1/2025/`, the empty object S3 consoles, s3fs and Hadoop make)
/// comes back as `v1/2025`: outside the range `v1/2025/`, which would end its listing there,
/// or equal to the `after` a range resumes from. Such a key is the marker, whole; it is
/// no file, and no line of the listing.
fn key_in<'a>(range: &KeyRange, listed: &'a str) -> Option<Cow<'a, str>> {
    if range.holds(listed) {
        return Some(Cow::Borrowed(listed));
    }
    let marker = format!("{listed}/");
    range.holds(&marker).then_some(Cow::Owned(marker))
}

/// One page of a range.
async fn list_page(store: Arc<AmazonS3>, pending: Pending) -> Result<(Pending, PaginatedListResult)> {
    let options = PaginatedListOptions {
        offset: pending.range.after.clone(),
        page_token: pending.page_token.clone(),
        ..Default::default()
    };
    let page = store.list_paginated(Some(&pending.range.prefix), options).await?;
    Ok((pending, page))
}

fn push_line(lines: &mut Vec<u8>, size: u64, path: &str) {
    lines.extend_from_slice(size.to_string().as_bytes());
    lines.push(b' ');
    lines.extend_from_slice(path.as_bytes());
    lines.push(b'\n');
}

/// Every cut of the key space under `root`, sorted: each year's folder and its 360 degree
/// folders (`{root}2024/`, `{root}2024/grid_-0.` .. `{root}2024/grid_179.`).
fn all_cuts(root: &str, years: YearRange) -> Vec<String> {
    let mut cuts: Vec<String> = years
        .iter()
        .flat_map(|year| {
            let degrees = (0..180).flat_map(move |degree| {
                [format!("{root}{year}/grid_-{degree}."), format!("{root}{year}/grid_{degree}.")]
            });
            std::iter::once(format!("{root}{year}/")).chain(degrees)
        })
        .collect();
    cuts.sort_unstable();
    cuts
}

/// The cuts under `prefix` strictly after `after` and up to `until` (`None`: no bound).
/// `cuts` is sorted, so the bounds are found by bisection: this runs once a page.
fn cuts_inside<'a>(
    prefix: &'a str,
    after: Option<&'a str>,
    until: Option<&'a str>,
    cuts: &'a [String],
) -> impl Iterator<Item = &'a String> {
    let start = after.map_or(0, |after| cuts.partition_point(|cut| cut.as_str() <= after));
    let end = until.map_or(cuts.len(), |until| cuts.partition_point(|cut| cut.as_str() <= until));
    cuts[start..end.max(start)].iter().filter(move |cut| cut.starts_with(prefix) && cut.len() > prefix.len())
}

/// `range` cut at every `every`-th cut strictly inside it.
fn split(range: &KeyRange, cuts: &[String], every: usize) -> Vec<KeyRange> {
    let inside = cuts_inside(&range.prefix, range.after.as_deref(), range.until.as_deref(), cuts)
        .filter(|cut| range.until.as_ref() != Some(*cut));
    let mut parts = Vec::new();
    let mut after = range.after.clone();
    for cut in inside.skip(every - 1).step_by(every) {
        parts.push(KeyRange { prefix: range.prefix.clone(), after: after.clone(), until: Some(cut.clone()) });
        after = Some(cut.clone());
    }
    parts.push(KeyRange { prefix: range.prefix.clone(), after, until: range.until.clone() });
    parts
}

/// The ranges a listing of `scope` starts with: the whole root cut at each year's folder
/// when the scope is everything, else one prefix per year of the scope.
fn first_ranges(root: &str, years: YearRange, scope: &Scope, cuts: &[String]) -> Vec<KeyRange> {
    if scope.is_all() {
        let whole = KeyRange { prefix: root.to_owned(), after: None, until: None };
        let year_cuts: Vec<String> = cuts.iter().filter(|cut| cut.ends_with('/')).cloned().collect();
        return split(&whole, &year_cuts, 1);
    }
    let in_scope = |year: &Year| scope.years.is_empty() || scope.years.contains(year);
    years
        .iter()
        .filter(in_scope)
        .filter_map(|year| listing_prefix(root, year, scope.prefix.as_deref()))
        .map(|prefix| KeyRange { prefix, after: None, until: None })
        .collect()
}

/// The keys of `year` a scope's prefix names, if any: a key prefix (`2024/grid_1`: its own
/// year only), a prefix of the year's folder name (`20`), or a tile-folder prefix (`grid_-0.`).
fn listing_prefix(root: &str, year: Year, prefix: Option<&str>) -> Option<String> {
    let folder = format!("{year}/");
    match prefix {
        None => Some(format!("{root}{folder}")),
        Some(prefix) if prefix.contains('/') => prefix.starts_with(&folder).then(|| format!("{root}{prefix}")),
        Some(prefix) if folder.starts_with(prefix) => Some(format!("{root}{folder}")),
        Some(prefix) => Some(format!("{root}{folder}{prefix}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(years: &[Year], prefix: Option<&str>) -> Scope {
        Scope { years: years.to_vec(), prefix: prefix.map(str::to_owned) }
    }

    /// A folder marker, listed without its `/`, is the marker in the ranges that hold it:
    /// the scope of its year, and the range that resumes after it (a page that ended on it).
    #[test]
    fn a_folder_marker_listed_without_its_slash_is_still_in_its_range() {
        let year = KeyRange { prefix: "v1/2025/".into(), after: None, until: None };
        assert_eq!(key_in(&year, "v1/2025").as_deref(), Some("v1/2025/"));
        assert_eq!(key_in(&year, "v1/2025/grid_1.05_2.05/a.npy").as_deref(), Some("v1/2025/grid_1.05_2.05/a.npy"));
        let resumed = KeyRange { prefix: "v1/".into(), after: Some("v1/2025".into()), until: Some("v1/2026/".into()) };
        assert_eq!(key_in(&resumed, "v1/2025").as_deref(), Some("v1/2025/"));
        assert_eq!(key_in(&resumed, "v1/2026/grid_0.05_0.05/a.npy"), None, "past the range's end");
    }

    fn holding(ranges: &[KeyRange], key: &str) -> usize {
        ranges.iter().filter(|range| range.holds(key)).count()
    }

    const KEYS: [&str; 10] = [
        "v1/2023/grid_-0.05_51.45/grid_-0.05_51.45.npy",
        "v1/2023/grid_-1.05_0.05/SHA256",
        "v1/2023/grid_-10.05_0.05/SHA256",
        "v1/2023/grid_-179.95_-89.95/SHA256",
        "v1/2024/grid_0.05_0.05/SHA256",
        "v1/2024/grid_179.95_89.95/SHA256",
        "v1/2024/notes.txt",
        "v1/2025/grid_0.05_0.05/SHA256",
        "v1/README",
        "v1/2023/grid_1.",
    ];

    #[test]
    fn every_key_falls_in_exactly_one_range_before_and_after_splitting() {
        let years = YearRange::new(2023, 2024).unwrap();
        let cuts = all_cuts("v1/", years);
        let first = first_ranges("v1/", years, &scope(&[], None), &cuts);
        assert_eq!(first.len(), 3, "before 2023, 2023, 2024 and after: {first:?}");
        let all_split: Vec<KeyRange> = first.iter().flat_map(|range| split(range, &cuts, 1)).collect();
        assert_eq!(all_split.len(), 2 * 361 + 1);
        for key in KEYS {
            assert_eq!(holding(&first, key), 1, "{key}");
            assert_eq!(holding(&all_split, key), 1, "{key}");
        }
        for every in [2, 7, 500] {
            let grouped: Vec<KeyRange> = first.iter().flat_map(|range| split(range, &cuts, every)).collect();
            assert!(KEYS.iter().all(|key| holding(&grouped, key) == 1), "every {every}: {grouped:?}");
        }
        // The rest of a range after a page is split the same way.
        let rest = KeyRange { after: Some("v1/2023/grid_-1.05_0.05/SHA256".into()), ..first[1].clone() };
        let parts = split(&rest, &cuts, 1);
        for key in KEYS.iter().filter(|key| rest.holds(key)) {
            assert_eq!(holding(&parts, key), 1, "{key}");
        }
        assert!(!parts.iter().any(|part| part.holds("v1/2023/grid_-0.05_51.45/grid_-0.05_51.45.npy")));
    }

    #[test]
    fn a_scope_lists_only_its_years_and_prefix() {
        let years = YearRange::new(2017, 2025).unwrap();
        let cuts = all_cuts("", years);
        let one_year = first_ranges("", years, &scope(&[2024], None), &cuts);
        assert_eq!(one_year, [KeyRange { prefix: "2024/".into(), after: None, until: None }]);
        assert_eq!(split(&one_year[0], &cuts, 1).len(), 361);
        assert_eq!(split(&one_year[0], &cuts, 4).len(), 91, "every fourth of 360 cuts");
        let shard = first_ranges("v1/", years, &scope(&[], Some("2024/grid_1")), &cuts);
        assert_eq!(shard, [KeyRange { prefix: "v1/2024/grid_1".into(), after: None, until: None }]);
        // grid_1., grid_10. to grid_19., grid_100. to grid_179.
        assert_eq!(split(&shard[0], &all_cuts("v1/", years), 1).len(), 1 + 1 + 10 + 80);
        let folders = first_ranges("", years, &scope(&[2024, 2025], Some("grid_-0.")), &cuts);
        let prefixes: Vec<&str> = folders.iter().map(|range| range.prefix.as_str()).collect();
        assert_eq!(prefixes, ["2024/grid_-0.", "2025/grid_-0."]);
    }
}
