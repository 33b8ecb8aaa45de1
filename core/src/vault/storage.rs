//! Crash-safe files: atomic replacement, the previous generation kept, and a
//! lock so two processes never interleave their read-modify-write cycles.
//!
//! For a vault at `DIR/vault.json` the files are:
//! - `vault.json` — the current generation;
//! - `vault.json.prev` — the generation before it;
//! - `vault.json.tmp`, `vault.json.prev.tmp` — written, then renamed into place;
//! - `vault.json.lock` — an empty file whose OS lock serialises writers;
//! - `vault.json.damaged-<nanoseconds>` — a damaged current file kept aside
//!   (never deleted) when a write replaces it.
//!
//! Every step is a rename within one directory, so a crash at any instant
//! leaves `vault.json` holding either the old or the new generation.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::VaultError;
use super::format::MAX_FILE_BYTES;

/// The set of files behind one vault.
#[derive(Debug, Clone)]
pub struct VaultFiles {
    main: PathBuf,
}

/// An exclusive lock on a vault, released on drop.
pub struct WriteLock {
    _file: File,
}

fn io_error(action: &str, path: &Path, error: io::Error) -> VaultError {
    VaultError::Io {
        action: action.to_string(),
        path: path.to_path_buf(),
        reason: error.to_string(),
    }
}

impl VaultFiles {
    /// The files for the vault at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { main: path.into() }
    }

    /// The current generation's path.
    pub fn main(&self) -> &Path {
        &self.main
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.main.file_name().unwrap_or_default().to_os_string();
        name.push(suffix);
        self.main.with_file_name(name)
    }

    /// The previous generation's path.
    pub fn previous(&self) -> PathBuf {
        self.sibling(".prev")
    }

    fn directory(&self) -> PathBuf {
        match self.main.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Creates the directory (mode 0700 on Unix) if needed.
    pub fn ensure_directory(&self) -> Result<(), VaultError> {
        let dir = self.directory();
        if dir.exists() {
            return Ok(());
        }
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(&dir)
            .map_err(|e| io_error("create the vault directory", &dir, e))
    }

    /// Waits for, then takes, the exclusive writer lock.
    pub fn lock(&self) -> Result<WriteLock, VaultError> {
        self.ensure_directory()?;
        let path = self.sibling(".lock");
        let mut options = OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options
            .open(&path)
            .map_err(|e| io_error("open the lock file", &path, e))?;
        file.lock()
            .map_err(|e| io_error("lock the vault", &path, e))?;
        Ok(WriteLock { _file: file })
    }

    /// True when the current generation exists.
    pub fn exists(&self) -> bool {
        self.main.exists()
    }

    /// Reads the current generation (`Ok(None)` when missing).
    pub fn read_main(&self) -> Result<Option<Vec<u8>>, VaultError> {
        read_bounded(&self.main)
    }

    /// Reads the previous generation (`Ok(None)` when missing).
    pub fn read_previous(&self) -> Result<Option<Vec<u8>>, VaultError> {
        read_bounded(&self.previous())
    }

    /// Replaces the current generation with `bytes`, keeping the old one as
    /// the previous generation. With `main_is_damaged`, the current file is
    /// moved aside instead (kept, never deleted) and the previous generation
    /// is left alone, because it is the intact copy the new one came from.
    ///
    /// Must be called with the [`WriteLock`] held.
    pub fn write(
        &self,
        bytes: &[u8],
        main_is_damaged: bool,
        _lock: &WriteLock,
    ) -> Result<(), VaultError> {
        self.ensure_directory()?;
        let tmp = self.sibling(".tmp");
        write_synced(&tmp, bytes)?;
        if self.main.exists() {
            if main_is_damaged {
                // Linked (or copied) aside, not renamed: the current path must
                // never be missing, even for an instant.
                let aside = self.sibling(&format!(".damaged-{}", damaged_stamp()));
                if fs::hard_link(&self.main, &aside).is_err() {
                    fs::copy(&self.main, &aside)
                        .map_err(|e| io_error("keep the damaged vault aside", &aside, e))?;
                }
            } else {
                self.keep_previous()?;
            }
        }
        fs::rename(&tmp, &self.main).map_err(|e| io_error("replace the vault", &self.main, e))?;
        sync_directory(&self.directory())
    }

    /// Makes the previous generation a copy of the current one, atomically.
    fn keep_previous(&self) -> Result<(), VaultError> {
        let staged = self.sibling(".prev.tmp");
        match fs::remove_file(&staged) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("remove a stale file", &staged, e)),
        }
        // A hard link costs nothing; filesystems without links (FAT on an
        // SD card) get a synced copy instead.
        if fs::hard_link(&self.main, &staged).is_err() {
            let bytes =
                fs::read(&self.main).map_err(|e| io_error("read the vault", &self.main, e))?;
            write_synced(&staged, &bytes)?;
        }
        let previous = self.previous();
        fs::rename(&staged, &previous)
            .map_err(|e| io_error("keep the previous generation", &previous, e))
    }
}

/// A unique-enough suffix for a damaged file kept aside (nanoseconds).
fn damaged_stamp() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>, VaultError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("read", path, e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error("read", path, e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(VaultError::Corrupt(format!(
            "{} is larger than {} MiB; it is not a vault file",
            path.display(),
            MAX_FILE_BYTES / 1024 / 1024
        )));
    }
    Ok(Some(bytes))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| io_error("create", path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error("write", path, e))
}

#[cfg(unix)]
fn sync_directory(dir: &Path) -> Result<(), VaultError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("sync the vault directory", dir, e))
}

#[cfg(not(unix))]
fn sync_directory(_dir: &Path) -> Result<(), VaultError> {
    // Windows has no directory handle to sync; NTFS journals the rename.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_previous_generation() {
        let dir = tempfile::tempdir().unwrap();
        let files = VaultFiles::new(dir.path().join("v.json"));
        let lock = files.lock().unwrap();
        files.write(b"one", false, &lock).unwrap();
        assert_eq!(files.read_previous().unwrap(), None);
        files.write(b"two", false, &lock).unwrap();
        files.write(b"three", false, &lock).unwrap();
        assert_eq!(files.read_main().unwrap().unwrap(), b"three");
        assert_eq!(files.read_previous().unwrap().unwrap(), b"two");
    }

    #[test]
    fn moves_a_damaged_file_aside() {
        let dir = tempfile::tempdir().unwrap();
        let files = VaultFiles::new(dir.path().join("v.json"));
        let lock = files.lock().unwrap();
        files.write(b"good", false, &lock).unwrap();
        files.write(b"damaged", false, &lock).unwrap();
        files.write(b"repaired", true, &lock).unwrap();
        assert_eq!(files.read_main().unwrap().unwrap(), b"repaired");
        assert_eq!(files.read_previous().unwrap().unwrap(), b"good");
        let kept: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("damaged-"))
            .collect();
        assert_eq!(kept.len(), 1);
        assert_eq!(fs::read(kept[0].path()).unwrap(), b"damaged");
    }
}
