//! The two ends of a copy, as `diff --emit-copylist` and `sync` need them: storages that a copy
//! tool can read and write. The registry is a source of *what* should exist, never of files.

use anyhow::{Result, bail};
use tessera_engine::bitmap::kernels;
use tessera_engine::inventory::{Filter, Inventory, REGISTRY};
use tessera_engine::storage::Storage;

/// The storages of `source` and `target`. When `source` is the registry, the error names the
/// stores that hold what `target` lacks, so the user can copy from one of them.
pub fn storages(inventory: &Inventory, source: &str, target: &str, filter: &Filter) -> Result<(Storage, Storage)> {
    if target == REGISTRY {
        bail!("the registry is not a store: nothing is copied into it (TARGET must be a store)");
    }
    if source == REGISTRY {
        bail!("{}", registry_is_not_a_copy_source(inventory, target, filter)?);
    }
    Ok((inventory.store(source)?.config.storage()?, inventory.store(target)?.config.storage()?))
}

/// "the registry holds no files ...": which stores hold the tiles `target` lacks.
fn registry_is_not_a_copy_source(inventory: &Inventory, target: &str, filter: &Filter) -> Result<String> {
    let lacking = inventory.missing(REGISTRY, target, filter)?;
    let lacking_count: u64 = lacking.iter().map(|range| range.len()).sum();
    let mut holders = Vec::new();
    for store in inventory.stores().iter().filter(|s| s.config.name != target) {
        let held = kernels::and_ranges_count(&store.tiles, &lacking);
        if held > 0 {
            holders.push((store.config.name.as_str(), held));
        }
    }
    holders.sort_by_key(|(_, held)| std::cmp::Reverse(*held));
    let mut message = "the registry lists tiles but holds no files: copy them from a store that holds them".to_owned();
    if lacking_count == 0 {
        message.push_str(&format!(" ({target} lacks none of them)"));
        return Ok(message);
    }
    message.push_str(&format!(" ({lacking_count} registry tiles missing from {target}"));
    match holders.first() {
        None => message.push_str(", and no other store holds any of them)"),
        Some((best, _)) => {
            let held: Vec<String> = holders.iter().map(|(name, held)| format!("{name} holds {held}")).collect();
            message.push_str(&format!(": {}), e.g. `tessera sync {best} {target}`", held.join(", ")));
        }
    }
    Ok(message)
}
