//! Byte-stable safetensors files: burn-store writes the `__metadata__` map of a safetensors
//! header in hash order, so saving the same weights twice can give different bytes.
//! [`sort_safetensors_header`] rewrites the header with its keys sorted, same length.

use std::collections::BTreeMap;
use std::path::Path;

use crate::SamError;
use crate::weights::file_err as err;

/// Rewrites the JSON header of the safetensors file `path` with its tensor keys and its
/// `__metadata__` keys in sorted order, padded with spaces (which the format allows) to its old
/// length; the tensor data are not touched. The file is replaced atomically.
pub fn sort_safetensors_header(path: &Path) -> Result<(), SamError> {
    let bytes = std::fs::read(path).map_err(|e| err(path, e))?;
    let n = bytes
        .get(..8)
        .and_then(|h| <[u8; 8]>::try_from(h).ok())
        .map(|h| u64::from_le_bytes(h) as usize)
        .ok_or_else(|| err(path, "shorter than a safetensors header"))?;
    let header = bytes
        .get(8..8usize.saturating_add(n))
        .ok_or_else(|| err(path, format!("header of {n} bytes runs past the end")))?;
    let mut map: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|e| err(path, format!("header: {e}")))?;
    if let Some(meta) = map.remove("__metadata__") {
        let sorted: BTreeMap<String, serde_json::Value> =
            serde_json::from_value(meta).map_err(|e| err(path, format!("__metadata__: {e}")))?;
        let sorted = serde_json::to_value(sorted).map_err(|e| err(path, e))?;
        map.insert("__metadata__".into(), sorted);
    }
    let mut text = serde_json::to_vec(&map).map_err(|e| err(path, e))?;
    if text.len() > n {
        return Err(err(
            path,
            format!("sorted header is {} bytes, the file's {n}", text.len()),
        ));
    }
    text.resize(n, b' ');
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..8]);
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[8 + n..]);
    let tmp = path.with_extension("sorting");
    std::fs::write(&tmp, &out).map_err(|e| err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| err(path, e))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use safetensors::{Dtype, SafeTensors, tensor::TensorView};

    use super::*;

    fn file_with_metadata(order_seed: usize) -> Vec<u8> {
        let a: Vec<u8> = [1.0f32, 2.0, 3.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let b: Vec<u8> = [4.0f32].iter().flat_map(|v| v.to_le_bytes()).collect();
        let views = vec![
            ("w", TensorView::new(Dtype::F32, vec![3], &a).unwrap()),
            ("b", TensorView::new(Dtype::F32, vec![1], &b).unwrap()),
        ];
        let mut meta = HashMap::new();
        let keys = ["producer", "format", "version", "extra"];
        for i in 0..keys.len() {
            let k = keys[(i + order_seed) % keys.len()];
            meta.insert(k.to_string(), format!("value of {k}"));
        }
        safetensors::serialize(views, Some(meta)).unwrap()
    }

    #[test]
    fn sorting_gives_one_byte_string_and_keeps_every_tensor() {
        let dir = tempfile::tempdir().unwrap();
        let mut outputs = Vec::new();
        for seed in 0..4 {
            let p = dir.path().join(format!("{seed}.safetensors"));
            let original = file_with_metadata(seed);
            std::fs::write(&p, &original).unwrap();
            sort_safetensors_header(&p).unwrap();
            let sorted = std::fs::read(&p).unwrap();
            assert_eq!(sorted.len(), original.len());
            let (a, b) = (
                SafeTensors::deserialize(&original).unwrap(),
                SafeTensors::deserialize(&sorted).unwrap(),
            );
            for name in ["w", "b"] {
                assert_eq!(
                    a.tensor(name).unwrap().data(),
                    b.tensor(name).unwrap().data()
                );
            }
            let (_, meta) = SafeTensors::read_metadata(&sorted).unwrap();
            assert_eq!(meta.metadata().as_ref().map(HashMap::len), Some(4));
            sort_safetensors_header(&p).unwrap();
            assert_eq!(
                std::fs::read(&p).unwrap(),
                sorted,
                "sorting twice changed the file"
            );
            outputs.push(sorted);
        }
        assert!(outputs.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn a_truncated_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("short.safetensors");
        std::fs::write(&p, [1u8, 2, 3]).unwrap();
        let e = sort_safetensors_header(&p).unwrap_err().to_string();
        assert!(e.contains("short.safetensors"), "{e}");
    }
}
