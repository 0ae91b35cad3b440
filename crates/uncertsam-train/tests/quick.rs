//! A `--quick` run on a tiny generated benchmark: the loss goes down, and the saved checkpoint
//! reloads with `Sam::load_checkpoint` and reproduces the in-memory model's logits.
//! A run from `--init` keeps the loaded weights exactly when it does not fine-tune, records
//! where they came from, and fine-tunes every weight but the frozen random-Fourier matrix.

use uncertsam_data::{SampleSource, UncertSamSplit, prompts};
use uncertsam_sam::{PromptBatch, Sam, SamConfig};
use uncertsam_train::TrainArgs;

type Cpu = burn::backend::NdArray<f32>;

fn run(args: &TrainArgs) -> anyhow::Result<uncertsam_train::TrainReport<Sam<Cpu>>> {
    uncertsam_train::run::<burn::backend::Autodiff<Cpu>>(args, &Default::default())
}

fn box_logits(sam: &Sam<Cpu>, data: &std::path::Path) -> Vec<f32> {
    model_box_logits(sam.into(), data)
}

#[test]
fn quick_training_learns_and_its_checkpoint_reloads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = TrainArgs {
        out: Some(dir.path().join("out")),
        data: dir.path().join("data"),
        epochs: Some(4),
        ensemble_members: 1,
        ensemble_images: Some(2),
        quick: true,
        ..TrainArgs::default()
    };
    let report = run(&args).expect("quick training");
    // The main stage on the quick set's 4 images, the member on the first 2 of them.
    assert_eq!(report.manifest.data.train_images, 4);
    assert_eq!(report.manifest.ensemble[0].images, 2);
    let losses = &report
        .manifest
        .train
        .as_ref()
        .expect("trained")
        .curve
        .loss_per_epoch;
    assert_eq!(losses.len(), 4);
    assert!(losses[3] < losses[0], "loss did not decrease: {losses:?}");
    let out = &args.out_dir("sam");
    for f in [
        "sam.safetensors",
        "config.json",
        "manifest.json",
        "ensemble/member_0.safetensors",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let config: SamConfig =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).expect("config"))
            .expect("config.json is a SamConfig");
    let device = Default::default();
    let loaded = Sam::<Cpu>::new(&config, &device)
        .expect("model")
        .load_checkpoint(out.join("sam.safetensors"))
        .expect("reload");
    let a = box_logits(&report.model, &args.data);
    let b = box_logits(&loaded, &args.data);
    assert_eq!(a.len(), b.len());
    let max = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(max <= 1e-5, "reloaded logits differ by {max}");
    let member = Sam::<Cpu>::new(&config, &device)
        .expect("model")
        .load_checkpoint(out.join("ensemble/member_0.safetensors"))
        .expect("member reload");
    let m = box_logits(&member, &args.data);
    assert_eq!(m.len(), a.len());
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("manifest.json")).expect("manifest"),
    )
    .expect("manifest json");
    assert_eq!(manifest["seed"], 0);
    assert!(manifest["box_iou"][0]["mean_iou"].is_number());
}

fn pe_matrix(sam: &Sam<Cpu>) -> Vec<f32> {
    sam.prompt_encoder
        .pe_layer
        .positional_encoding_gaussian_matrix
        .val()
        .into_data()
        .to_vec()
        .expect("f32 matrix")
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}

