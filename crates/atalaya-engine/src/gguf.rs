//! A GGUF metadata reader in safe Rust: `atalaya models inspect` and the pre-load check use it
//! to describe a file (architecture, parameters, quantization, context, template) and to reject
//! a missing, truncated or corrupt file with a clear message before llama.cpp touches it.
//! Tensor data is never read, only its extent checked against the file size.

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufReader, Read, Seek, SeekFrom},
    path::Path,
};

use crate::Error;

const MAGIC: &[u8; 4] = b"GGUF";
/// Longest string a well-formed file plausibly holds (chat templates are a few KB, token
/// lists are arrays of short strings). Anything longer means corruption.
const MAX_STRING: u64 = 16 << 20;
const MAX_DIMS: u32 = 8;

/// One metadata value. Arrays keep their length and, for short ones, their values.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(String),
    /// Arrays: element count, and the values when the array is short (token lists are not
    /// kept: only their length matters for inspection).
    Array(u64, Vec<Value>),
}

impl Value {
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::U64(v) => Some(*v),
            Value::I64(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::F64(v) => Some(*v),
            Value::U64(v) => Some(*v as f64),
            Value::I64(v) => Some(*v as f64),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    pub dims: Vec<u64>,
    pub ggml_type: u32,
    pub offset: u64,
}

impl TensorInfo {
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Bytes of data, or `None` for an unknown type.
    pub fn bytes(&self) -> Option<u64> {
        let (block_bytes, block_elems) = type_block(self.ggml_type)?;
        Some(self.elements().div_ceil(block_elems) * block_bytes)
    }
}

/// What a GGUF file says about itself.
#[derive(Debug, Clone)]
pub struct GgufInfo {
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    pub file_bytes: u64,
    pub data_offset: u64,
}

impl GgufInfo {
    /// Reads and checks the header of `path`. Errors name the file and what is wrong.
    pub fn read(path: &Path) -> Result<GgufInfo, Error> {
        let bad = |problem: String| Error::ModelFile {
            path: path.display().to_string(),
            problem,
        };
        let file = File::open(path).map_err(|e| bad(format!("cannot open: {e}")))?;
        let file_bytes = file
            .metadata()
            .map_err(|e| bad(format!("cannot stat: {e}")))?
            .len();
        let mut r = Reader {
            inner: BufReader::with_capacity(1 << 16, file),
            pos: 0,
            len: file_bytes,
        };
        let mut magic = [0u8; 4];
        r.exact(&mut magic)
            .map_err(|_| bad("empty or too short to be a GGUF file".into()))?;
        if &magic != MAGIC {
            return Err(bad("not a GGUF file (bad magic number)".into()));
        }
        let version = r.u32().map_err(bad)?;
        if !(2..=3).contains(&version) {
            return Err(bad(format!("unsupported GGUF version {version}")));
        }
        let n_tensors = r.u64().map_err(bad)?;
        let n_kv = r.u64().map_err(bad)?;
        // Every entry takes at least a few bytes: counts larger than the file are corruption.
        if n_tensors > file_bytes || n_kv > file_bytes {
            return Err(bad("corrupt header (impossible tensor or key count)".into()));
        }
        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = r.string().map_err(bad)?;
            let ty = r.u32().map_err(bad)?;
            let value = r
                .value(ty, 0)
                .map_err(|e| bad(format!("key '{key}': {e}")))?;
            metadata.insert(key, value);
        }
        let mut tensors = Vec::with_capacity(usize::try_from(n_tensors.min(1 << 16)).unwrap_or(0));
        for _ in 0..n_tensors {
            let name = r.string().map_err(bad)?;
            let n_dims = r.u32().map_err(bad)?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(bad(format!("tensor '{name}' has {n_dims} dimensions")));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(r.u64().map_err(bad)?);
            }
            let ggml_type = r.u32().map_err(bad)?;
            let offset = r.u64().map_err(bad)?;
            tensors.push(TensorInfo {
                name,
                dims,
                ggml_type,
                offset,
            });
        }
        let alignment = metadata
            .get("general.alignment")
            .and_then(Value::as_u64)
            .unwrap_or(32)
            .max(1);
        let data_offset = r.pos.div_ceil(alignment) * alignment;
        for t in &tensors {
            let size = t.bytes().ok_or_else(|| {
                bad(format!(
                    "tensor '{}' has unknown type {}",
                    t.name, t.ggml_type
                ))
            })?;
            let end = data_offset
                .checked_add(t.offset)
                .and_then(|v| v.checked_add(size))
                .ok_or_else(|| bad(format!("tensor '{}' has an impossible offset", t.name)))?;
            if end > file_bytes {
                return Err(bad(format!(
                    "truncated: tensor '{}' ends at byte {end} but the file has {file_bytes} bytes",
                    t.name
                )));
            }
        }
        Ok(GgufInfo {
            version,
            metadata,
            tensors,
            file_bytes,
            data_offset,
        })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    pub fn architecture(&self) -> Option<&str> {
        self.get("general.architecture").and_then(Value::as_str)
    }

