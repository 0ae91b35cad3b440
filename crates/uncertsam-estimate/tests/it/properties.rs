//! Properties of the estimators: degenerate settings equal the plain pass, a fixed seed gives
//! bit-identical maps, and the TTA flip is undone exactly.

use image::RgbImage;
use uncertsam_estimate::{
    DropoutSite, EncodedImage, Entropy, McDropout, McDropoutConfig, Photometric,
    PromptPerturbation, PromptPerturbationConfig, Tta, TtaConfig, UncertaintyEstimator,
    flip_low_res,
};
use uncertsam_sam::PromptBatch;

use crate::{TestBackend, boxes, check_estimate, load, max_diff, rng, tiny, values};

fn mc(p: f64, samples: usize) -> McDropout {
    McDropout::new(McDropoutConfig {
        p,
        samples,
        sites: vec![
            DropoutSite::TransformerMlp,
            DropoutSite::Hypernetwork,
            DropoutSite::TokenAttention,
        ],
    })
    .expect("config")
}

#[test]
fn mc_dropout_with_one_sample_and_p0_equals_the_plain_pass() {
    let (sam, image) = tiny();
    let plain = Entropy
        .estimate(&sam, &image, &boxes(), &mut rng(0))
        .expect("plain");
    let est = mc(0.0, 1)
        .estimate(&sam, &image, &boxes(), &mut rng(0))
        .expect("mc");
    assert_eq!(values(est.prob), values(plain.prob));
    assert_eq!(
        values(est.maps.predictive_entropy),
        values(plain.maps.predictive_entropy)
    );
    assert_eq!(values(est.iou), values(plain.iou));
    assert!(values(est.maps.std.expect("std")).iter().all(|v| *v == 0.0));
}

#[test]
fn prompt_perturbation_with_one_prompt_equals_the_plain_pass() {
    let (sam, image) = tiny();
    let plain = Entropy
        .estimate(&sam, &image, &boxes(), &mut rng(0))
        .expect("plain");
    let pp = PromptPerturbation::new(PromptPerturbationConfig {
        prompts: 1,
        ..PromptPerturbationConfig::paper()
    })
    .expect("config");
    let est = pp
        .estimate(&sam, &image, &boxes(), &mut rng(0))
        .expect("pp");
    assert_eq!(values(est.prob), values(plain.prob));
    assert_eq!(
        values(est.maps.predictive_entropy),
        values(plain.maps.predictive_entropy)
    );
}

#[test]
fn a_fixed_seed_gives_bit_identical_maps_and_other_seeds_differ() {
    let (sam, image) = tiny();
    let estimators: Vec<Box<dyn UncertaintyEstimator<TestBackend>>> = vec![
        Box::new(mc(0.2, 3)),
        Box::new(
            PromptPerturbation::new(PromptPerturbationConfig {
                prompts: 3,
                ..PromptPerturbationConfig::paper()
            })
            .expect("pp"),
        ),
        Box::new(
            Tta::new(TtaConfig {
                samples: 2,
                ..TtaConfig::paper_hue()
            })
            .expect("tta"),
        ),
    ];
    for e in estimators {
        let run = |seed| {
            let est = e
                .estimate(&sam, &image, &boxes(), &mut rng(seed))
                .expect("estimate");
            (
                values(est.prob),
                values(est.maps.predictive_entropy),
                values(est.maps.epistemic.expect("mi")),
                values(est.maps.std.expect("std")),
            )
        };
        let (a, b, c) = (run(11), run(11), run(12));
        assert_eq!(a, b, "{}", e.name());
        assert_ne!(
            a.0,
            c.0,
            "{}: another seed should change the prediction",
            e.name()
        );
    }
}

#[test]
fn mc_dropout_samples_disagree_somewhere() {
    let (sam, image) = tiny();
    let est = mc(0.3, 4)
        .estimate(&sam, &image, &boxes(), &mut rng(3))
        .expect("mc");
    check_estimate("mc", &est, 2, 64);
    let sd = values(est.maps.std.expect("std"));
    assert!(
        sd.iter().any(|v| *v > 1e-3),
        "dropout should spread the samples"
    );
}

/// The image with its right half replaced by the mirror of its left half.
fn mirrored(image: &RgbImage) -> RgbImage {
    let mut out = image.clone();
    let w = image.width();
    for y in 0..image.height() {
        for x in 0..w / 2 {
            out.put_pixel(w - 1 - x, y, *image.get_pixel(x, y));
        }
    }
    out
}

