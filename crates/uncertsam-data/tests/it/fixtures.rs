//! Bit-exact checks against the pycocotools and torchvision fixtures of
//! `fixtures/data/make_rle_fixtures.py`.

use base64::Engine as _;
use serde::Deserialize;
use uncertsam_data::{Mask, Rle, SampleSource, UncertSamSplit, prompts, resize};

use crate::fixtures_dir;

#[derive(Deserialize)]
struct Cases<T> {
    cases: Vec<T>,
}

#[derive(Deserialize)]
struct RleCase {
    name: String,
    height: usize,
    width: usize,
    counts: String,
    area: u64,
    bbox: [f64; 4],
    mask_bits: Option<String>,
}

#[derive(Deserialize)]
struct ResizeCase {
    name: String,
    height: usize,
    width: usize,
    size: usize,
    mask_bits: String,
    resized_bits: String,
}

fn read<T: serde::de::DeserializeOwned>(file: &str) -> Vec<T> {
    let bytes = std::fs::read(fixtures_dir().join(file)).expect("fixture file should exist");
    serde_json::from_slice::<Cases<T>>(&bytes)
        .expect("fixture should parse")
        .cases
}

/// Unpacks `numpy.packbits` (MSB first) of a row-major mask.
fn unpack(height: usize, width: usize, b64: &str) -> Mask {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("valid base64");
    Mask::from_fn(height, width, |x, y| {
        let i = y * width + x;
        bytes[i / 8] >> (7 - i % 8) & 1 == 1
    })
}

#[test]
fn pycocotools_strings_decode_and_encode_bit_exactly() {
    let cases: Vec<RleCase> = read("rle_cases.json");
    assert!(cases.len() > 50, "too few cases: {}", cases.len());
    for case in cases {
        let rle = Rle::from_compressed(case.height, case.width, case.counts.as_bytes())
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let decoded = rle
            .decode()
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(rle.area(), case.area, "{}: area", case.name);
        assert_eq!(decoded.area(), case.area, "{}: decoded area", case.name);
        if let Some(bits) = &case.mask_bits {
            let expected = unpack(case.height, case.width, bits);
            assert!(decoded == expected, "{}: decoded mask differs", case.name);
        }
        let encoded = Rle::encode(&decoded).to_compressed();
        assert_eq!(
            encoded, case.counts,
            "{}: encoded string differs",
            case.name
        );
        // pycocotools' toBbox is [x, y, w, h] with w = x_max - x_min + 1 (0s when empty).
        let expected_box = (case.area > 0).then(|| {
            let [x, y, w, h] = case.bbox.map(|v| v as f32);
            [x, y, x + w - 1.0, y + h - 1.0]
        });
        assert_eq!(
            prompts::tight_box(&decoded),
            expected_box,
            "{}: box",
            case.name
        );
    }
}

#[test]
fn square_resize_matches_torchvision() {
    for case in read::<ResizeCase>("resize_cases.json") {
        let mask = unpack(case.height, case.width, &case.mask_bits);
        let expected = unpack(case.size, case.size, &case.resized_bits);
        let got = resize::resize_square(&mask, case.size);
        let differing = got
            .data()
            .iter()
            .zip(expected.data())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(differing, 0, "{}: {differing} pixels differ", case.name);
    }
}

#[test]
fn the_pycocotools_layout_loads_in_id_order_and_skips_empty_masks() {
    let split = UncertSamSplit::open(fixtures_dir().join("layout"), "Tiny", "test")
        .expect("tiny layout should open");
    assert_eq!(split.len(), 2, "README.txt must not be listed");
    assert_eq!(split.image_ids().collect::<Vec<_>>(), vec![3, 10]);
    assert_eq!(split.annotation_count(), 6);
    let samples: Vec<_> = split
        .samples()
        .collect::<Result<_, _>>()
        .expect("all samples load");
    assert_eq!(
        samples[0].masks.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![103, 104]
    );
    assert_eq!(
        samples[1].masks.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![100, 101]
    );
    assert_eq!(
        (samples[0].image.width(), samples[0].image.height()),
        (30, 40)
    );
    assert_eq!(samples[1].masks[1].uncertain_iou, Some(0.6));
    assert_eq!(split.eval_scale(), 1.0);
}
