//! `Sample`: one decoded image with all its instance masks, and the image decoding both layouts share.

use std::path::{Path, PathBuf};

use image::RgbImage;

use crate::error::DataError;
use crate::mask::Mask;

/// One instance mask of a sample.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceMask {
    /// Annotation id (UncertSAM layout) or the `<k>` of `<name>_<k>.png` (folder layout).
    pub id: u64,
    /// The mask at the image's original resolution.
    pub mask: Mask,
    /// The annotation's optional `uncertain_iou` (the original code filters on it with a
    /// default threshold of -1, i.e. keeps everything; the benchmark may filter).
    pub uncertain_iou: Option<f64>,
}

/// One image decoded once, with all its masks.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Dataset name (the directory name).
    pub dataset: String,
    /// Image id: the numeric file stem (UncertSAM layout) or the position in name order
    /// (folder layout).
    pub image_id: u64,
    /// The image file stem.
    pub name: String,
    /// The image file.
    pub image_path: PathBuf,
    /// The image, converted to RGB.
    pub image: RgbImage,
    /// Instance masks (at least one), in annotation order.
    pub masks: Vec<InstanceMask>,
}

/// Reads and decodes an image file to RGB (like PIL's `.convert("RGB")`).
///
/// A JPEG whose last start-of-scan is not followed by an end-of-image marker is rejected as
/// truncated, because a lenient decoder may fill the missing part silently.
pub fn read_rgb(path: &Path) -> Result<RgbImage, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decode_rgb(path, &bytes)
}

/// Decodes an image file's bytes to RGB as [`read_rgb`] does; `path` is only used in errors.
pub fn decode_rgb(path: &Path, bytes: &[u8]) -> Result<RgbImage, DataError> {
    if bytes.starts_with(&[0xff, 0xd8]) && !jpeg_is_complete(bytes) {
        return Err(DataError::TruncatedImage {
            path: path.to_path_buf(),
        });
    }
    let image = image::load_from_memory(bytes).map_err(|source| DataError::Image {
        path: path.to_path_buf(),
        cause: source,
    })?;
    Ok(image.to_rgb8())
}

/// Reads a binary mask image: converted to 8-bit grayscale, any nonzero value is foreground.
pub fn read_mask_png(path: &Path) -> Result<Mask, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let image = image::load_from_memory(&bytes).map_err(|source| DataError::Image {
        path: path.to_path_buf(),
        cause: source,
    })?;
    let luma = image.to_luma8();
    let (w, h) = (luma.width() as usize, luma.height() as usize);
    Mask::from_vec(h, w, luma.into_raw()).ok_or_else(|| DataError::Image {
        path: path.to_path_buf(),
        cause: image::ImageError::Limits(image::error::LimitError::from_kind(
            image::error::LimitErrorKind::DimensionError,
        )),
    })
}

fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xff, 0xda]);
    let last_eoi = bytes.windows(2).rposition(|w| w == [0xff, 0xd9]);
    match (last_sos, last_eoi) {
        (Some(sos), Some(eoi)) => eoi > sos,
        (None, _) => true, // No scan at all: let the decoder report it.
        (Some(_), None) => false,
    }
}
