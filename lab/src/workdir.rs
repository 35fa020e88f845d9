//! The per-lab work directory: program output, generated configs and logs live here. It is
//! removed when the lab is dropped normally and kept (its path logged) when the thread is
//! panicking, so a failing test leaves its diagnostics behind.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// A directory owned by one lab.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
    counter: AtomicU64,
}

impl WorkDir {
    /// Creates (or empties) `path`.
    pub(crate) fn create(path: PathBuf) -> Result<Self> {
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .map_err(|e| Error::io(format!("remove stale {}", path.display()), e))?;
        }
        std::fs::create_dir_all(&path)
            .map_err(|e| Error::io(format!("create {}", path.display()), e))?;
        Ok(WorkDir {
            path,
            counter: AtomicU64::new(0),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file-name stem no other caller of this work directory gets: `NNN-<tag>`.
    pub(crate) fn unique_stem(&self, tag: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let clean: String = tag
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{n:03}-{clean}")
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("lab: keeping {} for diagnostics", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