#[test]
fn init_keeps_fine_tunes_and_records_a_saved_model() {
    use sha2::Digest as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let first = TrainArgs {
        out: Some(dir.path().join("first")),
        data: dir.path().join("data"),
        epochs: Some(1),
        ensemble_members: 0,
        quick: true,
        ..TrainArgs::default()
    };
    let base = run(&first).expect("first run");
    let init = first.out_dir("sam").join("sam.safetensors");
    let base_logits = box_logits(&base.model, &first.data);

    // From --init with no fine-tuning: the saved model is the loaded one.
    let copy = TrainArgs {
        out: Some(dir.path().join("copy")),
        init: Some(init.clone()),
        finetune: Some(Vec::new()),
        ..first.clone()
    };
    let copied = run(&copy).expect("run from --init");
    let m = &copied.manifest;
    assert!(m.train.is_none() && m.finetune.is_empty());
    let info = m.init.as_ref().expect("init recorded");
    let bytes = std::fs::read(&init).expect("init bytes");
    let hex: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(info.sha256, hex);
    let recorded = info.manifest.as_ref().expect("init manifest");
    let steps = base.manifest.train.as_ref().expect("trained").curve.steps;
    assert_eq!(recorded["train"]["curve"]["steps"], steps);
    assert_eq!(
        max_diff(&box_logits(&copied.model, &first.data), &base_logits),
        0.0
    );

    // One fine-tuning epoch moves the weights but not the frozen random-Fourier matrix.
    let tune = TrainArgs {
        out: Some(dir.path().join("tune")),
        finetune: Some(vec!["1x4@1e-3".parse().expect("spec")]),
        ..copy
    };
    let tuned = run(&tune).expect("fine-tuning run");
    let [stage] = tuned.manifest.finetune.as_slice() else {
        panic!("one fine-tuning stage expected");
    };
    assert_eq!(stage.curve.loss_per_epoch.len(), 1);
    assert!(stage.curve.loss_per_epoch[0].is_finite());
    assert_eq!(stage.seed, uncertsam_train::FINETUNE_SEED_OFFSET);
    assert!(max_diff(&box_logits(&tuned.model, &first.data), &base_logits) > 0.0);
    assert_eq!(pe_matrix(&tuned.model), pe_matrix(&base.model));
}

/// The committed default was made as a chain of one-stage `--init` runs; the default command
/// runs all the stages at once. Training is deterministic and reloading a saved model is exact,
/// so both give the same bytes, and so does a second identical run.
#[test]
fn a_chain_of_init_runs_equals_one_run_with_all_stages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stage = |s: &str| s.parse::<uncertsam_train::FinetuneSpec>().expect("spec");
    let base = TrainArgs {
        data: dir.path().join("data"),
        epochs: Some(1),
        ensemble_members: 0,
        quick: true,
        ..TrainArgs::default()
    };
    let all_stages = TrainArgs {
        out: Some(dir.path().join("once")),
        finetune: Some(vec![stage("1x4@1e-3"), stage("1x3@5e-4")]),
        ..base.clone()
    };
    run(&all_stages).expect("one run");
    run(&TrainArgs {
        out: Some(dir.path().join("again")),
        ..all_stages
    })
    .expect("the same run again");
    let first = TrainArgs {
        out: Some(dir.path().join("first")),
        finetune: Some(vec![stage("1x4@1e-3")]),
        ..base.clone()
    };
    run(&first).expect("first link");
    run(&TrainArgs {
        out: Some(dir.path().join("second")),
        init: Some(first.out_dir("sam").join("sam.safetensors")),
        finetune: Some(vec![stage("1x3@5e-4")]),
        ..base.clone()
    })
    .expect("second link");
    let bytes = |d: &str| std::fs::read(dir.path().join(d).join("sam.safetensors")).expect("file");
    assert_eq!(bytes("once"), bytes("again"), "two identical runs differ");
    assert_eq!(
        bytes("once"),
        bytes("second"),
        "the chain differs from one run"
    );
}

/// Box-prompt logits of either family at the original size, through `SamModel`.
fn model_box_logits(model: uncertsam_sam::SamModel<'_, Cpu>, data: &std::path::Path) -> Vec<f32> {
    let split = UncertSamSplit::open(data, "Synth-Clean", "test").expect("test split");
    let sample = split.get(0).expect("a test sample");
    let emb = model.embed(&sample.image);
    let b = prompts::tight_box(&sample.masks[0].mask).expect("non-empty mask");
    let batch = PromptBatch::new().with_box(b.map(f64::from));
    let p = model.prompts(&batch, &emb).expect("prompt");
    let out = model.decode(&emb, &p, false).expect("decode");
    model
        .postprocess(out.low_res_logits, &emb)
        .into_data()
        .to_vec()
        .expect("f32 logits")
}

