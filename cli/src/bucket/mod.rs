//! S3 stores through `object_store`: a client configured the way the AWS tools are, a store
//! listed in key ranges run a few at once ([`list`] says how the ranges are cut), and objects
//! read in ranges.
//!
//! Throttling (503 SlowDown) and failed or hung requests are retried with backoff by
//! `object_store`, within the timeout and retry budget of [`Settings`].

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, RetryConfig};
use tessera_engine::grid::YearRange;
use tessera_engine::store::Scope;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

pub use head::ObjectChecksums;
pub use list::Listed;

mod head;
mod list;

/// How requests to the store are bounded and retried.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// The longest one request may take, its body included, before it is abandoned and tried
    /// again.
    pub timeout: Duration,
    /// How many times a request is tried again after a throttled, failed or timed-out attempt.
    pub retries: usize,
}

/// An S3 prefix (`s3://bucket/prefix`) and the client that reaches it.
pub struct Bucket {
    store: Arc<AmazonS3>,
    /// The prefix with a trailing `/`, or empty for a whole bucket.
    root: String,
    url: String,
    /// Where the credentials came from, for error messages.
    credentials: &'static str,
    settings: Settings,
    runtime: Runtime,
    /// How the HTTP client of object_store's requests is built, for the HEADs sent here.
    client_options: ClientOptions,
    /// The HTTP client of those HEADs, built on first use.
    http: std::sync::OnceLock<object_store::client::HttpClient>,
}

impl Bucket {
    /// A client for `url` (`s3://bucket[/prefix]`), configured as the AWS command-line tools
    /// are: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, and
    /// the endpoint of an S3-compatible store from `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL` or
    /// s5cmd's `S3_ENDPOINT_URL`; what the environment lacks is read from the profile
    /// (`AWS_PROFILE`, else `default`) in `~/.aws/credentials` and `~/.aws/config`.
    pub fn open(url: &str, settings: Settings) -> Result<Bucket> {
        let Some(rest) = url.strip_prefix("s3://") else { bail!("{url} is not an s3:// location") };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        let endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "S3_ENDPOINT_URL"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()));
        let profile = profile_settings();
        let credentials = if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
            "credentials from AWS_ACCESS_KEY_ID"
        } else if profile.iter().any(|(key, _)| key == "aws_access_key_id") {
            "credentials from the AWS profile"
        } else {
            "no AWS_ACCESS_KEY_ID or AWS profile: credentials asked of the instance metadata service"
        };
        for (key, value) in profile {
            if std::env::var(key.to_ascii_uppercase()).is_err() {
                builder = builder.with_config(key.parse::<AmazonS3ConfigKey>()?, value);
            }
        }
        if let Some(endpoint) = &endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(15),
                base: 2.0,
            },
            max_retries: settings.retries,
            retry_timeout: Duration::from_secs(300),
        };
        let plain_http = endpoint.as_deref().is_some_and(|endpoint| endpoint.starts_with("http://"));
        let client = ClientOptions::new()
            .with_timeout(settings.timeout)
            .with_connect_timeout(Duration::from_secs(10))
            .with_allow_http(plain_http);
        let store = builder
            .with_retry(retry)
            .with_client_options(client.clone())
            .build()
            .with_context(|| format!("cannot reach {url}"))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the S3 client's runtime")?;
        let root = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        Ok(Bucket {
            store: Arc::new(store),
            root,
            url: url.trim_end_matches('/').to_owned(),
            credentials,
            settings,
            runtime,
            client_options: client,
            http: std::sync::OnceLock::new(),
        })
    }

    /// Lists the keys of `scope` (every key of the store when it covers everything; else the
    /// years and prefix it names) with [`Settings::concurrency`] requests in flight, calling
    /// `block` with each block of `size path` lines (paths relative to the store) and `done`
    /// with the objects listed so far.
    pub fn list(
        &self,
        years: YearRange,
        scope: &Scope,
        mut block: impl FnMut(&[u8]),
        mut done: impl FnMut(u64),
    ) -> Result<Listed> {
        let listing = list::Listing::new(self.store.clone(), &self.root, years, scope, self.settings.concurrency);
        let counters = listing.counters();
        let (send, mut blocks) = mpsc::channel::<Result<Vec<u8>>>(2 * self.settings.concurrency.max(1));
        let _running = self.runtime.spawn(listing.run(send));
        while let Some(lines) = blocks.blocking_recv() {
            block(&lines.with_context(|| format!("cannot list {} ({})", self.url, self.credentials))?);
            done(counters.objects.load(Ordering::Relaxed));
        }
        Ok(counters.listed())
    }

    /// The object at `key` (relative to the store), read in ranges of `chunk` bytes with up to
    /// `parallel` ranges in flight, each handed in order to `consume` with a state that
    /// `start` makes. Returns the object's size and the state, or `None` when there is no such
    /// object. Every range is of the version the first one was (`If-Match` its ETag): an
    /// object replaced while it is read (a `sync` writing it) is read again from the start,
    /// with a new state, rather than hashed as half of each.
    pub async fn read_in_ranges<S>(
        &self,
        key: &str,
        chunk: u64,
        parallel: usize,
        start: impl Fn() -> S,
        mut consume: impl FnMut(&mut S, &[u8]),
    ) -> Result<Option<(u64, S)>> {
        for _ in 0..VERSION_ATTEMPTS {
            let mut state = start();
            match self.read_version(key, chunk, parallel, |bytes| consume(&mut state, bytes)).await? {
                Version::Read(size) => return Ok(Some((size, state))),
                Version::Missing => return Ok(None),
                Version::Replaced => continue,
            }
        }
        bail!("{}/{key} was replaced {VERSION_ATTEMPTS} times while it was read", self.url)
    }

    /// One reading of the object at `key`, as [`Bucket::read_in_ranges`].
    async fn read_version(
        &self,
        key: &str,
        chunk: u64,
        parallel: usize,
        mut consume: impl FnMut(&[u8]),
    ) -> Result<Version> {
        let path = ObjectPath::from(format!("{}{key}", self.root));
        let first = GetOptions { range: Some(GetRange::Bounded(0..chunk)), ..GetOptions::default() };
        let cannot_read = || format!("cannot read {}/{key}", self.url);
        let first = match self.store.get_opts(&path, first).await {
            Ok(first) => first,
            Err(object_store::Error::NotFound { .. }) => return Ok(Version::Missing),
            // S3 refuses any range of an empty object (416). A HEAD tells that apart from a
            // read that failed through its retries, which is an error: reading the object
            // whole instead would hold it all in one buffer.
            Err(err) => {
                return match self.store.head(&path).await {
                    Ok(meta) if meta.size == 0 => Ok(Version::Read(0)),
                    Err(object_store::Error::NotFound { .. }) => Ok(Version::Missing),
                    _ => Err(err).with_context(cannot_read),
                };
            }
        };
        let (size, version) = (first.meta.size, first.meta.e_tag.clone());
        consume(&first.bytes().await.with_context(cannot_read)?);
        let rest: Vec<Range<u64>> =
            (chunk..size).step_by(chunk as usize).map(|start| start..(start + chunk).min(size)).collect();
        let mut parts = futures::stream::iter(rest)
            .map(|range| {
                let (store, path) = (&self.store, &path);
                let options =
                    GetOptions { range: Some(range.into()), if_match: version.clone(), ..GetOptions::default() };
                async move { store.get_opts(path, options).await?.bytes().await }
            })
            .buffered(parallel.max(1));
        while let Some(part) = parts.next().await {
            match part {
                Ok(bytes) => consume(&bytes),
                Err(object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. }) => {
                    return Ok(Version::Replaced);
                }
                Err(err) => return Err(err).with_context(cannot_read),
            }
        }
        Ok(Version::Read(size))
    }

    /// Runs `work` on the client's runtime, from synchronous code.
    pub fn block_on<T>(&self, work: impl Future<Output = T>) -> T {
        self.runtime.block_on(work)
    }
}

