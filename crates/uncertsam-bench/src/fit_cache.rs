//! Posteriors a run fits itself (Laplace for a model without embedded fits) live in
//! `<out>/fitted/<name>/` beside `fit-key.json`, the inputs that determine them: the first
//! process that needs one fits it and publishes the directory by a rename; the others (the
//! workers of `--jobs`, the other shards of a job array, a `--resume`) load it. A key that no
//! longer matches (another checkpoint, seed or data root) is refitted.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::args::BenchArgs;

/// The file holding the inputs of a cached fit.
pub const KEY_FILE: &str = "fit-key.json";

/// One cached fit of a run: where it lives and what it must have been fitted from.
pub struct FitCache {
    dir: PathBuf,
    key: Value,
    /// A file the fitted state always writes (it marks a finished fit).
    marker: &'static str,
}

impl FitCache {
    /// The cache of estimator `name` fitted on the first `images` clean training images.
    pub fn for_run(args: &BenchArgs, name: &str, images: usize, marker: &'static str) -> Self {
        let checkpoint = args.checkpoint.as_ref().map(|p| {
            let meta = std::fs::metadata(p).ok();
            let modified = meta
                .as_ref()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_nanos().to_string());
            json!({ "path": absolute(p), "bytes": meta.map(|m| m.len()), "modified_ns": modified })
        });
        let key = json!({
            "estimator": name,
            "model": args.model,
            "checkpoint": checkpoint,
            "random_init": args.random_init,
            "seed": args.seed,
            "data": absolute(&args.data),
            "images": images,
        });
        Self {
            dir: args.out.join("fitted").join(name),
            key,
            marker,
        }
    }

    /// The directory the fitted state is loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a finished fit with this key is there.
    pub fn is_fresh(&self) -> bool {
        self.dir.join(self.marker).exists()
            && std::fs::read(self.dir.join(KEY_FILE))
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .is_some_and(|k| k == self.key)
    }

    /// Writes a fit with `save` into a temporary directory and moves it into place. If another
    /// process published the same fit meanwhile, that one is kept (the fits are identical).
    pub fn publish(&self, save: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
        let tmp = uncertsam_data::atomic::tmp_path(&self.dir);
        std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let written = save(&tmp).and_then(|()| {
            let key = serde_json::to_vec_pretty(&self.key)?;
            std::fs::write(tmp.join(KEY_FILE), key)
                .with_context(|| format!("writing {}", tmp.join(KEY_FILE).display()))
        });
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        if self.dir.exists() && !self.is_fresh() {
            std::fs::remove_dir_all(&self.dir)
                .with_context(|| format!("removing the stale fit {}", self.dir.display()))?;
        }
        match std::fs::rename(&tmp, &self.dir) {
            Ok(()) => Ok(()),
            Err(_) if self.is_fresh() => {
                let _ = std::fs::remove_dir_all(&tmp);
                Ok(())
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                Err(e).with_context(|| format!("moving the fit into {}", self.dir.display()))
            }
        }
    }
}

fn absolute(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}
