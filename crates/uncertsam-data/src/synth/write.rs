//! Writing one split in the UncertSAM layout, every file atomically (temporary file + rename).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use image::RgbImage;

use crate::annotations::{Annotation, AnnotationsFile, Counts, Segmentation};
use crate::error::DataError;
use crate::mask::Mask;
use crate::rle::encode_base64_counts;

/// Mask ids are `image_id * MASK_ID_STRIDE + k`, unique in a split and order-independent.
const MASK_ID_STRIDE: u64 = 100;

/// Encodes an image as baseline JPEG at `quality` (deterministic for a given `image` version).
pub(crate) fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>, image::ImageError> {
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, quality).encode_image(image)?;
    Ok(jpeg)
}

pub(crate) struct SplitWriter {
    images_dir: PathBuf,
    annotations_path: PathBuf,
    annotations: Vec<Annotation>,
    written: HashSet<PathBuf>,
}

impl SplitWriter {
    pub(crate) fn create(dir: &Path) -> Result<Self, DataError> {
        let images_dir = dir.join("images");
        std::fs::create_dir_all(&images_dir).map_err(|e| DataError::io(&images_dir, e))?;
        Ok(Self {
            images_dir,
            annotations_path: dir.join("annotations").join("dataset.json"),
            annotations: Vec::new(),
            written: HashSet::new(),
        })
    }

    pub(crate) fn add(
        &mut self,
        image_id: u64,
        jpeg: &[u8],
        masks: &[Mask],
    ) -> Result<(), DataError> {
        let path = self.images_dir.join(format!("{image_id:08}.jpg"));
        crate::atomic::write(&path, jpeg)?;
        self.written.insert(path);
        for (k, mask) in masks.iter().enumerate() {
            self.annotations.push(Annotation {
                id: image_id * MASK_ID_STRIDE + k as u64,
                image_id,
                segmentation: Segmentation {
                    size: [mask.height(), mask.width()],
                    counts: Counts::Base64(encode_base64_counts(mask)),
                },
                area: Some(mask.area() as f64),
                uncertain_iou: None,
            });
        }
        Ok(())
    }

    /// Writes `dataset.json`, removes stale images, and returns (images, masks).
    pub(crate) fn finish(self) -> Result<(usize, usize), DataError> {
        let file = AnnotationsFile {
            annotations: self.annotations,
        };
        let json = serde_json::to_vec(&file)
            .map_err(|e| DataError::io(&self.annotations_path, e.into()))?;
        crate::atomic::write(&self.annotations_path, &json)?;
        let dir = &self.images_dir;
        for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
            let path = entry.map_err(|e| DataError::io(dir, e))?.path();
            if path.extension().is_some_and(|e| e == "jpg") && !self.written.contains(&path) {
                std::fs::remove_file(&path).map_err(|e| DataError::io(&path, e))?;
            }
        }
        Ok((self.written.len(), file.annotations.len()))
    }
}