/// Times an object is read from the start when it is replaced while read.
const VERSION_ATTEMPTS: usize = 3;

/// How one reading of an object went.
enum Version {
    /// Read whole, of this size.
    Read(u64),
    Missing,
    /// Replaced (or removed) after its first range: to be read again.
    Replaced,
}

/// `key = value` settings of the AWS profile in `~/.aws/credentials` and `~/.aws/config`
/// that object_store understands, keyed as its `aws_*` options.
fn profile_settings() -> Vec<(String, String)> {
    let Some(home) = std::env::var_os("HOME").map(PathBuf::from) else { return Vec::new() };
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".to_owned());
    let credentials =
        std::env::var_os("AWS_SHARED_CREDENTIALS_FILE").map_or(home.join(".aws/credentials"), PathBuf::from);
    let config = std::env::var_os("AWS_CONFIG_FILE").map_or(home.join(".aws/config"), PathBuf::from);
    let mut found = HashMap::new();
    // The config file names a profile `[profile name]`, except `[default]`.
    let config_section = if profile == "default" { profile.clone() } else { format!("profile {profile}") };
    for (file, section) in [(config, config_section), (credentials, profile)] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for (key, value) in ini_section(&text, &section) {
            let option = match key {
                "aws_access_key_id" | "aws_secret_access_key" | "aws_session_token" => key.to_owned(),
                "region" => "aws_region".to_owned(),
                "endpoint_url" => "aws_endpoint_url".to_owned(),
                _ => continue,
            };
            found.insert(option, value.to_owned());
        }
    }
    found.into_iter().collect()
}

/// The `key = value` pairs of `[section]` in an INI text.
fn ini_section<'a>(text: &'a str, section: &str) -> Vec<(&'a str, &'a str)> {
    let mut inside = false;
    let mut pairs = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
            inside = name.trim() == section;
        } else if inside && let Some((key, value)) = line.split_once('=') {
            pairs.push((key.trim(), value.trim()));
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_read_from_their_section() {
        let text =
            "[default]\nregion = eu-west-1\n[profile ceph]\nendpoint_url = http://ceph:7480\n region=us-east-1 \n";
        assert_eq!(ini_section(text, "profile ceph"), [("endpoint_url", "http://ceph:7480"), ("region", "us-east-1")]);
        assert_eq!(ini_section(text, "default"), [("region", "eu-west-1")]);
        assert!(ini_section(text, "other").is_empty());
    }
}
