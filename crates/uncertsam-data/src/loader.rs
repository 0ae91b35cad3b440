//! The UncertSAM layout: `<root>/<Dataset>/<split>/images/<id:08d>.jpg` plus
//! `<root>/<Dataset>/<split>/annotations/dataset.json`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::annotations::{Annotation, AnnotationsFile, BadAnnotation};
use crate::error::DataError;
use crate::sample::{InstanceMask, Sample, read_rgb};
use crate::source::SampleSource;

/// One split of one dataset in the UncertSAM layout.
///
/// Opening lists the images (only `*.jpg`, sorted by the integer id in the file stem) and
/// indexes the annotations by image id; masks stay RLE-encoded until a sample is loaded.
///
/// Nothing is dropped silently: after the images come error entries, each a sample that fails
/// with its reason: image files with a bad stem or a duplicate id, image ids that annotations
/// name but that have no file ([`DataError::MissingImage`]), and annotations that do not parse
/// ([`DataError::BadAnnotation`]).
#[derive(Debug)]
pub struct UncertSamSplit {
    dataset: String,
    dir: PathBuf,
    annotations_path: PathBuf,
    entries: Vec<Entry>,
    by_image: HashMap<u64, Vec<Annotation>>,
}

#[derive(Debug)]
enum Entry {
    Image { id: u64, path: PathBuf },
    BadStem(PathBuf),
    Duplicate { path: PathBuf, other: PathBuf },
    MissingImage { id: u64, annotations: usize },
    BadAnnotation(BadAnnotation),
}

impl UncertSamSplit {
    /// Opens `<root>/<dataset>/<split>`.
    pub fn open(root: impl AsRef<Path>, dataset: &str, split: &str) -> Result<Self, DataError> {
        Self::open_dir(root.as_ref().join(dataset).join(split), dataset)
    }

    /// Opens a split directory (the one holding `images/` and `annotations/`) directly.
    pub fn open_dir(dir: impl Into<PathBuf>, dataset: &str) -> Result<Self, DataError> {
        let dir = dir.into();
        let images_dir = dir.join("images");
        if !images_dir.is_dir() {
            return Err(DataError::MissingDir { path: images_dir });
        }
        let annotations_path = dir.join("annotations").join("dataset.json");
        let (annotations, bad) = AnnotationsFile::read_lenient(&annotations_path)?;
        let mut by_image: HashMap<u64, Vec<Annotation>> = HashMap::new();
        for ann in annotations {
            by_image.entry(ann.image_id).or_default().push(ann);
        }
        let mut entries = list_images(&images_dir)?;
        let present: std::collections::HashSet<u64> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Image { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        let mut missing: Vec<(u64, usize)> = by_image
            .iter()
            .filter(|(id, _)| !present.contains(id))
            .map(|(id, anns)| (*id, anns.len()))
            .collect();
        missing.sort_unstable();
        entries.extend(
            missing
                .into_iter()
                .map(|(id, annotations)| Entry::MissingImage { id, annotations }),
        );
        entries.extend(bad.into_iter().map(Entry::BadAnnotation));
        Ok(Self {
            dataset: dataset.to_owned(),
            entries,
            dir,
            annotations_path,
            by_image,
        })
    }

    /// The split directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Image ids in iteration order (files whose stem is not an id are left out).
    pub fn image_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.entries.iter().filter_map(|e| match e {
            Entry::Image { id, .. } => Some(*id),
            _ => None,
        })
    }

    /// Number of annotations in the file, including skipped ones and ones that do not parse.
    pub fn annotation_count(&self) -> usize {
        let bad = self
            .entries
            .iter()
            .filter(|e| matches!(e, Entry::BadAnnotation(_)))
            .count();
        self.by_image.values().map(Vec::len).sum::<usize>() + bad
    }

