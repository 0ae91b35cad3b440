//! The plain folder layout for a user's own data: `images/<name>.(jpg|jpeg|png)` and binary
//! masks `masks/<name>.png` (one mask, id 0) or `masks/<name>_<k>.png` (instance `k`).
//!
//! A mask stem is first matched exactly against the image names; only if no image has that
//! name is a trailing `_<digits>` split off as the instance id. A mask that matches no image is
//! not dropped: it comes after the images as a sample that fails naming it
//! ([`DataError::OrphanMask`]). See `docs/data-format.md`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::error::DataError;
use crate::loader::file_stem;
use crate::sample::{InstanceMask, Sample, read_mask_png, read_rgb};
use crate::source::SampleSource;

/// A dataset in the folder layout.
#[derive(Debug)]
pub struct FolderDataset {
    dataset: String,
    root: PathBuf,
    images: Vec<(String, PathBuf, Option<PathBuf>)>,
    masks: HashMap<String, BTreeMap<u64, PathBuf>>,
    orphans: Vec<PathBuf>,
}

impl FolderDataset {
    /// Opens `root`; the dataset name is the directory's name.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, DataError> {
        let root = root.into();
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "folder".to_owned());
        Self::open_named(root, &name)
    }

    /// Opens `root` under an explicit dataset name (used in seeds and reports).
    pub fn open_named(root: impl Into<PathBuf>, dataset: &str) -> Result<Self, DataError> {
        let root = root.into();
        let mut images: Vec<(String, PathBuf, Option<PathBuf>)> = Vec::new();
        for path in list(&root.join("images"))? {
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            if matches!(ext.as_deref(), Some("jpg" | "jpeg" | "png")) {
                images.push((file_stem(&path), path, None));
            }
        }
        images.sort();
        // Mark later files with an already-seen name (e.g. a.jpg and a.png) as duplicates.
        for i in 1..images.len() {
            if images[i].0 == images[i - 1].0 {
                let first = images[i - 1]
                    .2
                    .clone()
                    .unwrap_or_else(|| images[i - 1].1.clone());
                images[i].2 = Some(first);
            }
        }
        let names: HashMap<&str, ()> = images.iter().map(|(n, _, _)| (n.as_str(), ())).collect();
        let mut masks: HashMap<String, BTreeMap<u64, PathBuf>> = HashMap::new();
        let mut orphans = Vec::new();
        for path in list(&root.join("masks"))? {
            if path.extension().and_then(|e| e.to_str()) != Some("png") {
                continue;
            }
            let stem = file_stem(&path);
            let owner = if names.contains_key(stem.as_str()) {
                Some((stem.clone(), 0))
            } else {
                stem.rsplit_once('_').and_then(|(name, k)| {
                    let digits = !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit());
                    let id = k.parse::<u64>().ok().filter(|_| digits)?;
                    names.contains_key(name).then(|| (name.to_owned(), id))
                })
            };
            match owner {
                Some((name, id)) => {
                    masks.entry(name).or_default().insert(id, path);
                }
                None => orphans.push(path),
            }
        }
        orphans.sort();
        Ok(Self {
            dataset: dataset.to_owned(),
            root,
            images,
            masks,
            orphans,
        })
    }

    /// The dataset directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn list(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    if !dir.is_dir() {
        return Err(DataError::MissingDir {
            path: dir.to_path_buf(),
        });
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        out.push(entry.map_err(|e| DataError::io(dir, e))?.path());
    }
    Ok(out)
}

impl SampleSource for FolderDataset {
    fn dataset(&self) -> &str {
        &self.dataset
    }

    fn len(&self) -> usize {
        self.images.len() + self.orphans.len()
    }

    fn get(&self, index: usize) -> Result<Sample, DataError> {
        let Some((name, path, duplicate_of)) = self.images.get(index) else {
            if let Some(mask) = self.orphans.get(index - self.images.len()) {
                return Err(DataError::OrphanMask {
                    path: mask.clone(),
                    images_dir: self.root.join("images"),
                    name: file_stem(mask),
                });
            }
            return Err(DataError::IndexOutOfRange {
                index,
                len: self.len(),
                path: self.root.clone(),
            });
        };
        if let Some(other) = duplicate_of {
            return Err(DataError::DuplicateImage {
                path: path.clone(),
                other: other.clone(),
            });
        }
        let image = read_rgb(path)?;
        let (ih, iw) = (image.height() as usize, image.width() as usize);
        let mut masks = Vec::new();
        for (&id, mask_path) in self.masks.get(name).into_iter().flatten() {
            let mask = read_mask_png(mask_path)?;
            if (mask.height(), mask.width()) != (ih, iw) {
                return Err(DataError::MaskSize {
                    mask: mask_path.display().to_string(),
                    mask_height: mask.height(),
                    mask_width: mask.width(),
                    image: path.clone(),
                    image_height: ih,
                    image_width: iw,
                });
            }
            if !mask.is_empty() {
                masks.push(InstanceMask {
                    id,
                    mask,
                    uncertain_iou: None,
                });
            }
        }
        if masks.is_empty() {
            return Err(DataError::NoMasks {
                path: path.clone(),
                source_of_masks: format!("{}/{name}[_<k>].png", self.root.join("masks").display()),
            });
        }
        Ok(Sample {
            dataset: self.dataset.clone(),
            image_id: index as u64,
            name: name.clone(),
            image_path: path.clone(),
            image,
            masks,
        })
    }

    fn image_id(&self, index: usize) -> Option<u64> {
        (index < self.images.len()).then_some(index as u64)
    }

    fn masks_requested(&self, index: usize) -> Option<usize> {
        match self.images.get(index) {
            Some((_, _, Some(_))) => Some(0),
            Some((name, _, None)) => Some(self.masks.get(name).map_or(0, BTreeMap::len)),
            None => (index < self.len()).then_some(1),
        }
    }
}
