//! Every reference tensor of both fixture geometries within 1e-4 from `model_input`, and the
//! whole pipeline from `image.png`.

use uncertsam_sam::get_rel_pos;
use uncertsam_sam::parity::{Path_, check_fixture, read_safetensors};

use burn::prelude::*;

use crate::{TestBackend, fixtures};

fn check(name: &str) {
    let device = Default::default();
    let report =
        check_fixture::<TestBackend>(&fixtures().join(name), &device).expect("fixture should load");
    for line in &report.lines {
        println!(
            "{:?} {:<40} {:.3e} (tol {:.0e})",
            line.path, line.key, line.max_abs_diff, line.tolerance
        );
    }
    let bad: Vec<_> = report.lines.iter().filter(|l| !l.ok()).collect();
    assert!(bad.is_empty(), "{name}: out of tolerance: {bad:#?}");
    // Every case of the fixture is covered: embeddings, PE, 5 tensors per case, pipeline lines.
    let model_lines = report
        .lines
        .iter()
        .filter(|l| l.path == Path_::ModelAlone)
        .count();
    assert!(
        model_lines >= 2 + 7 * 4,
        "{name}: only {model_lines} model-alone lines"
    );
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.key == "resized_image_u8" && l.max_abs_diff == 0.0)
    );
}

#[test]
fn tiny_256_matches_official_sam_everywhere() {
    check("tiny_256");
}

#[test]
fn small_160_matches_official_sam_everywhere() {
    check("small_160");
}

#[test]
fn rel_pos_is_interpolated_like_official_get_rel_pos() {
    let device = Default::default();
    let fx = read_safetensors(&fixtures().join("rel_pos_interp.safetensors"))
        .expect("fixture should load");
    let cases = fx.keys().filter(|k| k.ends_with(".table")).count();
    assert_eq!(cases, 5);
    for i in 0..cases {
        let table = &fx[&format!("case{i}.table")];
        let sizes = &fx[&format!("case{i}.sizes")].data;
        let expected = &fx[&format!("case{i}.rel_pos")];
        let t = Tensor::<TestBackend, 2>::from_data(
            TensorData::new(table.data.clone(), table.shape.clone()),
            &device,
        );
        let out = get_rel_pos(sizes[0] as usize, sizes[1] as usize, t);
        assert_eq!(out.dims().to_vec(), expected.shape, "case {i}");
        let ours = out.into_data().to_vec::<f32>().expect("f32 data");
        let max = ours
            .iter()
            .zip(&expected.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(max <= 1e-5, "case {i}: max diff {max}");
    }
}
