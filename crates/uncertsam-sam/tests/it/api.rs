//! The encode-once / decode-many API: a batch of prompts decodes exactly like the same prompts
//! one at a time, and bad prompts are errors, not panics.

use burn::prelude::*;
use uncertsam_sam::{PromptBatch, PromptRow, Sam, SamConfig};

use crate::{TestBackend, fixtures};

fn tiny() -> (Sam<TestBackend>, image::RgbImage) {
    let dir = fixtures().join("tiny_256");
    let cfg: SamConfig =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).expect("config"))
            .expect("parse");
    let sam = Sam::new(&cfg, &Default::default())
        .expect("sam")
        .load_checkpoint(dir.join("model.safetensors"))
        .expect("load");
    let image = image::open(dir.join("image.png")).expect("image").to_rgb8();
    (sam, image)
}

fn values<const D: usize>(t: Tensor<TestBackend, D>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().expect("f32")
}

#[test]
fn batched_prompts_decode_like_single_prompts() {
    let (sam, image) = tiny();
    let emb = sam.embed(&image);
    let rows = [
        PromptRow {
            points: vec![([150.0, 90.0], 1), ([20.0, 180.0], 0)],
            bbox: Some([60.0, 40.0, 240.0, 170.0]),
            mask: None,
        },
        PromptRow {
            points: vec![([30.0, 30.0], 1), ([250.0, 150.0], 1)],
            bbox: Some([10.0, 10.0, 120.0, 100.0]),
            mask: None,
        },
        PromptRow {
            points: vec![([200.0, 20.0], 0), ([100.0, 100.0], 1)],
            bbox: Some([0.0, 0.0, 299.0, 199.0]),
            mask: None,
        },
    ];
    let batch = rows
        .iter()
        .cloned()
        .fold(PromptBatch::new(), PromptBatch::with_row);
    let all = sam
        .decode(&emb, &batch.build(&sam, &emb).expect("prompts"), true)
        .expect("decode");
    assert_eq!(all.low_res_logits.dims(), [3, 3, 64, 64]);
    for (i, row) in rows.iter().enumerate() {
        let one = sam
            .decode(
                &emb,
                &PromptBatch::new()
                    .with_row(row.clone())
                    .build(&sam, &emb)
                    .expect("prompts"),
                true,
            )
            .expect("decode");
        let batched = values(all.low_res_logits.clone().narrow(0, i, 1));
        let single = values(one.low_res_logits);
        let max = batched
            .iter()
            .zip(&single)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(max < 1e-5, "row {i}: {max}");
        let iou_b = values(all.iou_predictions.clone().narrow(0, i, 1));
        let iou_s = values(one.iou_predictions);
        assert!(
            iou_b.iter().zip(&iou_s).all(|(a, b)| (a - b).abs() < 1e-5),
            "row {i}"
        );
    }
}

/// One image embedding against `b` prompt sets: the decoder shares the image-side work of its
/// first block (batch-1 image and dense prompt, `PromptEncoder::forward_shared`). Every output
/// must equal, bit for bit, the decode with the image and the dense prompt expanded to `b`.
#[test]
fn shared_image_decode_is_bitwise_the_expanded_decode() {
    let (sam, image) = tiny();
    let emb = sam.embed(&image);
    let batch = (0..4).fold(PromptBatch::new(), |b, i| {
        let d = 9.0 * f64::from(i);
        b.with_row(PromptRow {
            points: vec![([100.0 + d, 80.0], 1)],
            bbox: Some([20.0 + d, 30.0 + d, 200.0 - d, 150.0 - d]),
            mask: None,
        })
    });
    let prompts = batch.build(&sam, &emb).expect("prompts");
    let b = prompts.batch_size().expect("batch");
    let pe = sam.prompt_encoder.get_dense_pe(&Default::default());
    let (sparse, dense) = sam.prompt_encoder.forward(&prompts, b);
    let (shared_sparse, shared_dense) = sam.prompt_encoder.forward_shared(&prompts, b, 1);
    assert_eq!(shared_dense.dims()[0], 1);
    let [_, d, h, w] = dense.dims();
    let hook = &mut uncertsam_sam::NoNoise;
    let expanded = sam.mask_decoder.predict_masks(
        emb.embeddings.clone().expand([b, d, h, w]),
        pe.clone().expand([b, d, h, w]),
        sparse,
        dense,
        hook,
    );
    let shared = sam.mask_decoder.predict_masks(
        emb.embeddings.clone(),
        pe,
        shared_sparse,
        shared_dense,
        hook,
    );
    assert_eq!(values(expanded.masks), values(shared.masks));
    assert_eq!(
        values(expanded.iou_predictions),
        values(shared.iou_predictions)
    );
    assert_eq!(
        values(expanded.upscaled_embedding),
        values(shared.upscaled_embedding)
    );
    assert_eq!(values(expanded.token0_hidden), values(shared.token0_hidden));
}

#[test]
fn rows_of_different_structure_are_an_error() {
    let (sam, image) = tiny();
    let emb = sam.embed(&image);
    let batch = PromptBatch::new()
        .with_box([0.0, 0.0, 10.0, 10.0])
        .with_points(vec![([1.0, 1.0], 1)]);
    let err = batch.build(&sam, &emb).expect_err("must fail").to_string();
    assert!(err.contains("prompt row 1"), "{err}");
}

#[test]
fn mask_prompt_of_wrong_size_is_an_error() {
    let (sam, image) = tiny();
    let emb = sam.embed(&image);
    let row = PromptRow {
        mask: Some(vec![0.0; 10]),
        ..Default::default()
    };
    let err = PromptBatch::new()
        .with_row(row)
        .build(&sam, &emb)
        .expect_err("must fail")
        .to_string();
    assert!(err.contains("64x64"), "{err}");
}

#[test]
fn inconsistent_config_is_an_error() {
    let mut cfg = SamConfig::tiny();
    cfg.image_embedding_size = [15, 15];
    let err = Sam::<TestBackend>::new(&cfg, &Default::default())
        .expect_err("must fail")
        .to_string();
    assert!(err.contains("image_embedding_size"), "{err}");
}

#[test]
fn presets_are_consistent() {
    for name in ["vit_b", "vit_l", "vit_h", "tiny"] {
        let cfg = SamConfig::preset(name).expect("preset");
        cfg.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// Several images (two sizes, so different paddings) through one encoder pass give what
/// `embed` gives for each, bit for bit, in any batch split.
#[test]
fn embed_many_equals_embed_per_image() {
    let (sam, image) = tiny();
    let flipped = image::imageops::flip_horizontal(&image);
    let small = image::imageops::resize(&image, 120, 200, image::imageops::FilterType::Triangle);
    let images = [image, small, flipped];
    assert!(sam.encoder_batch() >= 3, "a tiny model batches every view");
    for batch in [1, 2, 3] {
        let many = sam.embed_many(&images, batch);
        assert_eq!(many.len(), images.len());
        for (one, image) in many.into_iter().zip(&images) {
            let single = sam.embed(image);
            assert_eq!(one.input_size, single.input_size);
            assert_eq!(one.original_size, single.original_size);
            assert_eq!(
                values(one.embeddings),
                values(single.embeddings),
                "batch {batch}"
            );
        }
    }
}
