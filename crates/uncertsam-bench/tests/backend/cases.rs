//! The test bodies, generic over the backend they run on.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use uncertsam_estimate::{
    EncodedImage, Estimate, EstimatorConfig, Fit, FitSample, LaplaceConfig, Persist, VarianceNet,
    VarianceNetConfig, VarianceNetEstimator,
};
use uncertsam_sam::parity::{MODEL_TOLERANCE, Path_, check_fixture};
use uncertsam_sam::{PromptBatch, Sam, SamConfig};

type Cpu = burn::backend::NdArray<f32>;

/// Largest |difference| allowed between an estimate on another backend and the CPU's: the
/// tolerance the model is held to against the official code ([`MODEL_TOLERANCE`]), on
/// probabilities, predicted IoUs, scores and uncertainty maps (all bounded, so an absolute
/// tolerance means the same thing everywhere; logits are not compared directly because
/// `safe_logit` of a sampling mean near 0 or 1 magnifies any rounding difference).
#[cfg_attr(not(feature = "cuda"), allow(dead_code))] // used by the CUDA tests only
pub const CROSS_BACKEND_TOLERANCE: f32 = MODEL_TOLERANCE as f32;

/// Every committed parity fixture: SAM v1 at two geometries, MobileSAM, SAM 2 at two.
pub const FIXTURES: [&str; 5] = [
    "sam/tiny_256",
    "sam/small_160",
    "mobile_sam/tiny_1024",
    "sam2/hiera_t_256",
    "sam2/hiera_b_320",
];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Every fixture's reference tensors within the parity tolerances on `B`, model alone and
/// through the pipeline (the same check as `uncertsam parity --backend ...`).
pub fn fixtures_match_official_code<B: Backend>(device: &B::Device) {
    for name in FIXTURES {
        let report = check_fixture::<B>(&fixtures().join(name), device)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for l in &report.lines {
            println!(
                "{name} {:?} {:<40} {:.3e} (tol {:.0e})",
                l.path, l.key, l.max_abs_diff, l.tolerance
            );
        }
        let bad: Vec<_> = report.lines.iter().filter(|l| !l.ok()).collect();
        assert!(bad.is_empty(), "{name}: out of tolerance: {bad:#?}");
        let model = report
            .lines
            .iter()
            .filter(|l| l.path == Path_::ModelAlone)
            .count();
        assert!(model >= 4, "{name}: only {model} model-alone lines");
        assert!(
            report.lines.iter().any(|l| l.path == Path_::Pipeline),
            "{name}: no pipeline line"
        );
    }
}

/// The tiny SAM fixture model on `device`.
fn tiny<B: Backend>(device: &B::Device) -> (Sam<B>, image::RgbImage) {
    let dir = fixtures().join("sam/tiny_256");
    let cfg: SamConfig =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).expect("config"))
            .expect("parse config");
    let sam = Sam::new(&cfg, device)
        .expect("sam")
        .load_checkpoint(dir.join("model.safetensors"))
        .expect("load");
    let image = image::open(dir.join("image.png")).expect("image").to_rgb8();
    (sam, image)
}

/// Two box prompts on the 300 x 200 tiny image.
fn boxes() -> PromptBatch {
    PromptBatch::new()
        .with_box([60.0, 40.0, 240.0, 170.0])
        .with_box([10.0, 10.0, 120.0, 100.0])
}

/// A fitting sample: the boxes on `image`, ground truth the inside of each box.
fn fit_sample<B: Backend>(image: &EncodedImage<B>, prompts: &PromptBatch) -> FitSample<B> {
    let [h, w] = image.embedding.original_size;
    let gt: Vec<f32> = prompts
        .rows
        .iter()
        .flat_map(|r| {
            let [x0, y0, x1, y1] = r.bbox.expect("box");
            (0..h * w).map(move |i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                f32::from(u8::from(x >= x0 && x <= x1 && y >= y0 && y <= y1))
            })
        })
        .collect();
    let b = prompts.rows.len();
    let device = image.embedding.embeddings.device();
    FitSample {
        image: image.clone(),
        prompts: prompts.clone(),
        gt: Tensor::from_data(TensorData::new(gt, [b, h, w]), &device),
    }
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// The estimator configs: every built-in kind that runs without training data, plus an
/// ensemble member and variance-network weights (random, written once by the CPU, read by both
/// backends) and two Laplace posteriors fitted on `sam`'s own backend into `dir`.
fn configs<B: Backend>(
    sam: &Sam<B>,
    image: &EncodedImage<B>,
    shared: &Path,
    dir: &Path,
) -> Vec<EstimatorConfig> {
    let prompts = boxes();
    for (config, name) in [
        (LaplaceConfig::probit(), "probit"),
        (LaplaceConfig::paper(4), "paper"),
    ] {
        let mut data = std::iter::once(fit_sample(image, &prompts));
        let fitted = config
            .fit(sam, &mut data, &mut rng(0))
            .expect("fit laplace");
        Persist::<B>::save(&fitted, &dir.join(name)).expect("save laplace");
    }
    let json = serde_json::json!([
        {"kind": "entropy"},
        {"kind": "iou_head"},
        {"kind": "multimask_disagreement"},
        {"kind": "tta", "photometric": {"type": "hue", "max_shift": 0.5}, "samples": 3},
        {"kind": "tta", "photometric": {"type": "in_domain"}, "hflip": true, "samples": 3,
         "include_identity": true},
        {"kind": "prompt_perturbation", "prompts": 4},
        {"kind": "mc_dropout", "p": 0.1, "samples": 4},
        {"kind": "ensemble", "members": [shared.join("member.safetensors")]},
        {"kind": "variance_net", "dir": shared.join("varnet")},
        {"kind": "laplace", "dir": dir.join("probit")},
        {"kind": "laplace", "dir": dir.join("paper")},
    ]);
    serde_json::from_value(json).expect("configs parse")
}

