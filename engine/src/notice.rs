//! What opening an inventory had to do, or found, that its user may want to know: returned as
//! values for the caller to word (the engine prints nothing and names no command).

use std::fmt;
use std::path::PathBuf;

use crate::error::IndexProblem;

/// One thing opening the inventory did or found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// A derived file (an index, or the registry's details) was built again from its source,
    /// because of `problem`.
    Rebuilt {
        /// The derived file.
        path: PathBuf,
        /// Why the file on disk could not be used.
        problem: IndexProblem,
        /// The rebuilt file serves this process from memory: the inventory is read-only, a
        /// writer held the sources' lock, or writing it failed.
        in_memory: bool,
    },
    /// A rebuilt file could not be written; it serves from memory.
    NotWritten {
        /// The derived file.
        path: PathBuf,
        /// The failure, as the system said it.
        reason: String,
    },
    /// The inventory has no registry: every count against it is empty.
    NoRegistry {
        /// The registry file that is missing.
        path: PathBuf,
    },
    /// A store has no manifest yet: it holds no tiles.
    NoManifest {
        /// The store's name.
        store: String,
    },
    /// Something a source's reader noticed in its rows while building an index (the rows
    /// were read all the same).
    SourceRows {
        /// What the reader noticed.
        message: String,
    },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Rebuilt { path, problem, in_memory } => {
                let place = if *in_memory { " in memory" } else { "" };
                write!(f, "rebuilt {}{place}: {problem}", path.display())
            }
            Notice::NotWritten { path, reason } => write!(f, "could not write {}: {reason}", path.display()),
            Notice::NoRegistry { path } => write!(f, "there is no registry at {}", path.display()),
            Notice::NoManifest { store } => write!(f, "store `{store}` has no manifest yet: it holds no tiles"),
            Notice::SourceRows { message } => f.write_str(message),
        }
    }
}
