//! Fuzz targets of the checkpoint loader, as capped property tests: the safetensors header
//! parser and the PyTorch pickle reader, each on `UNCERTSAM_FUZZ_CASES` inputs (100 000 by
//! default) mutated from a valid file or drawn at random. Zero panics and zero hangs.
//!
//! `.ci/run` fixes the seed (`PROPTEST_RNG_SEED`); a longer local run:
//! `UNCERTSAM_FUZZ_CASES=2000000 cargo test -p uncertsam-sam --release --test it fuzz`.
//! Failing cases are kept by proptest in `tests/it/fuzz.proptest-regressions` (committed).

use std::io::Cursor;

use proptest::prelude::*;
use uncertsam_sam::parse_safetensors_header;

use crate::fixtures;

fn fuzz_cases() -> u32 {
    std::env::var("UNCERTSAM_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: fuzz_cases(),
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    }
}

/// One edit of a byte string: flip a bit, set a byte, insert, delete, or truncate.
#[derive(Clone, Debug)]
enum Edit {
    Flip(usize, u8),
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(p, b)| Edit::Flip(p, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Set(p, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Insert(p, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Truncate),
    ];
    proptest::collection::vec(edit, 1..6)
}

fn mutate(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for e in edits {
        let n = b.len();
        match *e {
            Edit::Flip(p, bit) if n > 0 => b[p % n] ^= 1 << bit,
            Edit::Set(p, v) if n > 0 => b[p % n] = v,
            Edit::Insert(p, v) => b.insert(p % (n + 1), v),
            Edit::Delete(p) if n > 0 => {
                b.remove(p % n);
            }
            Edit::Truncate(p) => b.truncate(p % (n + 1)),
            _ => {}
        }
    }
    b
}

/// The first four entries of the tiny fixture's header (a small but real header) and the
/// length of the data they address.
fn seed_header() -> (Vec<u8>, u64) {
    let bytes = std::fs::read(fixtures().join("tiny_256/model.safetensors")).expect("weights");
    let len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + len]).expect("header");
    let mut small = serde_json::Map::new();
    let mut end = 0u64;
    for (k, v) in header
        .into_iter()
        .filter(|(k, _)| k != "__metadata__")
        .take(4)
    {
        let o: [u64; 2] = serde_json::from_value(v["data_offsets"].clone()).expect("offsets");
        end = end.max(o[1]);
        small.insert(k, v);
    }
    (serde_json::to_vec(&small).expect("json"), end)
}

fn header_inputs() -> impl Strategy<Value = (Vec<u8>, u64)> {
    let (seed, data_len) = seed_header();
    prop_oneof![
        4 => (edits(), 0u64..4).prop_map(move |(e, d)| (mutate(&seed, &e), data_len + d - 2)),
        1 => (proptest::collection::vec(any::<u8>(), 0..64), any::<u64>()),
        1 => ("[\\[\\]{}\":,0-9A-Za-z_ ]{0,96}".prop_map(String::into_bytes), 0u64..1 << 20),
    ]
}

/// A pickle like `torch.save(state_dict)`'s `data.pkl` of two tensors (protocol 2).
fn seed_pickle() -> Vec<u8> {
    fn unicode(p: &mut Vec<u8>, s: &str) {
        p.push(b'X');
        p.extend_from_slice(&(s.len() as u32).to_le_bytes());
        p.extend_from_slice(s.as_bytes());
    }
    fn int(p: &mut Vec<u8>, v: i32) {
        p.push(b'J');
        p.extend_from_slice(&v.to_le_bytes());
    }
    let mut p = vec![0x80, 2, b'}', b'('];
    for (i, (key, shape)) in [("a.weight", vec![2, 3]), ("b.bias", vec![4])]
        .into_iter()
        .enumerate()
    {
        unicode(&mut p, key);
        p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        p.push(b'(');
        unicode(&mut p, "storage");
        p.extend_from_slice(b"ctorch\nHalfStorage\n");
        unicode(&mut p, &i.to_string());
        unicode(&mut p, "cpu");
        int(&mut p, shape.iter().product());
        p.extend_from_slice(b"tQ");
        int(&mut p, 0);
        p.push(b'(');
        for d in &shape {
            int(&mut p, *d);
        }
        p.extend_from_slice(b"t(");
        for s in shape.iter().skip(1).chain([&1]) {
            int(&mut p, *s);
        }
        p.extend_from_slice(b"t\x89ccollections\nOrderedDict\n)RtR");
    }
    p.extend_from_slice(b"u.");
    p
}

fn pickle_inputs() -> impl Strategy<Value = Vec<u8>> {
    let seed = seed_pickle();
    prop_oneof![
        4 => edits().prop_map(move |e| mutate(&seed, &e)),
        1 => proptest::collection::vec(any::<u8>(), 0..64),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_safetensors_header((header, data_len) in header_inputs()) {
        if let Ok(tensors) = parse_safetensors_header(&header, data_len) {
            for t in tensors.values() {
                prop_assert!(!t.dtype.is_empty());
            }
        }
    }

    #[test]
    fn fuzz_pickle_reader(bytes in pickle_inputs()) {
        if let Ok(reader) = burn_store::pytorch::PytorchReader::from_reader(Cursor::new(bytes), None) {
            for t in reader.tensors().values() {
                let _ = t.to_data();
            }
        }
    }
}