/// `--model sam2`: the tiny SAM 2 trains with SAM 2's loss (it goes down), its `config.json`
/// says `"model_type": "sam2"` and reloads as that family, and the checkpoint and the ensemble
/// member reload and reproduce the in-memory model.
#[test]
fn quick_sam2_training_learns_and_its_checkpoint_reloads() {
    use uncertsam_sam::{AnyConfig, AnySam};
    let dir = tempfile::tempdir().expect("tempdir");
    let args = TrainArgs {
        model: "sam2".into(),
        out: Some(dir.path().join("out")),
        data: dir.path().join("data"),
        epochs: Some(4),
        ensemble_members: 1,
        quick: true,
        ..TrainArgs::default()
    };
    let report =
        uncertsam_train::run_sam2::<burn::backend::Autodiff<Cpu>>(&args, &Default::default())
            .expect("quick SAM 2 training");
    let losses = &report
        .manifest
        .train
        .as_ref()
        .expect("trained")
        .curve
        .loss_per_epoch;
    assert_eq!(losses.len(), 4);
    assert!(losses[3] < losses[0], "loss did not decrease: {losses:?}");
    let out = &args.out_dir("sam2");
    let text = std::fs::read_to_string(out.join("config.json")).expect("config");
    let config = AnyConfig::from_json(&text).expect("config.json parses");
    assert!(matches!(config, AnyConfig::Sam2(_)), "{text}");
    let device = Default::default();
    let load = |f: &str| {
        AnySam::<Cpu>::new(&config, &device)
            .expect("model")
            .load_checkpoint(out.join(f))
            .expect("reload")
    };
    let loaded = load("sam.safetensors");
    let a = model_box_logits((&report.model).into(), &args.data);
    let b = model_box_logits(loaded.model(), &args.data);
    assert!(
        max_diff(&a, &b) <= 1e-5,
        "reloaded logits differ by {}",
        max_diff(&a, &b)
    );
    let member = load("ensemble/member_0.safetensors");
    let m = model_box_logits(member.model(), &args.data);
    assert!(
        max_diff(&m, &a) > 0.0,
        "the member's heads were not redrawn and retrained"
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("manifest.json")).expect("manifest"),
    )
    .expect("manifest json");
    assert_eq!(manifest["model"], "sam2");
    assert!(manifest["box_iou"][0]["mean_iou"].is_number());
}

/// SAM 2's high-res warm-up: `conv_s0` / `conv_s1` start at zero and stay exactly zero while
/// the warm-up lasts (the whole stage here), then train (after the default quarter of the
/// stage), and the manifest records the warm-up's steps.
#[test]
fn sam2_high_res_projections_stay_zero_through_the_warm_up_then_train() {
    let dir = tempfile::tempdir().expect("tempdir");
    let projections = |warm_up: Option<f64>, name: &str| {
        let args = TrainArgs {
            model: "sam2".into(),
            out: Some(dir.path().join(name)),
            data: dir.path().join("data"),
            epochs: Some(2),
            ensemble_members: 0,
            quick: true,
            high_res_warmup: warm_up,
            ..TrainArgs::default()
        };
        let report =
            uncertsam_train::run_sam2::<burn::backend::Autodiff<Cpu>>(&args, &Default::default())
                .expect("quick SAM 2 training");
        let train = report.manifest.train.as_ref().expect("trained");
        let decoder = &report.model.sam_mask_decoder;
        let values: Vec<f32> = [&decoder.conv_s0, &decoder.conv_s1]
            .iter()
            .flat_map(|c| {
                let w: Vec<f32> = c.weight.val().into_data().to_vec().expect("f32");
                w
            })
            .collect();
        (
            train.settings.high_res_warmup_steps,
            train.curve.steps,
            values,
        )
    };
    let (warm, steps, whole) = projections(Some(1.0), "whole");
    assert_eq!(warm, steps);
    assert!(whole.iter().all(|&w| w == 0.0), "moved during the warm-up");
    let (warm, steps, quarter) = projections(None, "quarter");
    assert_eq!((warm, steps), (1, 4));
    assert!(quarter.iter().any(|&w| w != 0.0), "never trained after it");
}

/// SAM 2 trains each image of a step on its own graph, side by side: the trained weights are
/// the same bytes on one thread and on two.
#[test]
fn sam2_training_does_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let weights = |threads: usize| {
        let args = TrainArgs {
            model: "sam2".into(),
            out: Some(dir.path().join(format!("threads{threads}"))),
            data: dir.path().join("data"),
            epochs: Some(2),
            ensemble_members: 0,
            quick: true,
            ..TrainArgs::default()
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        pool.install(|| {
            uncertsam_train::run_sam2::<burn::backend::Autodiff<Cpu>>(&args, &Default::default())
        })
        .expect("quick SAM 2 training");
        std::fs::read(args.out_dir("sam2").join("sam.safetensors")).expect("weights")
    };
    assert!(
        weights(1) == weights(2),
        "the weights depend on the thread count"
    );
}