/// On a mirror-symmetric image the flipped view is the image itself, so a flip-only TTA
/// must return the plain pass on the mirrored prompt, mirrored back.
fn check_flip_back(fixture: &str, bbox: [f64; 4]) {
    let (sam, image) = load(fixture);
    let image = EncodedImage::new(&sam, mirrored(&image));
    assert_eq!(
        image::imageops::flip_horizontal(&image.image).as_raw(),
        image.image.as_raw()
    );
    let prompts = PromptBatch::new().with_box(bbox);
    let flipped_prompts = uncertsam_estimate::flip_prompts(&prompts, &image.embedding);
    let tta = Tta::new(TtaConfig {
        photometric: Photometric::None,
        hflip: true,
        samples: 1,
        include_identity: false,
    })
    .expect("tta");
    let est = tta
        .estimate(&sam, &image, &prompts, &mut rng(0))
        .expect("tta");
    let plain = Entropy
        .estimate(&sam, &image, &flipped_prompts, &mut rng(0))
        .expect("plain");
    let expected = values(flip_low_res(plain.prob, &image.embedding));
    let got = values(est.prob);
    assert!(
        max_diff(&got, &expected) < 1e-6,
        "{fixture}: {}",
        max_diff(&got, &expected)
    );
}

#[test]
fn tta_flip_is_undone_exactly_on_a_symmetric_image() {
    // Landscape (300 x 200): the flip is a column reversal of the low-res map.
    check_flip_back("tiny_256", [60.0, 40.0, 200.0, 170.0]);
    // Portrait (133 x 241): the valid width is fractional, so the flip interpolates.
    check_flip_back("small_160", [20.0, 30.0, 90.0, 200.0]);
}

#[test]
fn flipping_prompts_and_maps_twice_is_the_identity() {
    let (sam, image) = tiny();
    let prompts = boxes();
    let twice = uncertsam_estimate::flip_prompts(
        &uncertsam_estimate::flip_prompts(&prompts, &image.embedding),
        &image.embedding,
    );
    for (a, b) in prompts.rows.iter().zip(&twice.rows) {
        let (a, b) = (a.bbox.expect("box"), b.bbox.expect("box"));
        assert!(
            a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-9),
            "{a:?} {b:?}"
        );
    }
    let est = Entropy
        .estimate(&sam, &image, &prompts, &mut rng(0))
        .expect("plain");
    let back = flip_low_res(
        flip_low_res(est.prob.clone(), &image.embedding),
        &image.embedding,
    );
    assert_eq!(values(back), values(est.prob));
}

#[test]
fn hypernetwork_only_dropout_shares_the_transformer_and_matches_the_batched_pass() {
    use uncertsam_estimate::{BernoulliHook, CallCounter, Segmenter, repeat_prompts, token0};
    let (sam, image) = tiny();
    let sites = vec![DropoutSite::Hypernetwork];
    let est = McDropout::new(McDropoutConfig {
        p: 0.3,
        samples: 5,
        sites: sites.clone(),
    })
    .expect("config");
    let counter = CallCounter::new(&sam);
    let fast = est
        .estimate(&counter, &image, &boxes(), &mut rng(9))
        .expect("mc");
    assert_eq!((counter.decodes(), counter.decoded_rows()), (1, 2));
    // The same masks through the general path: the batch repeated 5 times, one pass.
    let p = sam.prompts(&boxes(), &image.embedding).expect("prompts");
    let mut r = rng(9);
    let mut hook = BernoulliHook::new(0.3, &sites, &mut r);
    let out = sam
        .decode_with_noise(&image.embedding, &repeat_prompts(&p, 5), false, &mut hook)
        .expect("decode")
        .all;
    let (logits, _) = token0(&out);
    let general = uncertsam_estimate::Estimate::from_samples(
        logits.reshape([5, 2, 64, 64]),
        burn::tensor::Tensor::zeros([5, 2], &Default::default()),
    );
    let d = max_diff(&values(fast.prob), &values(general.prob));
    assert!(d < 1e-5, "{d}");
    assert!(
        values(fast.maps.std.expect("std"))
            .iter()
            .any(|v| *v > 1e-3)
    );
}
