//! The Fields extension: which members of each item a search returns.
//!
//! The `include` and `exclude` paths are read once per request into two trees of member names
//! and applied to each item by walking the item and the trees together: the work per item is
//! linear in the paths and the item, whatever their numbers. A request may name at most
//! [`MAX_PATHS`] paths of at most [`MAX_PATH_BYTES`] bytes each.
//!
//! The reading is `stac-api-validator`'s:
//! - no `include` and no `exclude`: the whole item;
//! - `include` paths: those, plus [`ALWAYS_INCLUDED`];
//! - an empty or null `include` with an `exclude`: the top-level members but `properties`;
//! - then `exclude` paths are removed, unless an include names the same path or one inside it.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// At most this many paths, `include` and `exclude` together: an item has about thirty.
pub const MAX_PATHS: usize = 100;
/// At most this many bytes in one path.
pub const MAX_PATH_BYTES: usize = 256;

/// Members an item keeps whatever `include` says, so it stays a recognisable STAC item.
const ALWAYS_INCLUDED: [&str; 4] = ["type", "stac_version", "id", "collection"];

/// A request's fields, read into trees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    /// The members to keep: `None` for the whole item; with the top-level members but
    /// `properties` when an empty `include` comes with an `exclude`.
    keep: Keep,
    /// The members to remove from what is kept: those no include names, nor a path inside.
    remove: Tree,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Keep {
    #[default]
    All,
    AllButProperties,
    Only(Tree),
}

/// Member names as a tree: a node whose path was named ends there (`whole`: the member with
/// everything in it); its children are the paths named inside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Tree {
    whole: bool,
    children: BTreeMap<String, Tree>,
}

impl Tree {
    fn insert(&mut self, path: &str) {
        let mut node = self;
        for name in path.split('.') {
            node = node.children.entry(name.to_owned()).or_default();
        }
        node.whole = true;
    }

    /// Whether a path ends at or passes through `path`.
    fn reaches(&self, path: &str) -> bool {
        let mut node = self;
        for name in path.split('.') {
            match node.children.get(name) {
                Some(child) => node = child,
                None => return false,
            }
        }
        true
    }

    /// The members of `from` the tree names.
    fn copy(&self, from: &Map<String, Value>) -> Map<String, Value> {
        let mut kept = Map::new();
        for (name, node) in &self.children {
            match from.get(name) {
                Some(value) if node.whole => {
                    kept.insert(name.clone(), value.clone());
                }
                Some(Value::Object(inner)) => {
                    kept.insert(name.clone(), Value::Object(node.copy(inner)));
                }
                _ => {}
            }
        }
        kept
    }

    /// Removes the members of `from` the tree names.
    fn remove(&self, from: &mut Map<String, Value>) {
        for (name, node) in &self.children {
            if node.whole {
                from.remove(name);
            } else if let Some(Value::Object(inner)) = from.get_mut(name) {
                node.remove(inner);
            }
        }
    }
}

impl Fields {
    /// Fields from the paths given: `include` is `None` when the request names none at all and
    /// `Some` (maybe empty) when it names one, even as `null`, since the two differ when only
    /// `exclude` is given. Refused past [`MAX_PATHS`] paths or a path of [`MAX_PATH_BYTES`].
    pub fn new(include: Option<Vec<String>>, exclude: Vec<String>) -> Result<Fields> {
        let paths = include.iter().flatten().chain(&exclude);
        let count = include.as_ref().map_or(0, Vec::len) + exclude.len();
        if count > MAX_PATHS {
            return Err(Error::TooMany { what: "fields", got: count, limit: MAX_PATHS });
        }
        if let Some(long) = paths.clone().find(|path| path.len() > MAX_PATH_BYTES) {
            return Err(Error::bad(format!(
                "a fields path is {} bytes long (`{}...`); at most {MAX_PATH_BYTES} bytes are taken",
                long.len(),
                long.chars().take(40).collect::<String>()
            )));
        }
        let mut named = Tree::default();
        for path in include.iter().flatten() {
            named.insert(path);
        }
        let mut remove = Tree::default();
        for path in exclude.iter().filter(|path| !named.reaches(path)) {
            remove.insert(path);
        }
        let keep = match include {
            Some(paths) if !paths.is_empty() => {
                for path in ALWAYS_INCLUDED {
                    named.insert(path);
                }
                Keep::Only(named)
            }
            Some(_) if !exclude.is_empty() => Keep::AllButProperties,
            _ => Keep::All,
        };
        Ok(Fields { keep, remove })
    }

    /// Fields from a GET parameter: `path` or `+path` to include, `-path` to exclude.
    pub fn from_text(terms: &[String]) -> Result<Fields> {
        let (mut include, mut exclude) = (None, Vec::new());
        for term in terms {
            match term.strip_prefix('-') {
                Some(path) => exclude.push(path.to_owned()),
                None => include.get_or_insert_with(Vec::new).push(term.trim_start_matches('+').to_owned()),
            }
        }
        Fields::new(include, exclude)
    }

