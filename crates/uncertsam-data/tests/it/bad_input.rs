//! Every kind of bad input gives a typed error that names the file, and never stops iteration.

use std::path::Path;

use base64::Engine as _;
use serde_json::json;
use uncertsam_data::{DataError, Mask, SampleSource, UncertSamSplit, encode_base64_counts};

/// A split with `n` good 16x12 images (ids 1..=n), each with one mask, returned with its dir.
fn good_split(
    n: u64,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    Vec<serde_json::Value>,
) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("Set").join("test");
    std::fs::create_dir_all(dir.join("images")).expect("mkdir");
    std::fs::create_dir_all(dir.join("annotations")).expect("mkdir");
    let mask = Mask::from_fn(12, 16, |x, y| x > 3 && y > 2);
    let mut anns = Vec::new();
    for id in 1..=n {
        write_jpeg(&dir.join("images").join(format!("{id:08}.jpg")), 16, 12);
        anns.push(ann(id * 10, id, [12, 16], &encode_base64_counts(&mask)));
    }
    write_annotations(&dir, &anns);
    (tmp, dir, anns)
}

fn ann(id: u64, image_id: u64, size: [usize; 2], counts: &str) -> serde_json::Value {
    json!({"id": id, "image_id": image_id, "segmentation": {"size": size, "counts": counts}, "area": 10})
}

fn write_jpeg(path: &Path, w: u32, h: u32) {
    let img =
        image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 9) as u8, (y * 13) as u8, 90]));
    img.save(path).expect("write jpeg");
}

fn write_annotations(dir: &Path, anns: &[serde_json::Value]) {
    let body = serde_json::to_vec(&json!({ "annotations": anns })).expect("json");
    std::fs::write(dir.join("annotations/dataset.json"), body).expect("write json");
}

fn open(dir: &Path) -> UncertSamSplit {
    UncertSamSplit::open_dir(dir, "Set").expect("split should open")
}

/// Loads every sample, asserting that exactly the image `bad_id` fails, and returns its error.
fn only_failure(split: &UncertSamSplit, expected_ok: usize) -> DataError {
    let results: Vec<_> = split.samples().collect();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, expected_ok, "the other samples must still load");
    let mut errors: Vec<DataError> = results.into_iter().filter_map(Result::err).collect();
    assert_eq!(errors.len(), 1);
    errors.remove(0)
}

/// Checks that `err` names each of `needles`, and that a chain printer (anyhow's `{:#}`, which
/// appends every `source()`) shows each cause once.
fn check_names(err: &DataError, needles: &[&str]) {
    let msg = err.to_string();
    for n in needles {
        assert!(msg.contains(n), "error {msg:?} should mention {n:?}");
    }
    let mut cause = std::error::Error::source(err);
    while let Some(c) = cause {
        assert!(
            !msg.contains(&c.to_string()),
            "the cause {c} is already in {msg:?}: a chain printer shows it twice"
        );
        cause = c.source();
    }
}

#[test]
fn a_corrupt_image_fails_alone_and_names_the_file() {
    let (_tmp, dir, _) = good_split(3);
    std::fs::write(
        dir.join("images/00000002.jpg"),
        b"\xff\xd8\xff\xe0 not really a jpeg",
    )
    .expect("write");
    let err = only_failure(&open(&dir), 2);
    assert!(
        matches!(
            err,
            DataError::Image { .. } | DataError::TruncatedImage { .. }
        ),
        "{err}"
    );
    check_names(&err, &["00000002.jpg"]);
}

#[test]
fn a_truncated_jpeg_is_an_error_naming_the_file() {
    let (_tmp, dir, _) = good_split(2);
    // Large enough that the cut falls inside the entropy-coded scan, after the headers.
    let path = dir.join("images/00000001.jpg");
    let noisy = image::RgbImage::from_fn(96, 96, |x, y| {
        image::Rgb([(x * y % 251) as u8, (x * 7) as u8, (y * 3) as u8])
    });
    let mut bytes = Vec::new();
    noisy
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Jpeg,
        )
        .expect("encode");
    std::fs::write(&path, &bytes[..bytes.len() * 4 / 5]).expect("write");
    let err = only_failure(&open(&dir), 1);
    assert!(matches!(err, DataError::TruncatedImage { .. }), "{err}");
    check_names(&err, &["00000001.jpg", "truncated"]);
}

#[test]
fn invalid_base64_counts_name_the_annotations_file_and_id() {
    let (_tmp, dir, mut anns) = good_split(2);
    anns[1]["segmentation"]["counts"] = json!("!!not base64!!");
    write_annotations(&dir, &anns);
    let err = only_failure(&open(&dir), 1);
    assert!(matches!(err, DataError::Base64 { .. }), "{err}");
    check_names(&err, &["dataset.json", "annotation 20", "base64"]);
}

#[test]
fn invalid_rle_names_the_annotations_file_and_id() {
    let (_tmp, dir, mut anns) = good_split(2);
    // Valid base64 of a string whose runs cover 5 pixels instead of 192.
    anns[0]["segmentation"]["counts"] =
        json!(base64::engine::general_purpose::STANDARD.encode("5"));
    write_annotations(&dir, &anns);
    let err = only_failure(&open(&dir), 1);
    assert!(matches!(err, DataError::Rle { .. }), "{err}");
    check_names(
        &err,
        &["dataset.json", "annotation 10", "invalid RLE", "192"],
    );
}

