//! Fuzz targets of the data front door, as capped property tests: the RLE decoder, the
//! annotations parser (with every mask it yields decoded) and the image decoder, each on
//! [`fuzz_cases`] inputs (100 000 by default) mutated from valid files or drawn at random.
//! Zero panics and zero hangs (each input is small, so each case is bounded).
//!
//! `.ci/run` fixes the seed (`PROPTEST_RNG_SEED`); a longer local run:
//! `UNCERTSAM_FUZZ_CASES=2000000 cargo test -p uncertsam-data --release --test it fuzz`.
//! A failing case is saved by proptest under `tests/it/fuzz.proptest-regressions`, which is
//! committed and replayed first on every run.

use std::path::Path;

use proptest::prelude::*;
use serde_json::json;
use uncertsam_data::annotations::AnnotationsFile;
use uncertsam_data::{Mask, Rle, decode_rgb, encode_base64_counts};

/// Cases per target: `UNCERTSAM_FUZZ_CASES`, else 100 000.
pub fn fuzz_cases() -> u32 {
    std::env::var("UNCERTSAM_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: fuzz_cases(),
        // Shrinking a crash is worth a little time; a green run never shrinks.
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    }
}

/// One edit of a byte string: flip a bit, set a byte, insert, delete, or truncate.
#[derive(Clone, Debug)]
enum Edit {
    Flip(usize, u8),
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(p, b)| Edit::Flip(p, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Set(p, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Insert(p, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Truncate),
    ];
    proptest::collection::vec(edit, 1..6)
}

/// `seed` with `edits` applied (positions taken modulo the current length).
fn mutate(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for e in edits {
        let n = b.len();
        match *e {
            Edit::Flip(p, bit) if n > 0 => b[p % n] ^= 1 << bit,
            Edit::Set(p, v) if n > 0 => b[p % n] = v,
            Edit::Insert(p, v) => b.insert(p % (n + 1), v),
            Edit::Delete(p) if n > 0 => {
                b.remove(p % n);
            }
            Edit::Truncate(p) => b.truncate(p % (n + 1)),
            _ => {}
        }
    }
    b
}

fn small_mask() -> Mask {
    Mask::from_fn(12, 16, |x, y| (x > 3 && y > 2) || (x + y) % 7 == 0)
}

/// A valid `dataset.json` with three annotations, both `counts` forms.
fn seed_annotations() -> Vec<u8> {
    let m = small_mask();
    let runs = Rle::encode(&m).counts;
    serde_json::to_vec(&json!({"annotations": [
        {"id": 1, "image_id": 1, "segmentation": {"size": [12, 16], "counts": encode_base64_counts(&m)}, "area": 10},
        {"id": 2, "image_id": 1, "segmentation": {"size": [12, 16], "counts": runs}, "uncertain_iou": 0.5},
        {"id": 3, "image_id": 2, "segmentation": {"size": [12, 16], "counts": encode_base64_counts(&m)}},
    ]}))
    .expect("json")
}

fn encoded(format: image::ImageFormat) -> Vec<u8> {
    let img = image::RgbImage::from_fn(16, 12, |x, y| {
        image::Rgb([(x * 9) as u8, (y * 13) as u8, 90])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

/// Decodes every annotation that parsed; masks larger than 2^20 pixels are skipped (their
/// size, not their content, is the only thing a larger decode would test).
fn decode_all(bytes: &[u8]) {
    if let Ok((anns, _bad)) = AnnotationsFile::parse_lenient(Path::new("x.json"), bytes) {
        for a in anns {
            let [h, w] = a.segmentation.size;
            if h.saturating_mul(w) <= 1 << 20 {
                let _ = a.decode_mask(Path::new("x.json"));
            }
        }
    }
}

fn rle_inputs() -> impl Strategy<Value = (usize, usize, Vec<u8>)> {
    let valid = Rle::encode(&small_mask()).to_compressed().into_bytes();
    prop_oneof![
        (
            0usize..40,
            0usize..40,
            proptest::collection::vec(any::<u8>(), 0..48)
        ),
        edits().prop_map(move |e| (12usize, 16usize, mutate(&valid, &e))),
        (
            0usize..2000,
            0usize..2000,
            "[0-o]{0,32}".prop_map(String::into_bytes)
        ),
    ]
}

fn annotation_inputs() -> impl Strategy<Value = Vec<u8>> {
    let seed = seed_annotations();
    prop_oneof![
        4 => edits().prop_map(move |e| mutate(&seed, &e)),
        1 => proptest::collection::vec(any::<u8>(), 0..64),
        1 => "[\\[\\]{}\":,0-9a-z ]{0,64}".prop_map(String::into_bytes),
    ]
}

fn image_inputs() -> impl Strategy<Value = Vec<u8>> {
    let jpeg = encoded(image::ImageFormat::Jpeg);
    let png = encoded(image::ImageFormat::Png);
    prop_oneof![
        3 => edits().prop_map(move |e| mutate(&jpeg, &e)),
        3 => edits().prop_map(move |e| mutate(&png, &e)),
        1 => proptest::collection::vec(any::<u8>(), 0..64),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_rle_decoder((h, w, bytes) in rle_inputs()) {
        if let Ok(rle) = Rle::from_compressed(h, w, &bytes)
            && let Ok(mask) = rle.decode()
        {
            prop_assert_eq!(mask.area(), rle.area());
            prop_assert_eq!((mask.height(), mask.width()), (h, w));
        }
    }

    #[test]
    fn fuzz_annotations_parser(bytes in annotation_inputs()) {
        decode_all(&bytes);
    }

    #[test]
    fn fuzz_image_decoder(bytes in image_inputs()) {
        if let Ok(img) = decode_rgb(Path::new("x.jpg"), &bytes) {
            prop_assert_eq!(img.as_raw().len(), img.width() as usize * img.height() as usize * 3);
        }
    }
}
