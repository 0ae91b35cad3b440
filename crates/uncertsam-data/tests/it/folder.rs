//! The plain folder layout: `images/<name>.(jpg|png)` and `masks/<name>[_<k>].png`.

use std::path::Path;

use uncertsam_data::{DataError, FolderDataset, Mask, SampleSource};

fn save_mask(path: &Path, mask: &Mask) {
    let img = image::GrayImage::from_raw(
        mask.width() as u32,
        mask.height() as u32,
        mask.data().iter().map(|&v| v * 255).collect(),
    )
    .expect("buffer size");
    img.save(path).expect("write png");
}

fn save_image(path: &Path, w: u32, h: u32) {
    image::RgbImage::from_pixel(w, h, image::Rgb([10, 200, 30]))
        .save(path)
        .expect("write image");
}

#[test]
fn folder_masks_are_matched_by_name_and_instance_suffix() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("mine");
    std::fs::create_dir_all(root.join("images")).expect("mkdir");
    std::fs::create_dir_all(root.join("masks")).expect("mkdir");
    save_image(&root.join("images/b.png"), 8, 6);
    save_image(&root.join("images/a.jpg"), 8, 6);
    save_image(&root.join("images/a_1.png"), 8, 6);
    let left = Mask::from_fn(6, 8, |x, _| x < 3);
    let right = Mask::from_fn(6, 8, |x, _| x > 5);
    save_mask(&root.join("masks/a_2.png"), &right);
    save_mask(&root.join("masks/a_0.png"), &left);
    // Exactly the name of image `a_1`, so it belongs to `a_1`, not to `a` as instance 1.
    save_mask(&root.join("masks/a_1.png"), &left);
    save_mask(&root.join("masks/b.png"), &right);
    save_mask(&root.join("masks/orphan_3.png"), &right);

    let ds = FolderDataset::open(&root).expect("open");
    assert_eq!(ds.dataset(), "mine");
    let mut results: Vec<_> = ds.samples().collect();
    // The mask that matches no image is not dropped: it is the last sample, and fails naming it.
    assert_eq!(results.len(), 4);
    let orphan = results
        .pop()
        .expect("orphan")
        .expect_err("a mask without its image");
    assert!(
        matches!(orphan, DataError::OrphanMask { .. })
            && orphan.to_string().contains("masks/orphan_3.png"),
        "{orphan}"
    );
    assert_eq!(
        (0..4).map(|i| ds.masks_requested(i)).collect::<Vec<_>>(),
        [Some(2), Some(1), Some(1), Some(1)]
    );
    let samples: Vec<_> = results
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("all load");
    let names: Vec<_> = samples.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a", "a_1", "b"]);
    assert_eq!(
        samples[0].masks.iter().map(|m| m.id).collect::<Vec<_>>(),
        [0, 2]
    );
    assert_eq!(samples[0].masks[0].mask, left);
    assert_eq!(samples[1].masks.len(), 1);
    assert_eq!(samples[2].masks[0].id, 0);
    assert_eq!(samples[2].masks[0].mask, right);
    assert_eq!(
        samples.iter().map(|s| s.image_id).collect::<Vec<_>>(),
        [0, 1, 2]
    );
}

#[test]
fn folder_errors_name_the_mask_or_image_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("mine");
    std::fs::create_dir_all(root.join("images")).expect("mkdir");
    std::fs::create_dir_all(root.join("masks")).expect("mkdir");
    save_image(&root.join("images/big.png"), 8, 6);
    save_image(&root.join("images/lonely.png"), 8, 6);
    save_image(&root.join("images/ok.png"), 8, 6);
    save_mask(
        &root.join("masks/big.png"),
        &Mask::from_fn(3, 3, |_, _| true),
    );
    save_mask(
        &root.join("masks/ok.png"),
        &Mask::from_fn(6, 8, |x, _| x == 0),
    );
    let ds = FolderDataset::open(&root).expect("open");
    let results: Vec<_> = ds.samples().collect();
    let err = results[0].as_ref().expect_err("size mismatch");
    assert!(matches!(err, DataError::MaskSize { .. }), "{err}");
    assert!(
        err.to_string().contains("masks/big.png") && err.to_string().contains("images/big.png"),
        "{err}"
    );
    let err = results[1].as_ref().expect_err("no masks");
    assert!(
        matches!(err, DataError::NoMasks { .. }) && err.to_string().contains("lonely.png"),
        "{err}"
    );
    assert!(results[2].is_ok());
}