#[test]
fn a_mask_of_the_wrong_size_names_mask_and_image() {
    let (_tmp, dir, mut anns) = good_split(2);
    let small = Mask::from_fn(4, 4, |_, _| true);
    anns[0] = ann(10, 1, [4, 4], &encode_base64_counts(&small));
    write_annotations(&dir, &anns);
    let err = only_failure(&open(&dir), 1);
    assert!(matches!(err, DataError::MaskSize { .. }), "{err}");
    check_names(&err, &["dataset.json", "00000001.jpg", "4x4", "12x16"]);
}

#[test]
fn a_missing_annotations_file_is_an_error_naming_it() {
    let (_tmp, dir, _) = good_split(1);
    std::fs::remove_file(dir.join("annotations/dataset.json")).expect("rm");
    let err = UncertSamSplit::open_dir(&dir, "Set").expect_err("must fail");
    assert!(matches!(err, DataError::MissingAnnotations { .. }), "{err}");
    check_names(&err, &["annotations/dataset.json", "does not exist"]);
}

#[test]
fn malformed_annotations_json_names_the_file() {
    let (_tmp, dir, _) = good_split(1);
    std::fs::write(
        dir.join("annotations/dataset.json"),
        b"{\"annotations\": [ {\"id\": 1}",
    )
    .expect("write");
    let err = UncertSamSplit::open_dir(&dir, "Set").expect_err("must fail");
    assert!(matches!(err, DataError::Json { .. }), "{err}");
    check_names(&err, &["dataset.json", "line 1"]);
}

#[test]
fn a_non_integer_stem_fails_alone_and_names_the_file() {
    let (_tmp, dir, _) = good_split(2);
    write_jpeg(&dir.join("images/cat.jpg"), 16, 12);
    let split = open(&dir);
    assert_eq!(split.len(), 3);
    let err = only_failure(&split, 2);
    assert!(matches!(err, DataError::BadImageStem { .. }), "{err}");
    check_names(&err, &["cat.jpg", "integer"]);
}

#[test]
fn an_image_without_masks_fails_alone_and_names_the_file() {
    let (_tmp, dir, mut anns) = good_split(3);
    anns[2]["area"] = json!(0);
    write_annotations(&dir, &anns);
    let err = only_failure(&open(&dir), 2);
    assert!(matches!(err, DataError::NoMasks { .. }), "{err}");
    check_names(&err, &["00000003.jpg", "dataset.json"]);
}

#[test]
fn duplicate_image_ids_fail_alone_and_name_both_files() {
    let (_tmp, dir, _) = good_split(2);
    write_jpeg(&dir.join("images/2.jpg"), 16, 12);
    let err = only_failure(&open(&dir), 2);
    assert!(matches!(err, DataError::DuplicateImage { .. }), "{err}");
    check_names(&err, &["2.jpg", "00000002.jpg"]);
}

#[test]
fn a_missing_images_directory_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = UncertSamSplit::open(tmp.path(), "Nope", "test").expect_err("must fail");
    assert!(matches!(err, DataError::MissingDir { .. }), "{err}");
    check_names(&err, &["Nope/test/images"]);
}

#[test]
fn an_annotation_that_does_not_parse_costs_only_that_annotation() {
    let (_tmp, dir, mut anns) = good_split(3);
    // Image 2 gets a second, broken annotation (no segmentation); image 3 one whose image_id
    // has the wrong type. Both images still load with their good masks.
    anns.push(json!({"id": 21, "image_id": 2, "area": 5}));
    anns.push(json!({"id": 31, "image_id": "3", "segmentation": anns[2]["segmentation"]}));
    write_annotations(&dir, &anns);
    let split = open(&dir);
    assert_eq!(split.len(), 5, "3 images + 2 bad annotations");
    assert_eq!(split.annotation_count(), 5);
    let results: Vec<_> = split.samples().collect();
    for (i, r) in results.iter().take(3).enumerate() {
        let s = r.as_ref().expect("every image still loads");
        assert_eq!(s.image_id, i as u64 + 1);
        assert_eq!(s.masks.len(), 1);
    }
    let errors: Vec<&DataError> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(errors.len(), 2);
    assert!(matches!(errors[0], DataError::BadAnnotation { .. }));
    check_names(
        errors[0],
        &[
            "dataset.json",
            "annotation #3",
            "id 21",
            "image 2",
            "segmentation",
        ],
    );
    check_names(
        errors[1],
        &["dataset.json", "annotation #4", "id 31", "invalid type"],
    );
    assert_eq!(split.image_id(3), Some(2));
    assert_eq!(split.image_id(4), None, "its image_id is the bad field");
}

#[test]
fn annotations_that_are_not_an_array_fail_the_whole_file() {
    let (_tmp, dir, _) = good_split(1);
    std::fs::write(
        dir.join("annotations/dataset.json"),
        br#"{"annotations": 7}"#,
    )
    .expect("write");
    let err = UncertSamSplit::open_dir(&dir, "Set").expect_err("must fail");
    assert!(matches!(err, DataError::Json { .. }), "{err}");
    check_names(&err, &["dataset.json"]);
}

#[test]
fn an_image_missing_on_disk_costs_only_its_image_and_is_named() {
    let (_tmp, dir, _) = good_split(3);
    std::fs::remove_file(dir.join("images/00000002.jpg")).expect("rm");
    let split = open(&dir);
    assert_eq!(split.len(), 3, "2 images + the missing one");
    let err = only_failure(&split, 2);
    assert!(
        matches!(err, DataError::MissingImage { image_id: 2, .. }),
        "{err}"
    );
    check_names(
        &err,
        &["image 2", "00000002.jpg", "dataset.json", "1 annotation"],
    );
    assert_eq!(split.image_id(2), Some(2));
}