    /// An architecture-scoped key, e.g. `arch_u64("context_length")` reads `llama.context_length`.
    pub fn arch_u64(&self, key: &str) -> Option<u64> {
        let arch = self.architecture()?;
        self.get(&format!("{arch}.{key}")).and_then(Value::as_u64)
    }

    pub fn name(&self) -> Option<&str> {
        self.get("general.name").and_then(Value::as_str)
    }

    pub fn parameters(&self) -> u64 {
        self.tensors.iter().map(TensorInfo::elements).sum()
    }

    pub fn tensor_bytes(&self) -> u64 {
        self.tensors.iter().filter_map(TensorInfo::bytes).sum()
    }

    pub fn context_length(&self) -> Option<u64> {
        self.arch_u64("context_length")
    }

    pub fn chat_template(&self) -> Option<&str> {
        self.get("tokenizer.chat_template").and_then(Value::as_str)
    }

    pub fn vocab_size(&self) -> Option<u64> {
        match self.get("tokenizer.ggml.tokens") {
            Some(Value::Array(n, _)) => Some(*n),
            _ => self.arch_u64("vocab_size"),
        }
    }

    /// The file type llama.cpp records (`general.file_type`), e.g. `Q4_K_M`; otherwise the most
    /// common tensor type by bytes.
    pub fn quantization(&self) -> String {
        if let Some(ft) = self.get("general.file_type").and_then(Value::as_u64) {
            if let Some(name) = file_type_name(ft) {
                return name.to_owned();
            }
        }
        let mut by_type: BTreeMap<u32, u64> = BTreeMap::new();
        for t in &self.tensors {
            *by_type.entry(t.ggml_type).or_default() += t.bytes().unwrap_or(0);
        }
        by_type
            .into_iter()
            .max_by_key(|(_, b)| *b)
            .map(|(t, _)| type_name(t).to_owned())
            .unwrap_or_else(|| "unknown".to_owned())
    }

    /// Bytes per token of KV cache (f16 keys and values, all layers), when the shape is known.
    pub fn kv_bytes_per_token(&self) -> Option<u64> {
        let layers = self.arch_u64("block_count")?;
        let embd = self.arch_u64("embedding_length")?;
        let heads = self.arch_u64("attention.head_count")?.max(1);
        let heads_kv = self.arch_u64("attention.head_count_kv").unwrap_or(heads);
        let head_k = self
            .arch_u64("attention.key_length")
            .unwrap_or(embd / heads);
        let head_v = self
            .arch_u64("attention.value_length")
            .unwrap_or(embd / heads);
        Some(layers * heads_kv * (head_k + head_v) * 2)
    }

