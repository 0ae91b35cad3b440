//! SAM 2 (Hiera) against fixtures made by the official `sam2` package
//! (`fixtures/sam2/generate.py`): every reference tensor within 1e-4 from the model input, and
//! the whole pipeline from `image.png` against `SAM2ImagePredictor` (logits and scores within
//! 1e-4, binary masks identical except where the reference logit is within 1e-4 of 0).

use uncertsam_sam::parity::check_fixture;
use uncertsam_sam::{Sam2, Sam2Config};

use crate::TestBackend;

fn check(name: &str) {
    let dir = crate::fixtures().join("../sam2").join(name);
    let report =
        check_fixture::<TestBackend>(&dir, &Default::default()).expect("fixture should load");
    for line in &report.lines {
        println!(
            "{:?} {:<40} {:.3e} (tol {:.0e})",
            line.path, line.key, line.max_abs_diff, line.tolerance
        );
    }
    let bad: Vec<_> = report.lines.iter().filter(|l| !l.ok()).collect();
    assert!(bad.is_empty(), "{name}: out of tolerance: {bad:#?}");
    // Embedding, 2 high-res maps, 1 sine PE, dense PE, then 6 tensors for each of 7 cases;
    // the pipeline: model input, then scores, logits and binary masks of 4 cases.
    assert_eq!(report.lines.len(), 5 + 6 * 7 + 1 + 3 * 4, "{name}");
    let pipeline = report
        .lines
        .iter()
        .filter(|l| l.path == uncertsam_sam::parity::Path_::Pipeline)
        .count();
    assert_eq!(pipeline, 1 + 3 * 4, "{name}: pipeline lines");
}

#[test]
fn hiera_t_256_matches_official_sam2_everywhere() {
    check("hiera_t_256");
}

#[test]
fn hiera_b_320_matches_official_sam2_everywhere() {
    check("hiera_b_320");
}

#[test]
fn official_presets_are_consistent_and_build() {
    for name in ["tiny", "small", "base_plus", "large"] {
        let cfg = Sam2Config::preset(name).expect("preset");
        cfg.validate().expect("consistent");
        assert_eq!(cfg.embedding_side(), 64);
    }
    let sam = Sam2::<TestBackend>::new(&Sam2Config::tiny(), &Default::default()).expect("builds");
    assert_eq!(sam.image_encoder.trunk.blocks.len(), 12);
}

fn tiny_config() -> Sam2Config {
    let dir = crate::fixtures().join("../sam2/hiera_t_256");
    let text = std::fs::read_to_string(dir.join("config.json")).expect("config");
    serde_json::from_str(&text).expect("config parses")
}

#[test]
fn official_pt_checkpoint_with_the_state_dict_under_model_loads_like_safetensors() {
    let dir = crate::fixtures().join("../sam2/hiera_t_256");
    let device = Default::default();
    let cfg = tiny_config();
    let from_pt = Sam2::<TestBackend>::new(&cfg, &device)
        .expect("builds")
        .load_checkpoint(dir.join("model.pt"))
        .expect("the .pt loads, video-only keys ignored");
    let from_st = Sam2::<TestBackend>::new(&cfg, &device)
        .expect("builds")
        .load_checkpoint(dir.join("model.safetensors"))
        .expect("the safetensors loads");
    let a = from_pt.no_mem_embed.val().into_data();
    let b = from_st.no_mem_embed.val().into_data();
    assert_eq!(a, b);
    let w = |m: &Sam2<TestBackend>| {
        m.sam_mask_decoder.transformer.layers[1]
            .mlp
            .lin2
            .weight
            .val()
            .into_data()
    };
    assert_eq!(w(&from_pt), w(&from_st));
}

#[test]
fn a_geometry_mismatch_names_the_official_key_and_both_shapes() {
    let dir = crate::fixtures().join("../sam2/hiera_t_256");
    let mut cfg = tiny_config();
    cfg.hiera.embed_dim = 16;
    let err = Sam2::<TestBackend>::new(&cfg, &Default::default())
        .expect("builds")
        .load_checkpoint(dir.join("model.safetensors"))
        .expect_err("must fail");
    let msg = err.to_string();
    assert!(
        msg.contains("image_encoder.") && msg.contains("expects"),
        "{msg}"
    );
}
