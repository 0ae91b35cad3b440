//! Atomic file writes: the bytes go to a temporary file beside the target, then a rename.
//!
//! The temporary name is unique per process and per call, so concurrent writers of one path
//! (the workers of `--jobs N`, Slurm shards on a shared file system, threads) never rename each
//! other's temporary file away: each rename succeeds and the last one wins whole.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::DataError;

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A fresh temporary path in `path`'s directory: `.{file name}.{pid}-{n}.tmp`.
///
/// It is hidden and ends in `.tmp`, so a listing of `*.json` parts or `*.jpg` images never takes
/// a temporary file (a killed writer's leftover included) for a finished one.
pub fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{}-{n}.tmp", std::process::id()))
}

/// Creates `path`'s directory if needed and returns a fresh temporary path in it (removing a
/// leftover of a killed process that had the same id, so writers that refuse to overwrite work).
pub fn prepare(path: &Path) -> Result<PathBuf, DataError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    }
    let tmp = tmp_path(path);
    if tmp.exists() {
        std::fs::remove_file(&tmp).map_err(|e| DataError::io(&tmp, e))?;
    }
    Ok(tmp)
}

/// Moves a finished temporary file onto `path`; removes it if the rename fails.
pub fn commit(tmp: &Path, path: &Path) -> Result<(), DataError> {
    std::fs::rename(tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(tmp);
        DataError::io(path, e)
    })
}

/// Writes `bytes` to `path` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    let tmp = prepare(path)?;
    std::fs::write(&tmp, bytes).map_err(|e| DataError::io(&tmp, e))?;
    commit(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_paths_are_unique_hidden_and_end_in_tmp() {
        let a = tmp_path(Path::new("out/run.json"));
        let b = tmp_path(Path::new("out/run.json"));
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(Path::new("out")));
        assert_eq!(a.extension().and_then(|e| e.to_str()), Some("tmp"));
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".run.json."), "{name}");
    }

    #[test]
    fn concurrent_writers_of_one_path_all_succeed_and_leave_one_whole_file() {
        let dir = std::env::temp_dir().join(format!("uncertsam-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("run.json");
        let payloads: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 1 << 16]).collect();
        std::thread::scope(|s| {
            for p in &payloads {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..50 {
                        write(path, p).expect("every concurrent write succeeds");
                    }
                });
            }
        });
        let got = std::fs::read(&path).unwrap();
        assert!(
            payloads.contains(&got),
            "the file is one writer's whole payload"
        );
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
