#!/usr/bin/env python3
"""Write random-weight llama-architecture GGUF models for tests and benchmarks.

No real weights can be downloaded here, so tests build their own models: the shapes, the
tokenizer (SentencePiece-style with byte fallback) and the chat template are real, the weights
are seeded random numbers. The same command always writes the same bytes.

  gguf_fixtures.py tiny OUT_DIR
      tiny-llama-f32.gguf and tiny-llama-q8_0.gguf: 2 layers, d_model 64, 512-token vocabulary,
      ChatML template with tool support. Used by the test suite (a few hundred KB each).
  gguf_fixtures.py tinyllama-shape OUT.gguf --type q4_0|q8_0|f16
      A model with TinyLlama-1.1B's shape (22 layers, d_model 2048, 32000 tokens) for benchmarks.
"""

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import gguf

CHATML_TOOLS_TEMPLATE = (
    "{%- if tools %}"
    "{{- '<|im_start|>system\\n' }}"
    "{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] + '\\n\\n' }}{%- endif %}"
    "{{- 'You may call these tools:\\n<tools>\\n' }}"
    "{%- for tool in tools %}{{- tool | tojson }}{{- '\\n' }}{%- endfor %}"
    "{{- '</tools>\\nAnswer a call as <tool_call>{\"name\": ..., \"arguments\": ...}</tool_call><|im_end|>\\n' }}"
    "{%- elif messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'system' %}"
    "{%- elif message['role'] == 'tool' %}"
    "{{- '<|im_start|>user\\n<tool_response>\\n' + message['content'] + '\\n</tool_response><|im_end|>\\n' }}"
    "{%- elif message['role'] == 'assistant' and message.tool_calls %}"
    "{{- '<|im_start|>assistant\\n' }}{%- if message.content %}{{- message.content }}{%- endif %}"
    "{%- for call in message.tool_calls %}"
    "{{- '<tool_call>\\n{\"name\": \"' + call.function.name + '\", \"arguments\": ' + (call.function.arguments | tojson) + '}\\n</tool_call>' }}"
    "{%- endfor %}{{- '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

WORDS = (
    "the a an and or of to in is it you that he was for on are with as I his they be at one "
    "have this from by hot word but what some we can out other were all there when up use your "
    "how said each she which do their time if will way about many then them write would like so "
    "these her long make thing see him two has look more day could go come did number sound no "
    "most people my over know water than call first who may down side been now find hello world "
    "order refund account password help ticket support invoice payment card"
).split()


def build_vocab(size: int) -> tuple[list[str], list[float], list[int]]:
    """SentencePiece-style vocabulary: specials, 256 byte tokens, then pieces with scores."""
    tokens = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    types = [gguf.TokenType.UNKNOWN] + [gguf.TokenType.CONTROL] * 4
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    pieces: list[str] = ["\u2581"]
    pieces += [chr(c) for c in range(33, 127)]
    pieces += ["\u2581" + chr(c) for c in range(33, 127)]
    for w in WORDS:
        # Every prefix of a word piece must exist for SentencePiece's greedy merges to reach it.
        for end in range(2, len(w) + 1):
            pieces.append("\u2581" + w[:end])
    # Filler pieces for large vocabularies: letter pairs, then word-initial triples and so on,
    # prefixes first so that SentencePiece merges can reach the longer ones.
    letters = "etaoinshrdlucmfwypvbgkqjxz"
    length = 2
    while len(pieces) < size + 512 and length <= 5:
        for combo in itertools.product(letters, repeat=length):
            w = "".join(combo)
            pieces.append(w)
            pieces.append("\u2581" + w)
            if len(pieces) >= size + 512:
                break
        length += 1
    seen = set(tokens)
    for p in pieces:
        if len(tokens) >= size:
            break
        if p not in seen:
            seen.add(p)
            tokens.append(p)
            types.append(gguf.TokenType.NORMAL)
    if len(tokens) < size:
        raise SystemExit(f"could not build {size} distinct tokens")
    scores = [0.0] * 261 + [-float(i) for i in range(size - 261)]
    return tokens, scores, types


def write_llama(out: Path, *, n_vocab: int, d: int, n_layer: int, n_head: int, n_head_kv: int,
                n_ff: int, n_ctx: int, qtype: str, seed: int, name: str) -> None:
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(str(out), "llama")
    w.add_name(name)
    w.add_context_length(n_ctx)
    w.add_embedding_length(d)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_rope_dimension_count(d // n_head)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(n_vocab)
    ftype = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
             "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0, "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0}[qtype]
    w.add_file_type(ftype)

    tokens, scores, types = build_vocab(n_vocab)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_eot_token_id(4)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_chat_template(CHATML_TOOLS_TEMPLATE)

    def mat(rows: int, cols: int, scale: float) -> np.ndarray:
        return (rng.standard_normal((rows, cols), dtype=np.float32) * scale).astype(np.float32)

    def add_matrix(tname: str, data: np.ndarray, kind: str) -> None:
        t = kind
        if t == "q4_0" and tname == "output.weight":
            t = "q8_0"  # llama.cpp keeps the output layer at higher precision too
        if t == "f32":
            w.add_tensor(tname, data)
        elif t == "f16":
            w.add_tensor(tname, data.astype(np.float16))
        else:
            qt = {"q8_0": gguf.GGMLQuantizationType.Q8_0, "q4_0": gguf.GGMLQuantizationType.Q4_0}[t]
            w.add_tensor(tname, gguf.quants.quantize(data, qt), raw_dtype=qt)

    s = 1.0 / np.sqrt(d)
    d_kv = d // n_head * n_head_kv
    add_matrix("token_embd.weight", mat(n_vocab, d, 1.0), qtype)
    for i in range(n_layer):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", np.ones(d, dtype=np.float32))
        add_matrix(p + "attn_q.weight", mat(d, d, s), qtype)
        add_matrix(p + "attn_k.weight", mat(d_kv, d, s), qtype)
        add_matrix(p + "attn_v.weight", mat(d_kv, d, s), qtype)
        add_matrix(p + "attn_output.weight", mat(d, d, s), qtype)
        w.add_tensor(p + "ffn_norm.weight", np.ones(d, dtype=np.float32))
        add_matrix(p + "ffn_gate.weight", mat(n_ff, d, s), qtype)
        add_matrix(p + "ffn_up.weight", mat(n_ff, d, s), qtype)
        add_matrix(p + "ffn_down.weight", mat(d, n_ff, 1.0 / np.sqrt(n_ff)), qtype)
    w.add_tensor("output_norm.weight", np.ones(d, dtype=np.float32))
    # A larger output scale gives peaked next-token distributions, so greedy decoding is not
    # decided by rounding noise.
    add_matrix("output.weight", mat(n_vocab, d, 8.0 * s), qtype)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tiny")
    t.add_argument("out_dir", type=Path)
    b = sub.add_parser("tinyllama-shape")
    b.add_argument("out", type=Path)
    b.add_argument("--type", choices=["q4_0", "q8_0", "f16"], default="q4_0")
    args = ap.parse_args()

    if args.cmd == "tiny":
        args.out_dir.mkdir(parents=True, exist_ok=True)
        for q in ("f32", "q8_0"):
            write_llama(args.out_dir / f"tiny-llama-{q}.gguf", n_vocab=512, d=64, n_layer=2,
                        n_head=4, n_head_kv=2, n_ff=128, n_ctx=512, qtype=q, seed=7,
                        name=f"tiny-llama-{q}")
    else:
        write_llama(args.out, n_vocab=32000, d=2048, n_layer=22, n_head=32, n_head_kv=4,
                    n_ff=5632, n_ctx=2048, qtype=args.type, seed=11,
                    name=f"tinyllama-shape-{args.type}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