    fn load(&self, id: u64, path: &Path) -> Result<Sample, DataError> {
        let image = read_rgb(path)?;
        let (ih, iw) = (image.height() as usize, image.width() as usize);
        let mut masks = Vec::new();
        for ann in self.by_image.get(&id).into_iter().flatten() {
            if ann.area.is_some_and(|a| a <= 0.0) {
                continue;
            }
            let [mh, mw] = ann.segmentation.size;
            if (mh, mw) != (ih, iw) {
                return Err(DataError::MaskSize {
                    mask: format!(
                        "annotation {} in {}",
                        ann.id,
                        self.annotations_path.display()
                    ),
                    mask_height: mh,
                    mask_width: mw,
                    image: path.to_path_buf(),
                    image_height: ih,
                    image_width: iw,
                });
            }
            let mask = ann.decode_mask(&self.annotations_path)?;
            if ann.area.is_none() && mask.is_empty() {
                continue;
            }
            masks.push(InstanceMask {
                id: ann.id,
                mask,
                uncertain_iou: ann.uncertain_iou,
            });
        }
        if masks.is_empty() {
            return Err(DataError::NoMasks {
                path: path.to_path_buf(),
                source_of_masks: self.annotations_path.display().to_string(),
            });
        }
        Ok(Sample {
            dataset: self.dataset.clone(),
            image_id: id,
            name: file_stem(path),
            image_path: path.to_path_buf(),
            image,
            masks,
        })
    }
}

impl SampleSource for UncertSamSplit {
    fn dataset(&self) -> &str {
        &self.dataset
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn get(&self, index: usize) -> Result<Sample, DataError> {
        match self.entries.get(index) {
            None => Err(DataError::IndexOutOfRange {
                index,
                len: self.entries.len(),
                path: self.dir.clone(),
            }),
            Some(Entry::BadStem(path)) => Err(DataError::BadImageStem { path: path.clone() }),
            Some(Entry::Duplicate { path, other }) => Err(DataError::DuplicateImage {
                path: path.clone(),
                other: other.clone(),
            }),
            Some(Entry::Image { id, path }) => self.load(*id, path),
            Some(Entry::MissingImage { id, annotations }) => Err(DataError::MissingImage {
                path: self.dir.join("images").join(format!("{id:08}.jpg")),
                image_id: *id,
                annotations: *annotations,
                annotations_path: self.annotations_path.clone(),
            }),
            Some(Entry::BadAnnotation(b)) => Err(DataError::BadAnnotation {
                path: self.annotations_path.clone(),
                index: b.index,
                annotation_id: b.id,
                image_id: b.image_id,
                reason: b.reason.clone(),
            }),
        }
    }

    fn image_id(&self, index: usize) -> Option<u64> {
        match self.entries.get(index)? {
            Entry::Image { id, .. } | Entry::MissingImage { id, .. } => Some(*id),
            Entry::BadAnnotation(b) => b.image_id,
            Entry::BadStem(_) => None,
            Entry::Duplicate { path, .. } => file_stem(path).parse().ok(),
        }
    }

    fn masks_requested(&self, index: usize) -> Option<usize> {
        Some(match self.entries.get(index)? {
            Entry::Image { id, .. } => self.by_image.get(id).map_or(0, Vec::len),
            Entry::MissingImage { annotations, .. } => *annotations,
            Entry::BadAnnotation(_) => 1,
            // Their annotations are counted with the file that holds the id.
            Entry::BadStem(_) | Entry::Duplicate { .. } => 0,
        })
    }
}

pub(crate) fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Lists `*.jpg` (case-sensitive, like the original glob) sorted by id; files whose stem is not
/// an id, and later duplicates of an id, come last as error entries.
fn list_images(dir: &Path) -> Result<Vec<Entry>, DataError> {
    let mut good: Vec<(u64, PathBuf)> = Vec::new();
    let mut bad = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("jpg") {
            continue;
        }
        match file_stem(&path).parse::<u64>() {
            Ok(id) => good.push((id, path)),
            Err(_) => bad.push(Entry::BadStem(path)),
        }
    }
    good.sort();
    bad.sort_by_key(|e| match e {
        Entry::BadStem(p) => p.clone(),
        _ => PathBuf::new(),
    });
    let mut entries: Vec<Entry> = Vec::with_capacity(good.len() + bad.len());
    let mut duplicates = Vec::new();
    for (id, path) in good {
        match entries.last() {
            Some(Entry::Image {
                id: prev,
                path: other,
            }) if *prev == id => {
                duplicates.push(Entry::Duplicate {
                    path,
                    other: other.clone(),
                });
            }
            _ => entries.push(Entry::Image { id, path }),
        }
    }
    entries.extend(duplicates);
    entries.extend(bad);
    Ok(entries)
}
