//! The JSON API: answers equal `uncertsam predict`'s files for the same image, box, estimator
//! and seed; images never share embeddings; bad input is a 4xx `{"error"}` and the server
//! keeps serving.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use uncertsam_data::{SampleSource, UncertSamSplit, prompts::tight_box};

use crate::server::{data, get, post_json, request};

const IMAGE: &str = "data:Synth-Clean/test/0";

fn b64(v: &Value) -> Vec<u8> {
    STANDARD
        .decode(v.as_str().expect("a base64 string"))
        .expect("valid base64")
}

/// The tight box of the first mask of test image `index`.
pub fn gt_box(index: usize) -> [f64; 4] {
    let split = UncertSamSplit::open(data(), "Synth-Clean", "test").expect("split");
    let sample = split.get(index).expect("sample");
    tight_box(&sample.masks[0].mask)
        .expect("a non-empty mask")
        .map(f64::from)
}

/// `uncertsam predict --npy` on the API's image `id`; returns its output directory.
pub fn run_predict(id: &str, bbox: [f64; 4], estimator: &str, seed: u64) -> tempfile::TempDir {
    run_predict_with(id, bbox, estimator, seed, &[])
}

/// [`run_predict`] with `extra` arguments (e.g. `--refine shrink`).
pub fn run_predict_with(
    id: &str,
    bbox: [f64; 4],
    estimator: &str,
    seed: u64,
    extra: &[&str],
) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tmp");
    let png = get(&format!("/api/image?id={id}"));
    assert_eq!(png.status, 200);
    let image = tmp.path().join("image.png");
    std::fs::write(&image, &png.body).expect("write image");
    let out = Command::new(env!("CARGO_BIN_EXE_uncertsam"))
        .arg("predict")
        .arg("--image")
        .arg(&image)
        .arg(format!(
            "--box={},{},{},{}",
            bbox[0], bbox[1], bbox[2], bbox[3]
        ))
        .args([
            "--estimator",
            estimator,
            "--seed",
            &seed.to_string(),
            "--npy",
        ])
        .arg("--data")
        .arg(data())
        .arg("--out")
        .arg(tmp.path())
        .args(extra)
        .output()
        .expect("run uncertsam predict");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tmp
}

/// The float32 payload of a `.npy` file.
fn npy_payload(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).expect("npy");
    let header = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[10 + header..].to_vec()
}