/// Writes the random ensemble member and variance network both backends load.
fn write_shared(sam: &Sam<Cpu>, shared: &Path) {
    let device = Default::default();
    std::fs::create_dir_all(shared).expect("shared dir");
    Sam::<Cpu>::new(sam.config(), &device)
        .expect("member")
        .save_safetensors(shared.join("member.safetensors"))
        .expect("save member");
    let config = VarianceNetConfig::for_sam(sam);
    let head = VarianceNetEstimator::<Cpu> {
        net: VarianceNet::new(&config, &device),
        config,
        label: "random".into(),
    };
    head.save(&shared.join("varnet")).expect("save head");
}

/// A tensor's shape and values on the host.
type Host = (Vec<usize>, Vec<f32>);

fn host<B: Backend, const D: usize>(t: &Tensor<B, D>) -> Host {
    let data = t.clone().into_data().convert::<f32>();
    (t.dims().to_vec(), data.to_vec::<f32>().expect("f32 data"))
}

fn names(outputs: &[(&'static str, Host)]) -> Vec<&'static str> {
    outputs.iter().map(|(n, _)| *n).collect()
}

/// The bounded outputs of an estimate by name, on the host.
fn outputs<B: Backend>(e: &Estimate<B>) -> Vec<(&'static str, Host)> {
    let mut out = vec![
        ("prob", host(&e.prob)),
        ("iou", host(&e.iou)),
        ("predictive_entropy", host(&e.maps.predictive_entropy)),
    ];
    for (name, map) in [
        ("aleatoric", &e.maps.aleatoric),
        ("epistemic", &e.maps.epistemic),
        ("std", &e.maps.std),
        ("log_variance", &e.maps.log_variance),
    ] {
        if let Some(m) = map {
            out.push((name, host(m)));
        }
    }
    if let Some(s) = &e.score {
        out.push(("score", host(s)));
    }
    out
}

/// Every estimator on the tiny fixture on `B` against the same on the CPU: the same names,
/// the same outputs and shapes, and every value within `tolerance` of the CPU's (all finite).
pub fn estimators_match_cpu<B: Backend>(device: &B::Device, tolerance: f32) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (shared, dir_b, dir_cpu) = (
        tmp.path().join("shared"),
        tmp.path().join("b"),
        tmp.path().join("cpu"),
    );
    let (sam_cpu, image) = tiny::<Cpu>(&Default::default());
    write_shared(&sam_cpu, &shared);
    let (sam_b, _) = tiny::<B>(device);
    let image_cpu = EncodedImage::new(&sam_cpu, image.clone());
    let image_b = EncodedImage::new(&sam_b, image);
    let configs_cpu = configs(&sam_cpu, &image_cpu, &shared, &dir_cpu);
    let configs_b = configs(&sam_b, &image_b, &shared, &dir_b);
    assert_eq!(configs_b.len(), 11);
    let prompts = boxes();
    for (config_cpu, config_b) in configs_cpu.iter().zip(&configs_b) {
        let est_cpu = config_cpu.build(&sam_cpu).expect("build cpu");
        let est_b = config_b.build(&sam_b).expect("build");
        let name = est_b.name();
        assert_eq!(name, est_cpu.name());
        let reference = est_cpu
            .estimate(&sam_cpu, &image_cpu, &prompts, &mut rng(7))
            .unwrap_or_else(|e| panic!("{name} on the cpu: {e}"));
        let ours = est_b
            .estimate(&sam_b, &image_b, &prompts, &mut rng(7))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ours.samples, reference.samples, "{name}: samples");
        let (ours, reference) = (outputs(&ours), outputs(&reference));
        assert_eq!(names(&ours), names(&reference), "{name}: outputs");
        for ((what, (shape, a)), (_, (shape_ref, b))) in ours.iter().zip(&reference) {
            assert_eq!(shape, shape_ref, "{name} {what}: shape");
            let worst = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, |m, d| {
                    if d.is_nan() || m.is_nan() {
                        f32::NAN
                    } else {
                        m.max(d)
                    }
                });
            println!("{name:<48} {what:<20} max |diff| {worst:.3e}");
            assert!(
                a.iter().all(|v| v.is_finite()),
                "{name} {what}: non-finite value"
            );
            assert!(
                worst <= tolerance,
                "{name} {what}: max |diff| {worst:e} from the cpu > {tolerance:e}"
            );
        }
    }
}
