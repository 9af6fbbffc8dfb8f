//! `tessera.toml`: the stores of an inventory and the years it covers.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{CONFIG_FILE, REGISTRY, ensure_secret};
use crate::error::{Error, Result};
use crate::grid::{Year, YearRange};

/// Whether a store is the source of truth for copies or a mirror of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The source of truth that copies are made from; exactly one store of an inventory.
    Primary,
    /// A store that holds copies of the primary's tiles.
    Mirror,
}

impl StoreConfig {
    /// Where the store's tile folders live, parsed (checked when the config was read).
    pub fn storage(&self) -> Result<crate::storage::Storage> {
        crate::storage::Storage::parse(&self.storage)
    }
}

impl Role {
    /// The role as written in `tessera.toml`: `primary` or `mirror`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Mirror => "mirror",
        }
    }
}

/// One `[[stores]]` entry of `tessera.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Unique name of the store: 1-64 of `[A-Za-z0-9_.-]`, not starting with `.`, never `registry`.
    pub name: String,
    /// Whether the store is the primary or a mirror.
    pub role: Role,
    /// Base URL of the tile folders for downloads, e.g. `https://.../global_0.1_degree_representation`.
    pub public_url: String,
    /// Where copy commands read or write: a local path or `s3://bucket/prefix`.
    pub storage: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct YearsConfig {
    first: Year,
    last: Year,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    years: YearsConfig,
    #[serde(default, skip_serializing_if = "MapConfig::is_empty")]
    map: MapConfig,
    #[serde(default, rename = "stores")]
    stores: Vec<StoreConfig>,
}

/// The optional `[map]` table: the online imagery under the coverage map. Its licence varies
/// by year (EOX's Sentinel-2 cloudless after 2016 is non-commercial), so it is configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MapConfig {
    /// An XYZ tile URL template, e.g. `https://tiles.maps.eox.at/wmts/1.0.0/s2cloudless-2020_3857/default/g/{z}/{y}/{x}.jpg`.
    pub basemap_url: Option<String>,
    /// The attribution the imagery requires.
    pub basemap_attribution: Option<String>,
}

impl MapConfig {
    fn is_empty(&self) -> bool {
        self.basemap_url.is_none() && self.basemap_attribution.is_none()
    }
}

/// The parsed `tessera.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The inclusive range of years the inventory covers (`[years]`).
    pub years: YearRange,
    /// In the order the file lists them; that order is the order of every report.
    pub stores: Vec<StoreConfig>,
    /// The `[map]` table; empty when the file has none.
    pub map: MapConfig,
}