fn predict(id: &str, bbox: [f64; 4], estimator: &str, seed: u64) -> Value {
    let r = post_json(
        "/api/predict",
        &json!({"image": id, "box": bbox, "estimator": estimator, "seed": seed, "raw": true}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

#[test]
fn predict_answers_equal_uncertsam_predict_files() {
    let bbox = gt_box(0);
    for (estimator, seed) in [("entropy", 0), ("mc_dropout", 7), ("laplace_probit", 3)] {
        let api = predict(IMAGE, bbox, estimator, seed);
        let files = run_predict(IMAGE, bbox, estimator, seed);
        let dir = files.path();
        assert_eq!(
            b64(&api["logits_f32"]),
            npy_payload(&dir.join("logits.npy")),
            "{estimator}: logits"
        );
        assert_eq!(
            b64(&api["uncertainty_f32"]),
            npy_payload(&dir.join("uncertainty.npy")),
            "{estimator}: uncertainty"
        );
        for (key, file) in [
            ("mask_png", "mask.png"),
            ("uncertainty_png", "uncertainty.png"),
        ] {
            let ours = image::load_from_memory(&b64(&api[key]))
                .expect("png")
                .to_rgb8();
            let theirs = image::open(dir.join(file)).expect("png").to_rgb8();
            assert!(ours == theirs, "{estimator}: {file} differs");
        }
        let metrics = &api["metrics"];
        for key in ["IoU", "pearson", "ECE"] {
            assert!(
                metrics[key].is_number(),
                "{estimator}: metric {key} in {metrics}"
            );
        }
        assert!(api["error_png"].is_string());
    }
}

#[test]
fn refined_answers_equal_uncertsam_predict_refine_files() {
    let bbox = gt_box(0);
    for (estimator, variant, name) in [
        ("entropy", "shrink", "shrink_uncertain"),
        ("entropy", "fusion", "dense_fusion"),
        ("mc_dropout", "logits_as_mask", "logits_as_mask"),
    ] {
        let r = post_json(
            "/api/predict",
            &json!({"image": IMAGE, "box": bbox, "estimator": estimator, "seed": 1,
                "raw": true, "refine": variant}),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let api = r.json();
        let refined = api["refined"].as_str().unwrap_or_default();
        assert!(refined.starts_with(name), "{variant}: refined = {refined}");
        let files = run_predict_with(IMAGE, bbox, estimator, 1, &["--refine", variant]);
        let dir = files.path();
        for (key, file) in [
            ("logits_f32", "logits.npy"),
            ("uncertainty_f32", "uncertainty.npy"),
        ] {
            assert_eq!(
                b64(&api[key]),
                npy_payload(&dir.join(file)),
                "{estimator} + {variant}: {file}"
            );
        }
        let unrefined = predict(IMAGE, bbox, estimator, 1);
        assert_ne!(
            api["logits_f32"], unrefined["logits_f32"],
            "{variant} left the logits unchanged"
        );
    }
    let oracle = post_json(
        "/api/predict",
        &json!({"image": IMAGE, "box": bbox, "estimator": "entropy", "refine": "gt_oracle"}),
    );
    assert_eq!(
        oracle.status,
        200,
        "{}",
        String::from_utf8_lossy(&oracle.body)
    );
    let oracle = oracle.json();
    let iou = |v: &Value| v["metrics"]["IoU"].as_f64().expect("an IoU");
    let plain = predict(IMAGE, bbox, "entropy", 0);
    assert!(
        iou(&oracle) >= iou(&plain),
        "the ground truth as mask prompt lowered IoU: {} < {}",
        iou(&oracle),
        iou(&plain)
    );
}

#[test]
fn images_never_share_embeddings() {
    let (a, b) = ("data:Synth-Clean/test/1", "data:Synth-Clean/test/2");
    let (box_a, box_b) = (gt_box(1), gt_box(2));
    let first = predict(a, box_a, "entropy", 0);
    let other = predict(b, box_b, "entropy", 0);
    // The same box on the other image must use that image's embedding.
    let cross = predict(b, box_a, "entropy", 0);
    let again = predict(a, box_a, "entropy", 0);
    assert_eq!(first["logits_f32"], again["logits_f32"]);
    assert_ne!(first["logits_f32"], cross["logits_f32"]);
    assert_ne!(first["logits_f32"], other["logits_f32"]);
    let files = run_predict(b, box_a, "entropy", 0);
    assert_eq!(
        b64(&cross["logits_f32"]),
        npy_payload(&files.path().join("logits.npy"))
    );
}

#[test]
fn upload_then_predict_and_suggest_click() {
    let png = get(&format!("/api/image?id={IMAGE}")).body;
    let up = request("POST", "/api/upload", "image/png", &png);
    assert_eq!(up.status, 200, "{}", String::from_utf8_lossy(&up.body));
    let id = up.json()["id"].as_str().expect("an id").to_string();
    let bbox = gt_box(0);
    let uploaded = predict(&id, bbox, "entropy", 0);
    let listed = predict(IMAGE, bbox, "entropy", 0);
    assert_eq!(uploaded["logits_f32"], listed["logits_f32"]);
    assert!(
        uploaded["metrics"].is_null(),
        "an upload has no ground truth"
    );
    let r = post_json(
        "/api/suggest-click",
        &json!({"image": IMAGE, "box": bbox, "estimator": "entropy"}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let click = &r.json()["click"];
    let (w, h) = (listed["width"].as_u64(), listed["height"].as_u64());
    assert!(
        click["x"].as_u64() < w && click["y"].as_u64() < h,
        "{click}"
    );
}

fn assert_4xx(r: crate::server::Reply, what: &str) {
    assert!(
        (400..500).contains(&r.status),
        "{what}: status {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    let msg = r.json()["error"].as_str().map(str::to_string);
    assert!(
        msg.is_some_and(|m| !m.is_empty()),
        "{what}: no error message"
    );
}

#[test]
fn bad_input_is_a_4xx_with_a_message_and_the_server_keeps_serving() {
    let png = get(&format!("/api/image?id={IMAGE}")).body;
    assert_4xx(
        request("POST", "/api/upload", "text/plain", b"not an image"),
        "non-image",
    );
    assert_4xx(
        request("POST", "/api/upload", "image/png", &png[..png.len() / 2]),
        "truncated PNG",
    );
    let big = image::GrayImage::new(4097, 4097);
    let mut big_png = Vec::new();
    big.write_to(
        &mut std::io::Cursor::new(&mut big_png),
        image::ImageFormat::Png,
    )
    .expect("encode");
    assert_4xx(
        request("POST", "/api/upload", "image/png", &big_png),
        "too large",
    );
    let bbox = gt_box(0);
    assert_4xx(
        post_json(
            "/api/predict",
            &json!({"image": IMAGE, "box": bbox, "estimator": "nope"}),
        ),
        "unknown estimator",
    );
    assert_4xx(
        post_json(
            "/api/predict",
            &json!({"image": IMAGE, "box": [0, 0, 5000, 10], "estimator": "entropy"}),
        ),
        "box outside the image",
    );
    assert_4xx(
        post_json(
            "/api/predict",
            &json!({"image": IMAGE, "points": [[-3, 2, 1]], "estimator": "entropy"}),
        ),
        "point outside the image",
    );
    assert_4xx(
        request("POST", "/api/predict", "application/json", b"{\"image\": "),
        "malformed JSON",
    );
    assert_4xx(
        post_json(
            "/api/predict",
            &json!({"image": "data:nope/test/0", "box": bbox, "estimator": "entropy"}),
        ),
        "unknown image",
    );
    assert_4xx(
        post_json(
            "/api/predict",
            &json!({"image": IMAGE, "box": bbox, "estimator": "mc_dropout", "options": "bogus=1"}),
        ),
        "unknown option",
    );
    for (refine, what, says) in [
        ("nope", "unknown refinement", "unknown refinement `nope`"),
        (
            "fusion",
            "fusion without weights for the driver",
            "no fusion weights",
        ),
    ] {
        let r = post_json(
            "/api/predict",
            &json!({"image": IMAGE, "box": bbox, "estimator": "mc_dropout", "refine": refine}),
        );
        let body = String::from_utf8_lossy(&r.body).to_string();
        assert!(body.contains(says), "{what}: {body}");
        assert_4xx(r, what);
    }
    predict(IMAGE, bbox, "entropy", 0);
}

#[test]
fn page_and_listings_are_served() {
    let page = get("/");
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("app.js"));
    let estimators = get("/api/estimators").json();
    let names: Vec<&str> = estimators
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    for name in ["entropy", "iou_head", "laplace_probit", "mc_dropout"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let refinements = get("/api/refinements").json().to_string();
    for name in [
        "shrink",
        "logits_as_mask",
        "fusion",
        "fusion_ones",
        "gt_oracle",
    ] {
        assert!(refinements.contains(name), "{name} in {refinements}");
    }
    let datasets = get("/api/datasets").json();
    assert!(datasets.to_string().contains("Synth-Clean"));
    let images = get("/api/images?dataset=Synth-Clean&split=test").json();
    assert_eq!(images.as_array().map(Vec::len), Some(3));
}
