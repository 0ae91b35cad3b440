//! Checkpoints in other precisions: F16, BF16 and F64 weights, in safetensors files and in
//! PyTorch zip pickles, load converted to the model's F32, bit-identical to an F32 checkpoint of
//! the same (rounded) values; an element type that does not convert is an error naming the
//! file, the key and the type. (burn-ndarray used to panic on the first F16 tensor, and the
//! process then hung in its exit path.)

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use half::{bf16, f16};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use uncertsam_sam::{LoadReport, Sam, SamConfig, SamError};

use crate::{TestBackend, fixtures};

/// Key -> (shape, values) of the tiny fixture.
type Weights = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

fn config() -> SamConfig {
    let text = std::fs::read_to_string(fixtures().join("tiny_256/config.json")).expect("config");
    serde_json::from_str(&text).expect("config parses")
}

fn fixture_weights() -> Weights {
    let bytes = std::fs::read(fixtures().join("tiny_256/model.safetensors")).expect("weights");
    let st = SafeTensors::deserialize(&bytes).expect("safetensors");
    st.tensors()
        .into_iter()
        .map(|(k, v)| {
            assert_eq!(v.dtype(), Dtype::F32, "{k}");
            let values = v
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (k, (v.shape().to_vec(), values))
        })
        .collect()
}

/// Little-endian bytes of `values` stored as `dtype`.
fn encode(values: &[f32], dtype: Dtype) -> Vec<u8> {
    match dtype {
        Dtype::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Dtype::F16 => values
            .iter()
            .flat_map(|v| f16::from_f32(*v).to_le_bytes())
            .collect(),
        Dtype::BF16 => values
            .iter()
            .flat_map(|v| bf16::from_f32(*v).to_le_bytes())
            .collect(),
        Dtype::F64 => values
            .iter()
            .flat_map(|v| f64::from(*v).to_le_bytes())
            .collect(),
        Dtype::I64 => values
            .iter()
            .flat_map(|v| (*v as i64).to_le_bytes())
            .collect(),
        other => panic!("test encodes no {other:?}"),
    }
}

/// The value an F32 model holds after loading `v` stored as `dtype`.
fn rounded(v: f32, dtype: Dtype) -> f32 {
    match dtype {
        Dtype::F16 => f16::from_f32(v).to_f32(),
        Dtype::BF16 => bf16::from_f32(v).to_f32(),
        _ => v,
    }
}

/// Writes `weights` as safetensors, each key in the type `dtype_of` gives it.
fn write_safetensors(path: &Path, weights: &Weights, dtype_of: impl Fn(&str) -> Dtype) {
    let bytes: BTreeMap<&String, (Dtype, Vec<u8>)> = weights
        .iter()
        .map(|(k, (_, v))| (k, (dtype_of(k), encode(v, dtype_of(k)))))
        .collect();
    let views: Vec<(String, TensorView)> = weights
        .iter()
        .map(|(k, (s, _))| {
            let (d, b) = &bytes[k];
            (k.clone(), TensorView::new(*d, s.clone(), b).expect("view"))
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).expect("write");
}

fn storage_class(dtype: Dtype) -> &'static str {
    match dtype {
        Dtype::F32 => "FloatStorage",
        Dtype::F16 => "HalfStorage",
        Dtype::BF16 => "BFloat16Storage",
        Dtype::F64 => "DoubleStorage",
        Dtype::I64 => "LongStorage",
        other => panic!("test writes no {other:?} storage"),
    }
}

/// Writes `weights` as a PyTorch zip checkpoint (`torch.save(state_dict)` layout:
/// `archive/data.pkl`, pickle protocol 2, plus one `archive/data/<i>` storage per tensor).
fn write_torch_zip(path: &Path, weights: &Weights, dtype_of: impl Fn(&str) -> Dtype) {
    fn unicode(p: &mut Vec<u8>, s: &str) {
        p.push(b'X');
        p.extend_from_slice(&(s.len() as u32).to_le_bytes());
        p.extend_from_slice(s.as_bytes());
    }
    fn int(p: &mut Vec<u8>, v: usize) {
        p.push(b'J');
        p.extend_from_slice(&(v as i32).to_le_bytes());
    }
    fn global(p: &mut Vec<u8>, module: &str, name: &str) {
        p.push(b'c');
        p.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
    }
    let mut pkl = vec![0x80, 2, b'}', b'('];
    let mut storages = Vec::new();
    for (i, (key, (shape, values))) in weights.iter().enumerate() {
        let dtype = dtype_of(key);
        unicode(&mut pkl, key);
        global(&mut pkl, "torch._utils", "_rebuild_tensor_v2");
        pkl.push(b'(');
        // persistent id: ('storage', torch.<Type>Storage, key, 'cpu', numel)
        pkl.push(b'(');
        unicode(&mut pkl, "storage");
        global(&mut pkl, "torch", storage_class(dtype));
        unicode(&mut pkl, &i.to_string());
        unicode(&mut pkl, "cpu");
        int(&mut pkl, values.len());
        pkl.extend_from_slice(b"tQ");
        int(&mut pkl, 0); // storage offset
        pkl.push(b'(');
        for d in shape {
            int(&mut pkl, *d);
        }
        pkl.push(b't');
        pkl.push(b'(');
        let mut stride = vec![1usize; shape.len()];
        for j in (0..shape.len().saturating_sub(1)).rev() {
            stride[j] = stride[j + 1] * shape[j + 1];
        }
        for s in &stride {
            int(&mut pkl, *s);
        }
        pkl.push(b't');
        pkl.push(0x89); // requires_grad = False
        global(&mut pkl, "collections", "OrderedDict");
        pkl.extend_from_slice(b")R"); // backward hooks: OrderedDict()
        pkl.extend_from_slice(b"tR");
        storages.push(encode(values, dtype));
    }
    pkl.extend_from_slice(b"u.");
    let file = std::fs::File::create(path).expect("create");
    let mut zip = zip::ZipWriter::new(file);
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("archive/data.pkl", opts).expect("zip");
    zip.write_all(&pkl).expect("zip");
    for (i, s) in storages.iter().enumerate() {
        zip.start_file(format!("archive/data/{i}"), opts)
            .expect("zip");
        zip.write_all(s).expect("zip");
    }
    zip.start_file("archive/version", opts).expect("zip");
    zip.write_all(b"3\n").expect("zip");
    zip.finish().expect("zip");
}

