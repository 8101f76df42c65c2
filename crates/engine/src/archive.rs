//! Unpacking uploaded source tarballs (`.tar` or `.tar.gz`) without trusting them.
//!
//! An upload may try to write outside the build folder (absolute paths, `..`, a symlink
//! pointing out and a file written "through" it), or exhaust the disk (a small gzip that
//! inflates to gigabytes). Every entry is checked before anything is written, sizes are
//! counted as bytes actually arrive, and any violation aborts with a clear error.

use flate2::read::GzDecoder;
use std::io::{BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

/// How much an archive may unpack to.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_total_bytes: u64,
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_total_bytes: 512 * 1024 * 1024,
            max_entries: 50_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("the archive entry {0:?} has an absolute path; paths must be relative")]
    AbsolutePath(String),
    #[error("the archive entry {0:?} climbs out of the folder with \"..\"")]
    ParentTraversal(String),
    #[error("the archive link {0:?} points outside the folder")]
    LinkEscapes(String),
    #[error("the archive entry {0:?} is a device, fifo or other special file")]
    SpecialFile(String),
    #[error("the archive unpacks to more than {0} bytes")]
    TooLarge(u64),
    #[error("the archive has more than {0} entries")]
    TooManyEntries(usize),
    #[error("the upload is not a readable tar or tar.gz archive: {0}")]
    Malformed(#[source] std::io::Error),
    #[error("cannot write the unpacked file {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What was unpacked.
#[derive(Debug, PartialEq, Eq)]
pub struct Unpacked {
    pub entries: usize,
    pub bytes: u64,
}

/// Unpacks `archive` (gzip detected by its magic bytes) into the existing folder `dest`.
pub fn unpack(archive: impl Read, dest: &Path, limits: Limits) -> Result<Unpacked, ArchiveError> {
    let mut buffered = BufReader::new(archive);
    let is_gzip = buffered
        .fill_buf()
        .map_err(ArchiveError::Malformed)?
        .starts_with(&[0x1f, 0x8b]);
    if is_gzip {
        unpack_tar(GzDecoder::new(buffered), dest, limits)
    } else {
        unpack_tar(buffered, dest, limits)
    }
}

fn unpack_tar(reader: impl Read, dest: &Path, limits: Limits) -> Result<Unpacked, ArchiveError> {
    let mut archive = tar::Archive::new(reader);
    let mut unpacked = Unpacked {
        entries: 0,
        bytes: 0,
    };
    for entry in archive.entries().map_err(ArchiveError::Malformed)? {
        let mut entry = entry.map_err(ArchiveError::Malformed)?;
        unpacked.entries += 1;
        if unpacked.entries > limits.max_entries {
            return Err(ArchiveError::TooManyEntries(limits.max_entries));
        }
        let raw_path = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw_path).into_owned();
        let relative = safe_relative_path(&shown)?;
        let Some(relative) = relative else { continue }; // "." or "./": the folder itself
        let target = dest.join(&relative);
        let kind = entry.header().entry_type();
        // Declared sizes can lie (and sparse entries expand): count what is really read.
        let declared = entry.header().size().unwrap_or(0);
        if unpacked.bytes.saturating_add(declared) > limits.max_total_bytes {
            return Err(ArchiveError::TooLarge(limits.max_total_bytes));
        }
        let write_error = |source| ArchiveError::Write {
            path: target.clone(),
            source,
        };
        if kind.is_dir() {
            std::fs::create_dir_all(&target).map_err(write_error)?;
        } else if kind.is_file() {
            refuse_symlinked_parent(dest, &relative, &shown)?;
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(write_error)?;
            }
            let budget = limits.max_total_bytes - unpacked.bytes;
            let mut file = std::fs::File::create(&target).map_err(write_error)?;
            let copied = std::io::copy(&mut (&mut entry).take(budget + 1), &mut file)
                .map_err(write_error)?;
            if copied > budget {
                drop(file);
                let _ = std::fs::remove_file(&target);
                return Err(ArchiveError::TooLarge(limits.max_total_bytes));
            }
            unpacked.bytes += copied;
        } else if kind.is_symlink() || kind.is_hard_link() {
            let link = entry
                .link_name_bytes()
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default();
            let base = if kind.is_symlink() {
                relative.parent().map(Path::to_path_buf).unwrap_or_default()
            } else {
                PathBuf::new() // hard link names are relative to the archive root
            };
            if Path::new(&link).is_absolute() || !stays_inside(&base.join(&link)) {
                return Err(ArchiveError::LinkEscapes(shown));
            }
            refuse_symlinked_parent(dest, &relative, &shown)?;
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(write_error)?;
            }
            if kind.is_symlink() {
                std::os::unix::fs::symlink(&link, &target).map_err(write_error)?;
            } else {
                std::fs::hard_link(dest.join(&link), &target).map_err(write_error)?;
            }
        } else if matches!(
            kind,
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            continue;
        } else {
            return Err(ArchiveError::SpecialFile(shown));
        }
    }
    Ok(unpacked)
}

/// The entry's path as a clean relative path, `None` for the root itself.
fn safe_relative_path(raw: &str) -> Result<Option<PathBuf>, ArchiveError> {
    let path = Path::new(raw);
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(ArchiveError::ParentTraversal(raw.to_owned())),
            Component::RootDir | Component::Prefix(_) => {
                return Err(ArchiveError::AbsolutePath(raw.to_owned()))
            }
        }
    }
    Ok((!clean.as_os_str().is_empty()).then_some(clean))
}

/// Whether a relative path, with `..` resolved lexically, stays inside its root.
fn stays_inside(path: &Path) -> bool {
    let mut depth: i64 = 0;
    for component in path.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => depth -= 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

/// Refuses to write through a symlink an earlier entry created (the classic escape: a
/// link `out -> /etc` followed by a file `out/passwd`).
fn refuse_symlinked_parent(dest: &Path, relative: &Path, shown: &str) -> Result<(), ArchiveError> {
    let mut current = dest.to_path_buf();
    let parents: Vec<_> = relative.components().collect();
    for component in parents.iter().take(parents.len().saturating_sub(1)) {
        current.push(component);
        if std::fs::symlink_metadata(&current).is_ok_and(|meta| meta.file_type().is_symlink()) {
            return Err(ArchiveError::LinkEscapes(shown.to_owned()));
        }
    }
    Ok(())
}
