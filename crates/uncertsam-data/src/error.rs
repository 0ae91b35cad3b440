//! The crate's error types: `DataError` for anything tied to a file, `RleError` for the codec.

use std::path::PathBuf;

/// Why a COCO compressed-RLE string or a run-length list is invalid.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RleError {
    /// A byte outside the RLE alphabet (ASCII 48..=111).
    #[error(
        "byte {byte:#04x} at offset {offset} is not an RLE character (expected ASCII 48..=111)"
    )]
    InvalidChar {
        /// Offset of the byte in the string.
        offset: usize,
        /// The offending byte.
        byte: u8,
    },
    /// The string ends in the middle of a count (last character has the continuation bit).
    #[error("the string ends inside a count that starts at offset {offset}")]
    Truncated {
        /// Offset where the unfinished count starts.
        offset: usize,
    },
    /// A count does not fit in 32 bits, or is negative after undoing the delta rule.
    #[error("count {index} (value {value}) is outside 0..=u32::MAX")]
    CountOutOfRange {
        /// Index of the run.
        index: usize,
        /// The decoded value.
        value: i128,
    },
    /// The mask is larger than [`crate::rle::MAX_PIXELS`].
    #[error("mask size {height}x{width} exceeds the decoder's limit of 2^30 pixels")]
    TooLarge {
        /// Mask height.
        height: usize,
        /// Mask width.
        width: usize,
    },
    /// The runs do not cover exactly `height * width` pixels.
    #[error("runs cover {covered} pixels but the mask has {expected} ({height}x{width})")]
    WrongLength {
        /// Sum of all runs.
        covered: u64,
        /// `height * width`.
        expected: u64,
        /// Mask height.
        height: usize,
        /// Mask width.
        width: usize,
    },
}

/// Everything that can go wrong reading, writing or generating data.
///
/// Messages name the file and what is wrong with it, so a benchmark can log them as they are.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
// The causes (`cause` fields) are part of each message and deliberately not `source()`s: an
// error printed with its chain (anyhow's `{:#}`) would otherwise show each cause twice.
pub enum DataError {
    /// An I/O operation on a path failed.
    #[error("{path}: {cause}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        cause: std::io::Error,
    },
    /// A required directory does not exist.
    #[error("directory {path} does not exist")]
    MissingDir {
        /// The missing directory.
        path: PathBuf,
    },
    /// The split has no `annotations/dataset.json`.
    #[error("annotations file {path} does not exist")]
    MissingAnnotations {
        /// The expected annotations file.
        path: PathBuf,
    },
    /// The annotations file is not valid JSON of the expected shape.
    #[error("annotations file {path} is not valid dataset JSON: {cause}")]
    Json {
        /// The annotations file.
        path: PathBuf,
        /// The parser's error (with line and column).
        cause: serde_json::Error,
    },
    /// An image file name whose stem is not a non-negative integer image id.
    #[error("image file {path}: file stem is not an integer image id")]
    BadImageStem {
        /// The image file.
        path: PathBuf,
    },
    /// Two image files map to the same image id or name.
    #[error("image file {path} duplicates the image id or name of {other}")]
    DuplicateImage {
        /// The second file.
        path: PathBuf,
        /// The first file with that id or name.
        other: PathBuf,
    },
    /// An image or mask file could not be decoded.
    #[error("cannot decode image {path}: {cause}")]
    Image {
        /// The image file.
        path: PathBuf,
        /// The decoder's error.
        cause: image::ImageError,
    },
    /// A JPEG file ends before its end-of-image marker.
    #[error("image {path} is truncated: no JPEG end-of-image marker")]
    TruncatedImage {
        /// The image file.
        path: PathBuf,
    },
    /// An annotation's `counts` is not valid base64.
    #[error(
        "annotations file {path}: annotation {annotation_id}: counts is not valid base64: {cause}"
    )]
    Base64 {
        /// The annotations file.
        path: PathBuf,
        /// The annotation's `id`.
        annotation_id: u64,
        /// The decoder's error.
        cause: base64::DecodeError,
    },
    /// An annotation's RLE is invalid.
    #[error("annotations file {path}: annotation {annotation_id}: invalid RLE: {cause}")]
    Rle {
        /// The annotations file.
        path: PathBuf,
        /// The annotation's `id`.
        annotation_id: u64,
        /// What is wrong with the RLE.
        cause: RleError,
    },
    /// A mask's size differs from its image's size.
    #[error(
        "mask {mask} is {mask_height}x{mask_width} but image {image} is {image_height}x{image_width}"
    )]
    MaskSize {
        /// The mask (annotations file and id, or mask file).
        mask: String,
        /// Mask height.
        mask_height: usize,
        /// Mask width.
        mask_width: usize,
        /// The image file.
        image: PathBuf,
        /// Image height.
        image_height: usize,
        /// Image width.
        image_width: usize,
    },
    /// An image has no usable mask (none listed, or all with area <= 0).
    #[error("image {path} has no mask with area > 0 (looked in {source_of_masks})")]
    NoMasks {
        /// The image file.
        path: PathBuf,
        /// Where masks were looked for.
        source_of_masks: String,
    },
    /// An annotation of the annotations file does not parse (a missing field, a wrong type);
    /// the file's other annotations still load.
    #[error("annotations file {path}: annotation #{index}{}: {reason}", describe_ids(*.annotation_id, *.image_id))]
    BadAnnotation {
        /// The annotations file.
        path: PathBuf,
        /// Position in the `annotations` array (0-based).
        index: usize,
        /// Its `id`, when readable.
        annotation_id: Option<u64>,
        /// Its `image_id`, when readable.
        image_id: Option<u64>,
        /// The parser's message.
        reason: String,
    },
    /// Annotations name an image whose file does not exist.
    #[error(
        "image {image_id} has {annotations} annotation(s) in {annotations_path} but no image file (expected {path})"
    )]
    MissingImage {
        /// The image file the layout expects (`images/<id:08>.jpg`).
        path: PathBuf,
        /// The image id.
        image_id: u64,
        /// How many annotations name it.
        annotations: usize,
        /// The annotations file.
        annotations_path: PathBuf,
    },
    /// A mask file of the folder layout whose image does not exist.
    #[error(
        "mask {path} names no image: expected {images_dir}/{name}.(jpg|jpeg|png) (or, for an instance mask `<name>_<k>.png`, the image `<name>`)"
    )]
    OrphanMask {
        /// The mask file.
        path: PathBuf,
        /// The images directory searched.
        images_dir: PathBuf,
        /// The mask's stem, the image name it would belong to.
        name: String,
    },
    /// A sample index past the end of the split.
    #[error("sample index {index} is out of range for {path} ({len} samples)")]
    IndexOutOfRange {
        /// The requested index.
        index: usize,
        /// Number of samples.
        len: usize,
        /// The split directory.
        path: PathBuf,
    },
    /// An invalid synthetic-benchmark configuration.
    #[error("invalid synthetic benchmark config: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
}

fn describe_ids(annotation_id: Option<u64>, image_id: Option<u64>) -> String {
    match (annotation_id, image_id) {
        (Some(a), Some(i)) => format!(" (id {a}, image {i})"),
        (Some(a), None) => format!(" (id {a})"),
        (None, Some(i)) => format!(" (image {i})"),
        (None, None) => String::new(),
    }
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            cause: source,
        }
    }
}
