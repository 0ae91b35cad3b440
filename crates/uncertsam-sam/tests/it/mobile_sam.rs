//! MobileSAM (TinyViT encoder) against fixtures made by the official `mobile_sam` source
//! (`fixtures/mobile_sam/generate.py`): every reference tensor within 1e-4 from the model input,
//! the whole pipeline from `image.png`, and the checkpoint's extra keys ignored.

use uncertsam_sam::parity::{Path_, check_fixture};
use uncertsam_sam::{EncoderKind, Sam, SamConfig};

use crate::TestBackend;

fn dir() -> std::path::PathBuf {
    crate::fixtures().join("../mobile_sam/tiny_1024")
}

#[test]
fn tiny_1024_matches_official_mobile_sam_everywhere() {
    let device = Default::default();
    let report = check_fixture::<TestBackend>(&dir(), &device).expect("fixture should load");
    for line in &report.lines {
        println!(
            "{:?} {:<36} {:.3e} (tol {:.0e})",
            line.path, line.key, line.max_abs_diff, line.tolerance
        );
    }
    let bad: Vec<_> = report.lines.iter().filter(|l| !l.ok()).collect();
    assert!(bad.is_empty(), "out of tolerance: {bad:#?}");
    let model_lines = report
        .lines
        .iter()
        .filter(|l| l.path == Path_::ModelAlone)
        .count();
    // Embedding, then sparse, low-res logits, IoU and upscaled logits for each of 3 cases.
    assert_eq!(model_lines, 1 + 4 * 3);
}

#[test]
fn fixture_config_selects_tiny_vit_and_the_preset_is_mobile_sam() {
    let text = std::fs::read_to_string(dir().join("config.json")).expect("config");
    let cfg: SamConfig = serde_json::from_str(&text).expect("config parses");
    let t = cfg.tiny_vit().expect("a TinyViT encoder");
    assert_eq!(t.embed_dims, vec![16, 32, 32, 320]);
    assert_eq!(t.output_side(1024), 64);
    let preset = SamConfig::mobile_sam();
    assert!(matches!(preset.encoder, EncoderKind::TinyVit(_)));
    assert_eq!(SamConfig::preset("vit_t"), Some(preset.clone()));
    preset.validate().expect("the preset is consistent");
    // A v1 config without the field is still a ViT.
    assert_eq!(SamConfig::vit_b().encoder, EncoderKind::Vit);
}

#[test]
fn tiny_vit_rejects_an_input_size_other_than_1024() {
    let mut cfg = SamConfig::mobile_sam();
    cfg.img_size = 512;
    cfg.image_embedding_size = [32, 32];
    let err = Sam::<TestBackend>::new(&cfg, &Default::default()).expect_err("must fail");
    assert!(err.to_string().contains("img_size 1024"), "{err}");
}