fn load(path: &Path) -> Result<(Sam<TestBackend>, LoadReport), SamError> {
    Sam::<TestBackend>::new(&config(), &Default::default())?.load_checkpoint_reported(path)
}

/// The loaded model's weights, as the bytes of its own safetensors file.
fn saved_bytes(sam: &Sam<TestBackend>, dir: &Path) -> Vec<u8> {
    let path = dir.join("resaved.safetensors");
    let _ = std::fs::remove_file(&path);
    sam.save_safetensors(&path).expect("save");
    std::fs::read(&path).expect("read")
}

/// Loads `weights` stored with `dtype_of` in both formats and checks each against an F32 file
/// of the rounded values; returns the report of the safetensors load.
fn check_converted(dtype_of: impl Fn(&str) -> Dtype + Copy) -> LoadReport {
    let dir = tempfile::tempdir().expect("tmp");
    let weights = fixture_weights();
    let reference: Weights = weights
        .iter()
        .map(|(k, (s, v))| {
            let d = dtype_of(k);
            (
                k.clone(),
                (s.clone(), v.iter().map(|x| rounded(*x, d)).collect()),
            )
        })
        .collect();
    let ref_path = dir.path().join("reference.safetensors");
    write_safetensors(&ref_path, &reference, |_| Dtype::F32);
    let (reference_model, report) = load(&ref_path).expect("F32 reference loads");
    assert_eq!(report.converted, BTreeMap::new());
    let expected = saved_bytes(&reference_model, dir.path());

    let st = dir.path().join("typed.safetensors");
    write_safetensors(&st, &weights, dtype_of);
    let (sam, st_report) = load(&st).expect("typed safetensors loads");
    assert!(
        saved_bytes(&sam, dir.path()) == expected,
        "safetensors weights differ"
    );

    let pt = dir.path().join("typed.pth");
    write_torch_zip(&pt, &weights, dtype_of);
    let (sam, pt_report) = load(&pt).expect("typed pickle loads");
    assert!(
        saved_bytes(&sam, dir.path()) == expected,
        "pickle weights differ"
    );
    assert_eq!(st_report, pt_report);
    st_report
}

#[test]
fn the_handwritten_torch_zip_loads_like_the_safetensors_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let pt = dir.path().join("model.pth");
    write_torch_zip(&pt, &fixture_weights(), |_| Dtype::F32);
    let (a, _) = load(&pt).expect("pickle loads");
    let (b, _) = load(&fixtures().join("tiny_256/model.safetensors")).expect("loads");
    assert!(saved_bytes(&a, dir.path()) == saved_bytes(&b, dir.path()));
}

#[test]
fn one_f16_tensor_loads_converted_and_is_reported() {
    let key = "mask_decoder.iou_token.weight";
    let report = check_converted(|k| if k == key { Dtype::F16 } else { Dtype::F32 });
    assert_eq!(report.converted, BTreeMap::from([("F16".to_string(), 1)]));
    assert_eq!(
        report.note().as_deref(),
        Some("1 F16 tensor converted to F32")
    );
}

#[test]
fn all_f16_bf16_or_f64_checkpoints_load_converted() {
    let n = fixture_weights().len();
    for (dtype, name) in [
        (Dtype::F16, "F16"),
        (Dtype::BF16, "BF16"),
        (Dtype::F64, "F64"),
    ] {
        let report = check_converted(|_| dtype);
        assert_eq!(report.converted, BTreeMap::from([(name.to_string(), n)]));
        assert_eq!(report.model_dtype, "F32");
    }
}

#[test]
fn f64_weights_are_the_f32_values_exactly() {
    let dir = tempfile::tempdir().expect("tmp");
    let st = dir.path().join("f64.safetensors");
    write_safetensors(&st, &fixture_weights(), |_| Dtype::F64);
    let (a, _) = load(&st).expect("loads");
    let (b, _) = load(&fixtures().join("tiny_256/model.safetensors")).expect("loads");
    assert!(saved_bytes(&a, dir.path()) == saved_bytes(&b, dir.path()));
}

#[test]
fn an_integer_weight_is_an_error_naming_file_key_and_dtype() {
    let dir = tempfile::tempdir().expect("tmp");
    let key = "image_encoder.neck.0.weight";
    let dtype_of = |k: &str| if k == key { Dtype::I64 } else { Dtype::F32 };
    let st = dir.path().join("int.safetensors");
    write_safetensors(&st, &fixture_weights(), dtype_of);
    let pt = dir.path().join("int.pth");
    write_torch_zip(&pt, &fixture_weights(), dtype_of);
    for path in [st, pt] {
        let err = load(&path).expect_err("must fail");
        assert!(matches!(err, SamError::UnsupportedDtype { .. }), "{err}");
        let msg = err.to_string();
        for needle in [path.to_str().expect("utf8"), key, "I64", "F32"] {
            assert!(msg.contains(needle), "{msg:?} should name {needle:?}");
        }
    }
}
