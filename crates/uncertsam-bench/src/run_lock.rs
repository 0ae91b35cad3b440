//! One run per run directory: an OS file lock (`flock`) on `<out>/.lock`.
//!
//! A whole run (`--shard 0/1`, including the parent of `--jobs`) holds the lock exclusively, so a
//! second run on the same `--out` fails at once naming the holder's pid. The shards of a sharded
//! run (cluster array tasks, `docs/cluster.md`) write one directory together: each holds the
//! lock shared, plus an exclusive lock of its own shard (`<out>/.lock.shard-J-of-N`), so two
//! copies of one shard, or a whole run beside any shard, are refused. The workers of `--jobs`
//! take no lock of their own: their parent's covers them, and they die with it
//! ([`crate::parent_death`]). The kernel drops a lock when its holder exits, however it exits,
//! so a killed run never leaves a stale lock; the pid written in the file only names the holder.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::args::{BenchArgs, parse_shard};

/// The file whose lock guards a run directory.
pub const LOCK_FILE: &str = ".lock";

/// Held for the whole run; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    _files: Vec<File>,
}

/// Locks `args.out` for this run (creating it), or fails naming the run that holds it.
pub fn acquire(args: &BenchArgs) -> Result<RunLock> {
    if std::env::var_os(crate::parent_death::PARENT_PID_ENV).is_some() {
        // A worker of `--jobs`: the parent holds the lock for the whole run.
        return Ok(RunLock { _files: Vec::new() });
    }
    let (shard, shards) = parse_shard(&args.shard).map_err(anyhow::Error::msg)?;
    lock_dir(&args.out, (shards > 1).then_some((shard, shards)))
}

/// Locks `out`: exclusively for a whole run (`shard` None), else shared plus the shard's own
/// exclusive lock.
pub fn lock_dir(out: &Path, shard: Option<(usize, usize)>) -> Result<RunLock> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let main = open(&out.join(LOCK_FILE))?;
    let Some((j, n)) = shard else {
        try_lock(&main, false, out, "")?;
        write_pid(&main, &out.join(LOCK_FILE))?;
        return Ok(RunLock { _files: vec![main] });
    };
    try_lock(&main, true, out, "")?;
    let path = shard_lock_path(out, j, n);
    let own = open(&path)?;
    try_lock(&own, false, out, &format!(" shard {j}/{n}"))?;
    write_pid(&own, &path)?;
    Ok(RunLock {
        _files: vec![main, own],
    })
}

fn shard_lock_path(out: &Path, j: usize, n: usize) -> PathBuf {
    out.join(format!("{LOCK_FILE}.shard-{j}-of-{n}"))
}

fn open(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("opening the run lock {}", path.display()))
}

fn try_lock(file: &File, shared: bool, out: &Path, what: &str) -> Result<()> {
    let result = if shared {
        file.try_lock_shared()
    } else {
        file.try_lock()
    };
    match result {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => bail!(
            "{}{what} is in use by another uncertsam run ({}); wait for it to finish, or choose \
             another --out",
            out.display(),
            holders(out)
        ),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking the run directory {}", out.display()))
        }
    }
}

fn write_pid(file: &File, path: &Path) -> Result<()> {
    let mut f = file;
    file.set_len(0)
        .and_then(|()| writeln!(f, "{}", std::process::id()))
        .with_context(|| format!("writing the holder's pid into {}", path.display()))
}

/// Who holds `out` now: the pids in the held shard lock files, else the pid in `.lock`
/// (shards hold `.lock` shared and write their pid only in their own file).
fn holders(out: &Path) -> String {
    let mut shard_files: Vec<PathBuf> = std::fs::read_dir(out)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{LOCK_FILE}.shard-")))
        })
        .collect();
    shard_files.sort();
    let mut pids: Vec<String> = shard_files.iter().filter_map(|p| held_pid(p)).collect();
    if pids.is_empty() {
        pids.extend(held_pid(&out.join(LOCK_FILE)));
    }
    match pids.as_slice() {
        [] => "its pid is not recorded yet".into(),
        [one] => format!("pid {one}"),
        many => format!("pids {}", many.join(", ")),
    }
}

/// The pid written in `path` when its lock is held by someone now.
fn held_pid(path: &Path) -> Option<String> {
    let file = File::open(path).ok()?;
    // Locking a fresh descriptor conflicts with any holder (also in this process); when it
    // succeeds nobody holds the file and the lock is dropped again with `file`.
    if !matches!(file.try_lock(), Err(TryLockError::WouldBlock)) {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let pid = text.trim();
    (!pid.is_empty()).then(|| pid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_whole_run_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_dir(dir.path(), None).unwrap();
        let err = format!("{:#}", lock_dir(dir.path(), None).unwrap_err());
        assert!(err.contains("in use by another uncertsam run"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        lock_dir(dir.path(), None).expect("free again once the holder is gone");
    }

    #[test]
    fn shards_share_the_directory_but_not_a_shard_or_a_whole_run() {
        let dir = tempfile::tempdir().unwrap();
        let a = lock_dir(dir.path(), Some((0, 2))).unwrap();
        let b = lock_dir(dir.path(), Some((1, 2))).expect("another shard may run beside it");
        let again = format!("{:#}", lock_dir(dir.path(), Some((1, 2))).unwrap_err());
        assert!(again.contains("shard 1/2 is in use"), "{again}");
        let whole = format!("{:#}", lock_dir(dir.path(), None).unwrap_err());
        assert!(whole.contains("in use by another uncertsam run"), "{whole}");
        drop((a, b));
        let _whole = lock_dir(dir.path(), None).unwrap();
        let shard = format!("{:#}", lock_dir(dir.path(), Some((0, 2))).unwrap_err());
        assert!(shard.contains("in use"), "{shard}");
    }
}