    /// A start-up memory estimate for a context of `kv_tokens` cells and `batch` tokens per
    /// decode: weights (memory-mapped), KV cache, and the compute buffers (dominated by the
    /// logits of a batch and the activations of the widest layer).
    pub fn memory_estimate(&self, kv_tokens: u64, batch: u64) -> MemoryEstimate {
        let weights = self.tensor_bytes();
        let kv = self.kv_bytes_per_token().unwrap_or(0) * kv_tokens;
        let vocab = self.vocab_size().unwrap_or(0);
        let ff = self
            .arch_u64("feed_forward_length")
            .or_else(|| self.arch_u64("embedding_length"))
            .unwrap_or(0);
        let compute = batch * (vocab + 4 * ff) * 4;
        MemoryEstimate {
            weights,
            kv_cache: kv,
            compute,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    pub weights: u64,
    pub kv_cache: u64,
    pub compute: u64,
}

impl MemoryEstimate {
    pub fn total(&self) -> u64 {
        self.weights + self.kv_cache + self.compute
    }
}

/// Human-readable bytes: `1.5 GiB`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Human-readable parameter count: `1.10B`, `22.7M`.
pub fn human_count(n: u64) -> String {
    let v = n as f64;
    if v >= 1e9 {
        format!("{:.2}B", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}K", v / 1e3)
    } else {
        n.to_string()
    }
}

struct Reader {
    inner: BufReader<File>,
    pos: u64,
    len: u64,
}

impl Reader {
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), String> {
        self.inner
            .read_exact(buf)
            .map_err(|_| format!("truncated header at byte {}", self.pos))?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn u8(&mut self) -> Result<u8, String> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        let mut b = [0u8; 2];
        self.exact(&mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let mut b = [0u8; 4];
        self.exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let mut b = [0u8; 8];
        self.exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn string(&mut self) -> Result<String, String> {
        let n = self.u64()?;
        if n > self.len.saturating_sub(self.pos) {
            return Err(format!(
                "truncated or corrupt: a {n}-byte string at byte {} runs past the end of the file",
                self.pos
            ));
        }
        if n > MAX_STRING {
            return Err(format!("corrupt string length {n} at byte {}", self.pos));
        }
        let mut buf = vec![0u8; n as usize];
        self.exact(&mut buf)?;
        // Token pieces of some vocabularies are not valid UTF-8: keep them lossily.
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    fn skip(&mut self, n: u64) -> Result<(), String> {
        if n > self.len.saturating_sub(self.pos) {
            return Err(format!("truncated header at byte {}", self.pos));
        }
        let delta = i64::try_from(n).map_err(|_| "corrupt length".to_owned())?;
        self.inner
            .seek(SeekFrom::Current(delta))
            .map_err(|e| e.to_string())?;
        self.pos += n;
        Ok(())
    }

    fn value(&mut self, ty: u32, depth: u32) -> Result<Value, String> {
        Ok(match ty {
            0 => Value::U64(u64::from(self.u8()?)),
            1 => Value::I64(i64::from(self.u8()? as i8)),
            2 => Value::U64(u64::from(self.u16()?)),
            3 => Value::I64(i64::from(self.u16()? as i16)),
            4 => Value::U64(u64::from(self.u32()?)),
            5 => Value::I64(i64::from(self.u32()? as i32)),
            6 => Value::F64(f64::from(f32::from_bits(self.u32()?))),
            7 => Value::Bool(self.u8()? != 0),
            8 => Value::Str(self.string()?),
            9 => {
                if depth > 2 {
                    return Err("arrays nested too deep".into());
                }
                let elem = self.u32()?;
                let n = self.u64()?;
                if n > self.len.saturating_sub(self.pos) {
                    return Err(format!("corrupt array length {n}"));
                }
                let fixed = match elem {
                    0 | 1 | 7 => Some(1),
                    2 | 3 => Some(2),
                    4..=6 => Some(4),
                    10..=12 => Some(8),
                    _ => None,
                };
                const KEEP: u64 = 64;
                match fixed {
                    Some(size) if n > KEEP => {
                        self.skip(n * size)?;
                        Value::Array(n, Vec::new())
                    }
                    _ => {
                        let mut items = Vec::new();
                        for i in 0..n {
                            let v = self.value(elem, depth + 1)?;
                            if i < KEEP {
                                items.push(v);
                            }
                        }
                        if n > KEEP {
                            items.clear();
                        }
                        Value::Array(n, items)
                    }
                }
            }
            10 => Value::U64(self.u64()?),
            11 => Value::I64(self.u64()? as i64),
            12 => Value::F64(f64::from_bits(self.u64()?)),
            other => return Err(format!("unknown value type {other}")),
        })
    }
}

/// (bytes per block, elements per block) of a ggml tensor type.
fn type_block(t: u32) -> Option<(u64, u64)> {
    Some(match t {
        0 => (4, 1),
        1 | 30 => (2, 1),
        2 => (18, 32),
        3 => (20, 32),
        6 => (22, 32),
        7 => (24, 32),
        8 => (34, 32),
        9 => (36, 32),
        10 => (84, 256),
        11 => (110, 256),
        12 => (144, 256),
        13 => (176, 256),
        14 => (210, 256),
        15 => (292, 256),
        16 => (66, 256),
        17 => (74, 256),
        18 => (98, 256),
        19 => (50, 256),
        20 => (18, 32),
        21 => (110, 256),
        22 => (82, 256),
        23 => (136, 256),
        24 => (1, 1),
        25 => (2, 1),
        26 => (4, 1),
        27 | 28 => (8, 1),
        29 => (56, 256),
        34 => (54, 256),
        35 => (66, 256),
        39 => (17, 32),
        _ => return None,
    })
}

pub fn type_name(t: u32) -> &'static str {
    match t {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        6 => "Q5_0",
        7 => "Q5_1",
        8 => "Q8_0",
        9 => "Q8_1",
        10 => "Q2_K",
        11 => "Q3_K",
        12 => "Q4_K",
        13 => "Q5_K",
        14 => "Q6_K",
        15 => "Q8_K",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        30 => "BF16",
        34 => "TQ1_0",
        35 => "TQ2_0",
        39 => "MXFP4",
        _ => "unknown",
    }
}

fn file_type_name(ft: u64) -> Option<&'static str> {
    Some(match ft {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4_MOE",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn put_str(buf: &mut Vec<u8>, s: &str) {
        buf.extend((s.len() as u64).to_le_bytes());
        buf.extend(s.as_bytes());
    }

    /// A minimal GGUF: two metadata keys and one F32 tensor of 4 elements.
    fn tiny(truncate_data: bool) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(b"GGUF");
        b.extend(3u32.to_le_bytes());
        b.extend(1u64.to_le_bytes());
        b.extend(2u64.to_le_bytes());
        put_str(&mut b, "general.architecture");
        b.extend(8u32.to_le_bytes());
        put_str(&mut b, "llama");
        put_str(&mut b, "llama.context_length");
        b.extend(4u32.to_le_bytes());
        b.extend(2048u32.to_le_bytes());
        put_str(&mut b, "w");
        b.extend(1u32.to_le_bytes());
        b.extend(4u64.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        while b.len() % 32 != 0 {
            b.push(0);
        }
        let data = if truncate_data { 8 } else { 16 };
        b.extend(vec![0u8; data]);
        b
    }

    fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[test]
    fn reads_metadata_and_tensors() {
        let f = write(&tiny(false));
        let info = GgufInfo::read(f.path()).unwrap();
        assert_eq!(info.architecture(), Some("llama"));
        assert_eq!(info.context_length(), Some(2048));
        assert_eq!(info.parameters(), 4);
        assert_eq!(info.tensor_bytes(), 16);
        assert_eq!(info.quantization(), "F32");
    }

    #[test]
    fn rejects_truncated_and_foreign_files() {
        let f = write(&tiny(true));
        let e = GgufInfo::read(f.path()).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");

        let f = write(b"PK\x03\x04 not a model");
        let e = GgufInfo::read(f.path()).unwrap_err().to_string();
        assert!(e.contains("not a GGUF file"), "{e}");

        let f = write(b"");
        assert!(GgufInfo::read(f.path()).is_err());

        let e = GgufInfo::read(Path::new("/nonexistent/model.gguf"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot open"), "{e}");
    }

    #[test]
    fn every_truncation_point_is_an_error_not_a_panic() {
        let full = tiny(false);
        for cut in 0..full.len() {
            let f = write(&full[..cut]);
            assert!(GgufInfo::read(f.path()).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn humanized_sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        assert_eq!(human_count(1_100_048_384), "1.10B");
        assert_eq!(human_count(22_700_000), "22.7M");
    }
}