    /// Fields from a POST member: `{"include": [...], "exclude": [...]}`.
    pub fn from_json(value: &Value) -> Result<Fields> {
        let object = value
            .as_object()
            .ok_or_else(|| Error::bad(format!("fields `{value}` must be an object with include and exclude")))?;
        let list = |name: &str| -> Result<Option<Vec<String>>> {
            match object.get(name) {
                None => Ok(None),
                Some(Value::Null) => Ok(Some(Vec::new())),
                Some(Value::Array(values)) => values
                    .iter()
                    .map(|value| value.as_str().map(str::to_owned))
                    .collect::<Option<Vec<String>>>()
                    .map(Some)
                    .ok_or_else(|| Error::bad(format!("fields.{name} must be an array of strings"))),
                Some(other) => Err(Error::bad(format!("fields.{name} `{other}` must be an array of strings"))),
            }
        };
        Fields::new(list("include")?, list("exclude")?.unwrap_or_default())
    }

    /// The item with only the members these fields choose.
    pub fn apply(&self, item: Value) -> Value {
        let Value::Object(full) = item else { return item };
        let mut kept = match &self.keep {
            Keep::All => full,
            Keep::AllButProperties => full.into_iter().filter(|(name, _)| name != "properties").collect(),
            Keep::Only(tree) => tree.copy(&full),
        };
        self.remove.remove(&mut kept);
        Value::Object(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item() -> Value {
        json!({"type": "Feature", "stac_version": "1.1.0", "id": "x", "collection": "c", "geometry": {}, "bbox": [],
               "properties": {"datetime": "d", "other": 1}, "links": [], "assets": {"a": {"href": "h", "file:size": 3}}})
    }

    fn paths(paths: &[&str]) -> Vec<String> {
        paths.iter().map(|p| (*p).to_owned()).collect()
    }

    fn keys(fields: &Fields) -> Vec<String> {
        let Value::Object(map) = fields.apply(item()) else { panic!("an object") };
        map.keys().cloned().collect()
    }

    #[test]
    fn fields_follow_the_validators_reading() {
        let only_bbox = Fields::new(Some(paths(&["bbox"])), vec![]).unwrap();
        assert_eq!(keys(&only_bbox), ["bbox", "collection", "id", "stac_version", "type"]);
        let no_geometry = Fields::new(None, paths(&["geometry"])).unwrap();
        assert!(!keys(&no_geometry).contains(&"geometry".to_owned()));
        assert!(keys(&no_geometry).contains(&"properties".to_owned()));
        let empty_include = Fields::new(Some(vec![]), paths(&["geometry"])).unwrap();
        assert!(!keys(&empty_include).contains(&"properties".to_owned()));
        let nested = Fields::new(Some(paths(&["properties.datetime"])), paths(&["properties"])).unwrap().apply(item());
        assert_eq!(nested["properties"], json!({"datetime": "d"}), "an include inside an exclude wins");
        let both = Fields::new(Some(paths(&["geometry"])), paths(&["geometry"])).unwrap();
        assert!(keys(&both).contains(&"geometry".to_owned()), "an include of the same path wins");
        let deep = Fields::new(None, paths(&["assets.a.file:size", "properties.other"])).unwrap().apply(item());
        assert_eq!(deep["assets"], json!({"a": {"href": "h"}}));
        assert_eq!(deep["properties"], json!({"datetime": "d"}));
        let whole_and_part = Fields::new(Some(paths(&["properties.datetime", "properties"])), vec![]).unwrap();
        assert_eq!(whole_and_part.apply(item())["properties"], item()["properties"], "a whole member wins");
        let from_text = Fields::from_text(&paths(&["+properties.datetime", "-links", "bbox"])).unwrap();
        assert_eq!(from_text, Fields::new(Some(paths(&["properties.datetime", "bbox"])), paths(&["links"])).unwrap());
    }

    #[test]
    fn a_request_names_at_most_the_paths_taken() {
        let many: Vec<String> = (0..=MAX_PATHS).map(|n| format!("a{n}")).collect();
        let refused = Fields::new(Some(many), vec![]).unwrap_err();
        assert!(matches!(refused, Error::TooMany { limit: MAX_PATHS, .. }), "{refused}");
        assert!(refused.to_string().contains("at most 100"), "{refused}");
        let long = Fields::new(None, vec!["a".repeat(MAX_PATH_BYTES + 1)]).unwrap_err();
        assert!(long.to_string().contains("at most 256 bytes"), "{long}");
        assert!(Fields::new(Some(paths(&["a"; MAX_PATHS])), vec![]).is_ok());
    }
}
