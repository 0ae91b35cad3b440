//! `uncertsam predict`: the mask of the SAM 2 parity model equals the official
//! `SAM2ImagePredictor`'s on the fixture image, a random-init SAM 2 runs a deep ensemble of SAM 2
//! members, the embedded model segments a clean synthetic object, runs are deterministic, and
//! bad prompts are clear errors.

use std::path::{Path, PathBuf};
use std::process::Command;

use uncertsam_data::{SampleSource, UncertSamSplit, prompts::tight_box};
use uncertsam_metrics::Confusion;

use crate::resume::{bin, data, read};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn predict(out: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .arg("predict")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run uncertsam predict")
}

fn gray(p: &Path) -> image::GrayImage {
    image::open(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .to_luma8()
}

#[test]
fn sam2_predict_mask_equals_the_official_predictor() {
    let dir = repo().join("fixtures/sam2/hiera_t_256");
    let tmp = tempfile::tempdir().expect("tmp");
    let (cfg, ckpt, img) = (
        dir.join("config.json"),
        dir.join("model.safetensors"),
        dir.join("image.png"),
    );
    let out = predict(
        tmp.path(),
        &[
            "--image",
            img.to_str().unwrap(),
            "--box",
            "60,30,240,180",
            "--estimator",
            "entropy",
            "--model",
            cfg.to_str().unwrap(),
            "--checkpoint",
            ckpt.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mask = gray(&tmp.path().join("mask.png"));
    assert_eq!(mask.dimensions(), (300, 200));
    let reference = uncertsam_sam::parity::read_safetensors(&dir.join("reference.safetensors"))
        .expect("reference");
    let r = &reference["box_single.pipeline.masks_logits"];
    assert_eq!(r.shape, vec![1, 1, 200, 300]);
    let (mut fg, mut compared, mut differ) = (0, 0, 0);
    for (i, &l) in r.data.iter().enumerate() {
        let ours = mask.as_raw()[i];
        assert!(ours == 0 || ours == 255, "mask.png is not binary: {ours}");
        if l.abs() > 1e-4 {
            compared += 1;
            fg += usize::from(l > 0.0);
            differ += usize::from((ours == 255) != (l > 0.0));
        }
    }
    assert!(
        fg > 0 && fg < compared,
        "degenerate reference mask ({fg} of {compared})"
    );
    assert_eq!(
        differ, 0,
        "{differ} of {compared} pixels differ from SAM2ImagePredictor"
    );
    for f in ["uncertainty.png", "overlay.png"] {
        let d = image::image_dimensions(tmp.path().join(f)).expect(f);
        assert_eq!(d, (300, 200), "{f}");
    }
}

/// The `.npy` file's shape as written in its header, and its payload length in bytes.
fn npy_shape(p: &Path) -> (String, usize) {
    let bytes = read(p);
    let header_len = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    let header = String::from_utf8_lossy(&bytes[10..10 + header_len]).into_owned();
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or_else(|| panic!("{}: no shape in {header}", p.display()))
        .to_string();
    (shape, bytes.len() - 10 - header_len)
}

#[test]
fn sam2_random_init_predicts_with_a_sam2_ensemble_deterministically() {
    type B = burn::backend::NdArray<f32>;
    let dir = repo().join("fixtures/sam2/hiera_t_256");
    let (cfg, img) = (dir.join("config.json"), dir.join("image.png"));
    let config: uncertsam_sam::Sam2Config =
        serde_json::from_str(&std::fs::read_to_string(&cfg).expect("config")).expect("parse");
    let tmp = tempfile::tempdir().expect("tmp");
    // Two members of the same geometry with other random weights.
    let members: Vec<String> = [11u64, 12]
        .iter()
        .map(|&seed| {
            let device = Default::default();
            <B as burn::prelude::Backend>::seed(&device, seed);
            let path = tmp.path().join(format!("member{seed}.safetensors"));
            uncertsam_sam::Sam2::<B>::new(&config, &device)
                .expect("member")
                .save_safetensors(&path)
                .expect("save member");
            path.to_string_lossy().into_owned()
        })
        .collect();
    let estimator = format!("ensemble:members=[{}]", members.join(","));
    let run = |name: &str| {
        let out = tmp.path().join(name);
        let o = predict(
            &out,
            &[
                "--image",
                img.to_str().unwrap(),
                "--box",
                "60,30,240,180",
                "--point",
                "150,100",
                "--estimator",
                &estimator,
                "--model",
                cfg.to_str().unwrap(),
                "--random-init",
                "--seed",
                "5",
                "--npy",
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    };
    let (a, b) = (run("a"), run("b"));
    let files = [
        "mask.png",
        "uncertainty.png",
        "overlay.png",
        "logits.npy",
        "uncertainty.npy",
        "std.npy",
        "iou.npy",
    ];
    for f in files {
        assert_eq!(
            read(&a.join(f)),
            read(&b.join(f)),
            "{f} differs between runs"
        );
    }
    for f in ["mask.png", "uncertainty.png", "overlay.png"] {
        let d = image::image_dimensions(a.join(f)).expect(f);
        assert_eq!(d, (300, 200), "{f}");
    }
    for f in ["logits.npy", "uncertainty.npy", "std.npy"] {
        assert_eq!(
            npy_shape(&a.join(f)),
            ("200, 300,".to_string(), 200 * 300 * 4),
            "{f}"
        );
    }
    assert_eq!(npy_shape(&a.join("iou.npy")), ("1,".to_string(), 4));
    // Three differently initialised decoders disagree somewhere.
    let std = read(&a.join("std.npy"));
    assert!(
        std[std.len() - 200 * 300 * 4..]
            .chunks_exact(4)
            .any(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) > 0.0),
        "the ensemble's std map is zero"
    );
}

#[test]
fn embedded_model_segments_a_clean_object_deterministically() {
    let split = UncertSamSplit::open(data(), "Synth-Clean", "test").expect("clean test split");
    let sample = split.samples().next().expect("a sample").expect("readable");
    let gt = sample
        .masks
        .iter()
        .map(|m| &m.mask)
        .max_by_key(|m| m.area())
        .expect("a mask");
    let b = tight_box(gt).expect("non-empty mask");
    let bbox = format!("{},{},{},{}", b[0], b[1], b[2], b[3]);
    let img = std::env::temp_dir().join(format!("uncertsam-predict-{}.png", std::process::id()));
    sample.image.save(&img).expect("save image");
    let tmp = tempfile::tempdir().expect("tmp");
    let run = |name: &str| {
        let out = tmp.path().join(name);
        let o = predict(
            &out,
            &[
                "--image",
                img.to_str().unwrap(),
                "--box",
                &bbox,
                "--estimator",
                "mc_dropout",
                "--samples",
                "4",
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    };
    let (a, b) = (run("a"), run("b"));
    for f in ["mask.png", "uncertainty.png", "overlay.png"] {
        assert_eq!(
            read(&a.join(f)),
            read(&b.join(f)),
            "{f} differs between runs"
        );
    }
    let mask = gray(&a.join("mask.png"));
    assert_eq!(mask.dimensions(), (gt.width() as u32, gt.height() as u32));
    let iou = Confusion::from_masks(mask.as_raw(), gt.data())
        .expect("mask.png and the ground truth have one size")
        .iou();
    assert!(
        iou > 0.5,
        "box-prompted IoU {iou:.3} on the largest clean object"
    );
    let heat = image::open(a.join("uncertainty.png"))
        .expect("heat")
        .to_rgb8();
    let first = heat.get_pixel(0, 0);
    assert!(
        heat.pixels().any(|p| p != first),
        "the uncertainty map is constant"
    );
}

#[test]
fn bad_prompts_are_clear_errors() {
    let img = repo().join("fixtures/sam2/hiera_t_256/image.png");
    let tmp = tempfile::tempdir().expect("tmp");
    let img = img.to_str().unwrap();
    for (args, needle) in [
        (
            vec!["--image", img, "--box", "1,2,3"],
            "--box `1,2,3` is not x0,y0,x1,y1",
        ),
        // The fixture image is 300x200.
        (
            vec!["--image", img, "--box", "1,2,301,40"],
            "outside the 300x200 image",
        ),
        (vec!["--image", img, "--box", "9,2,3,40"], "need x0 < x1"),
        (
            vec!["--image", img, "--point", "nan,4"],
            "not a finite number",
        ),
        (vec!["--image", img, "--point", "1,2,5"], "--point `1,2,5`"),
        (vec!["--image", img], "give at least one --box or --point"),
        (
            vec!["--image", "/nonexistent/x.png", "--box", "1,2,3,4"],
            "/nonexistent/x.png",
        ),
    ] {
        let o = predict(&tmp.path().join("x"), &args);
        assert!(!o.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
