//! The images the page lists: every `<root>/<dataset>/<split>/` in the UncertSAM layout, or
//! the root itself as one dataset in the folder layout (`images/` + `masks/`), shown as
//! dataset `folder`, split `all`. An image is named by its [`ImageRef`] id
//! `data:<dataset>/<split>/<index>`.

use std::path::{Path, PathBuf};

use serde::Serialize;
use uncertsam_data::{FolderDataset, Sample, SampleSource, UncertSamSplit};

use super::messages::ApiError;

/// Dataset name under which a folder-layout root is listed.
const FOLDER: &str = "folder";

/// One dataset with its splits and their sizes.
#[derive(Clone, Debug, Serialize)]
pub struct DatasetEntry {
    /// Dataset name.
    pub name: String,
    /// Its splits.
    pub splits: Vec<SplitEntry>,
}

/// One split and its number of images.
#[derive(Clone, Debug, Serialize)]
pub struct SplitEntry {
    /// Split name (`train`, `val`, `test`; `all` in the folder layout).
    pub name: String,
    /// Number of images.
    pub images: usize,
}

/// The datasets under the data root, read at start.
#[derive(Clone, Debug)]
pub struct Catalog {
    /// The data root.
    pub root: PathBuf,
    /// Its datasets, in name order (`Synth-Clean` first).
    pub datasets: Vec<DatasetEntry>,
}

impl Catalog {
    /// Lists `root` (empty when it does not exist).
    pub fn open(root: &Path) -> Self {
        let mut datasets = Vec::new();
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        dirs.sort();
        dirs.sort_by_key(|d| !d.ends_with("Synth-Clean"));
        for dir in dirs.iter().filter(|d| d.is_dir()) {
            let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let splits: Vec<SplitEntry> = ["train", "val", "test"]
                .iter()
                .filter_map(|split| {
                    let s = UncertSamSplit::open(root, name, split).ok()?;
                    Some(SplitEntry {
                        name: split.to_string(),
                        images: s.len(),
                    })
                })
                .collect();
            if !splits.is_empty() {
                datasets.push(DatasetEntry {
                    name: name.to_string(),
                    splits,
                });
            }
        }
        if datasets.is_empty()
            && let Ok(folder) = FolderDataset::open(root)
        {
            datasets.push(DatasetEntry {
                name: FOLDER.into(),
                splits: vec![SplitEntry {
                    name: "all".into(),
                    images: folder.len(),
                }],
            });
        }
        Self {
            root: root.to_path_buf(),
            datasets,
        }
    }
}

/// A dataset image: `data:<dataset>/<split>/<index>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// Dataset name.
    pub dataset: String,
    /// Split name.
    pub split: String,
    /// 0-based index in the split.
    pub index: usize,
}

impl ImageRef {
    /// The id of this image.
    pub fn id(&self) -> String {
        format!("data:{}/{}/{}", self.dataset, self.split, self.index)
    }

    /// Parses an id; a 404 for anything else.
    pub fn parse(id: &str) -> Result<Self, ApiError> {
        let unknown = || ApiError::not_found(format!("no image `{id}`"));
        let rest = id.strip_prefix("data:").ok_or_else(unknown)?;
        let mut parts = rest.rsplitn(3, '/');
        let index = parts
            .next()
            .and_then(|i| i.parse().ok())
            .ok_or_else(unknown)?;
        let split = parts.next().ok_or_else(unknown)?.to_string();
        let dataset = parts.next().ok_or_else(unknown)?.to_string();
        if dataset.contains("..") || split.contains("..") || dataset.contains('/') {
            return Err(unknown());
        }
        Ok(Self {
            dataset,
            split,
            index,
        })
    }

    /// Loads the sample from `root`; a 404 when it does not exist, a 422 when it fails to load.
    pub fn load(&self, root: &Path) -> Result<Sample, ApiError> {
        let source: Box<dyn SampleSource> = if self.dataset == FOLDER && self.split == "all" {
            Box::new(FolderDataset::open(root).map_err(|e| ApiError::not_found(e.to_string()))?)
        } else {
            Box::new(
                UncertSamSplit::open(root, &self.dataset, &self.split)
                    .map_err(|e| ApiError::not_found(e.to_string()))?,
            )
        };
        if self.index >= source.len() {
            return Err(ApiError::not_found(format!("no image `{}`", self.id())));
        }
        source
            .get(self.index)
            .map_err(|e| ApiError::unprocessable(e.to_string()))
    }
}
