//! Checkpoint loading: a renamed key, a wrong shape, an extra key and a NaN weight are errors
//! that name the key; saving and reloading round-trips with the official key names.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use uncertsam_sam::{Sam, SamConfig, SamError};

use crate::{TestBackend, fixtures};

fn config() -> SamConfig {
    let text = std::fs::read_to_string(fixtures().join("tiny_256/config.json")).expect("config");
    serde_json::from_str(&text).expect("config parses")
}

/// Rewrites the tiny fixture's weights through `edit` into `out`.
fn rewrite(out: &Path, edit: impl Fn(&mut BTreeMap<String, (Vec<usize>, Vec<u8>)>)) {
    let bytes = std::fs::read(fixtures().join("tiny_256/model.safetensors")).expect("weights");
    let st = SafeTensors::deserialize(&bytes).expect("safetensors");
    let mut map: BTreeMap<String, (Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(k, v)| (k, (v.shape().to_vec(), v.data().to_vec())))
        .collect();
    edit(&mut map);
    let views: Vec<(String, TensorView)> = map
        .iter()
        .map(|(k, (s, d))| {
            (
                k.clone(),
                TensorView::new(Dtype::F32, s.clone(), d).expect("view"),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, out).expect("write");
}

fn load(path: &Path) -> Result<Sam<TestBackend>, SamError> {
    Sam::<TestBackend>::new(&config(), &Default::default())?.load_checkpoint(path)
}

#[test]
fn renamed_key_is_reported_as_missing_with_its_name() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("renamed.safetensors");
    rewrite(&path, |m| {
        let v = m.remove("mask_decoder.iou_token.weight").expect("key");
        m.insert("mask_decoder.iou_tokn.weight".into(), v);
    });
    let err = load(&path).expect_err("must fail").to_string();
    assert!(
        err.contains("missing key `mask_decoder.iou_token.weight`"),
        "{err}"
    );
    assert!(err.contains("renamed.safetensors"), "{err}");
}

#[test]
fn wrong_shape_names_the_key_and_both_shapes() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("shape.safetensors");
    rewrite(&path, |m| {
        let (_, data) = m.get("image_encoder.neck.0.weight").expect("key").clone();
        // [32, 32, 1, 1] -> [16, 64, 1, 1]: same bytes, wrong shape.
        m.insert(
            "image_encoder.neck.0.weight".into(),
            (vec![16, 64, 1, 1], data),
        );
    });
    let err = load(&path).expect_err("must fail").to_string();
    assert!(err.contains("`image_encoder.neck.0.weight` has shape [16, 64, 1, 1], the model expects [32, 32, 1, 1]"), "{err}");
}

#[test]
fn unexpected_key_is_an_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("extra.safetensors");
    rewrite(&path, |m| {
        m.insert("mask_decoder.extra.weight".into(), (vec![1], vec![0; 4]));
    });
    let err = load(&path).expect_err("must fail").to_string();
    assert!(
        err.contains("unexpected key `mask_decoder.extra.weight`"),
        "{err}"
    );
}

#[test]
fn nan_weight_is_reported_with_its_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("nan.safetensors");
    rewrite(&path, |m| {
        let (_, data) = m
            .get_mut("mask_decoder.output_upscaling.1.weight")
            .expect("key");
        data[0..4].copy_from_slice(&f32::NAN.to_le_bytes());
    });
    let err = load(&path).expect_err("must fail").to_string();
    assert!(
        err.contains("`mask_decoder.output_upscaling.1.weight` holds 1 non-finite"),
        "{err}"
    );
}

#[test]
fn missing_file_names_the_path() {
    let err = load(Path::new("/nonexistent/sam.safetensors"))
        .expect_err("must fail")
        .to_string();
    assert!(err.contains("/nonexistent/sam.safetensors"), "{err}");
}

#[test]
fn saved_weights_use_official_keys_and_reload_identically() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("saved.safetensors");
    let sam = load(&fixtures().join("tiny_256/model.safetensors")).expect("load");
    sam.save_safetensors(&path).expect("save");
    let original = std::fs::read(fixtures().join("tiny_256/model.safetensors")).expect("read");
    let saved = std::fs::read(&path).expect("read");
    let (a, b) = (
        SafeTensors::deserialize(&original).expect("st"),
        SafeTensors::deserialize(&saved).expect("st"),
    );
    let mut ka: Vec<String> = a.names().into_iter().map(String::from).collect();
    let mut kb: Vec<String> = b.names().into_iter().map(String::from).collect();
    ka.sort();
    kb.sort();
    assert_eq!(ka, kb);
    for k in &ka {
        let (x, y) = (a.tensor(k).expect("a"), b.tensor(k).expect("b"));
        assert_eq!(x.shape(), y.shape(), "{k}");
        assert_eq!(x.data(), y.data(), "{k}");
    }
}