impl Config {
    /// Parses and checks `text`: one primary, unique names made of `[A-Za-z0-9_.-]`.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let bad = |message: String| Error::Config { path: path.to_owned(), message };
        let raw: RawConfig = toml::from_str(text).map_err(|err| bad(err.to_string()))?;
        let years = YearRange::new(raw.years.first, raw.years.last).map_err(|err| bad(err.to_string()))?;
        let primaries = raw.stores.iter().filter(|s| s.role == Role::Primary).count();
        if !raw.stores.is_empty() && primaries != 1 {
            return Err(bad(format!("exactly one store must have role = \"primary\", found {primaries}")));
        }
        for (n, store) in raw.stores.iter().enumerate() {
            if !is_store_name(&store.name) {
                return Err(bad(format!("store name `{}` must be 1-64 of A-Z a-z 0-9 _ . -", store.name)));
            }
            crate::storage::Storage::parse(&store.storage)
                .map_err(|err| bad(format!("store `{}`: {err}", store.name)))?;
            if store.name == REGISTRY {
                return Err(bad(format!("store name `{REGISTRY}` is reserved: it names the upstream registry")));
            }
            if raw.stores[..n].iter().any(|other| other.name == store.name) {
                return Err(bad(format!("store `{}` is declared twice", store.name)));
            }
        }
        Ok(Config { years, stores: raw.stores, map: raw.map })
    }

    /// The config as `tessera.toml` text, which [`Config::parse`] reads back.
    pub fn to_toml(&self) -> String {
        let raw = RawConfig {
            years: YearsConfig { first: self.years.first(), last: self.years.last() },
            map: self.map.clone(),
            stores: self.stores.clone(),
        };
        let body = toml::to_string(&raw).expect("a config of strings and integers serialises");
        format!("# A tessera inventory: the stores that hold GeoTessera tiles.\n{body}")
    }

    /// Writes a new inventory: `dir/tessera.toml` and `dir/stores/`. Refuses a directory that
    /// already has a `tessera.toml`, so nothing is overwritten.
    pub fn create(&self, dir: &Path) -> Result<()> {
        Config::parse(&self.to_toml(), &dir.join(CONFIG_FILE))?;
        let path = dir.join(CONFIG_FILE);
        if path.exists() {
            return Err(Error::Config { path, message: "already exists; edit it, or choose another directory".into() });
        }
        fs::create_dir_all(dir.join("stores")).map_err(Error::io("creating", dir.join("stores")))?;
        crate::fsutil::write_atomically(&path, self.to_toml().as_bytes())?;
        ensure_secret(dir)
    }

    /// Reads and checks `dir/tessera.toml`.
    pub fn load(dir: &Path) -> Result<Config> {
        let path = dir.join(CONFIG_FILE);
        if !path.exists() {
            return Err(Error::NotAnInventory { path: dir.to_owned() });
        }
        let text = fs::read_to_string(&path).map_err(Error::io("reading", &path))?;
        Config::parse(&text, &path)
    }

    /// Extends the years of the inventory in `dir` to end at `last`, rewriting `tessera.toml`
    /// atomically. No id moves: ids are year-major from the first year, which stays. The
    /// `last = ...` of the file is edited in place, so its comments and layout stay too.
    pub fn extend_years(dir: &Path, last: Year) -> Result<Config> {
        let path = dir.join(CONFIG_FILE);
        let config = Config::load(dir)?;
        let years = YearRange::new(config.years.first(), last.max(config.years.last()))
            .map_err(|err| Error::Config { path: path.clone(), message: err.to_string() })?;
        let text = fs::read_to_string(&path).map_err(Error::io("reading", &path))?;
        let wanted = Config { years, ..config };
        let edited = edit_last_year(&text, wanted.years.last())
            .filter(|edited| Config::parse(edited, &path).is_ok_and(|parsed| parsed == wanted));
        let text = edited.unwrap_or_else(|| wanted.to_toml());
        crate::fsutil::write_atomically(&path, text.as_bytes())?;
        Ok(wanted)
    }

    /// The primary store, if any store is declared.
    pub fn primary(&self) -> Option<&StoreConfig> {
        self.stores.iter().find(|s| s.role == Role::Primary)
    }

    /// Where store `name` is in [`Config::stores`], or an error listing the stores there are.
    pub fn store_position(&self, name: &str) -> Result<usize> {
        self.stores.iter().position(|s| s.name == name).ok_or_else(|| Error::UnknownStore {
            name: name.to_owned(),
            known: self.stores.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    }
}

/// `text` with the number after the first `last =` of the line that sets `years` (or of the
/// `[years]` table) replaced by `last`; `None` when there is no such line.
fn edit_last_year(text: &str, last: Year) -> Option<String> {
    let start = text.find("years")?;
    let at = start + text[start..].find("last")?;
    let equals = at + text[at..].find('=')?;
    let digits_at = equals + 1 + text[equals + 1..].find(|c: char| c.is_ascii_digit())?;
    let digits_end =
        digits_at + text[digits_at..].find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len() - digits_at);
    Some(format!("{}{last}{}", &text[..digits_at], &text[digits_end..]))
}

fn is_store_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_needs_exactly_one_primary_and_unique_names() {
        let path = Path::new("tessera.toml");
        let store = |name: &str, role: &str| {
            format!("[[stores]]\nname = \"{name}\"\nrole = \"{role}\"\npublic_url = \"u\"\nstorage = \"s\"\n")
        };
        let years = "years = { first = 2017, last = 2025 }\n";
        let ok = format!("{years}{}{}", store("a", "primary"), store("b", "mirror"));
        assert_eq!(Config::parse(&ok, path).unwrap().primary().unwrap().name, "a");
        let two = format!("{years}{}{}", store("a", "primary"), store("b", "primary"));
        assert!(Config::parse(&two, path).unwrap_err().to_string().contains("exactly one"));
        let twice = format!("{years}{}{}", store("a", "primary"), store("a", "mirror"));
        assert!(Config::parse(&twice, path).unwrap_err().to_string().contains("twice"));
        let slash = format!("{years}{}", store("../x", "primary"));
        assert!(Config::parse(&slash, path).unwrap_err().to_string().contains("store name"));
        let config = Config::parse(&ok, path).unwrap();
        assert_eq!(Config::parse(&config.to_toml(), path).unwrap(), config);
    }
}
