"""A tiny random-weight llama-architecture GGUF for tests, the self-test and the editor's browser tests.

It loads in llama-cpp-python in a fraction of a second and goes through the exact code path a real model
does (chat template from the metadata, grammar-constrained sampling). Its replies are schema-shaped
garbage: random strings, absurd numbers, replies cut off by `max_tokens`. That makes it a fuzzer for the
parsing, validation and repair layers, not a planner.

The vocabulary is SentencePiece style (llama.cpp refuses a BPE vocabulary without merges): `<unk>`, `<s>`,
`</s>`, the 256 byte tokens `<0x00>`..`<0xFF>` (so anything the grammar allows can be spelled), every
printable ASCII character, and the prefixes of the words of FlowDrafter's prompt templates, so a prompt
takes a few tokens per word instead of one per byte and the CPU-only tests stay fast.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from flowdrafter.core.atomic import atomic_path

from flowdrafter.planners.templates import PROMPTS_DIR

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

N_EMBD, N_HEAD, N_FF, N_LAYER, N_CTX = 64, 4, 128, 2, 32768


def _word_pieces() -> list[str]:
    """Printable ASCII, then every prefix of every word of the templates (SentencePiece merges pieces
    pairwise, so a word becomes one token only if all its prefixes are tokens too)."""
    pieces = dict.fromkeys(chr(c) for c in range(33, 127))
    pieces["\u2581"] = None  # SentencePiece's space
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(PROMPTS_DIR.iterdir(), key=lambda p: p.name) if p.name.endswith(".txt"))
    for word in re.findall(r" ?[A-Za-z]+|[^\sA-Za-z]{1,3}", text):
        word = word.replace(" ", "\u2581")
        for i in range(2, len(word) + 1):
            pieces[word[:i]] = None
    return list(pieces)


def write_tiny_gguf(path: Path | str, *, seed: int = 0) -> Path:
    """Write the model to `path` (atomically) and return it; use it with `Settings(llm=str(path))`."""
    import gguf

    path = Path(path)
    rng = np.random.default_rng(seed)
    words = _word_pieces()
    tokens: list[bytes] = [b"<unk>", b"<s>", b"</s>"] + [f"<0x{i:02X}>".encode() for i in range(256)]
    tokens += [w.encode("utf-8") for w in words]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + [gguf.TokenType.BYTE] * 256
    types += [gguf.TokenType.NORMAL] * len(words)
    scores = [0.0] * 259 + [float(len(w)) for w in words]  # longer pieces merge first
    n_vocab = len(tokens)

    def weight(*shape: int, std: float = 0.02) -> np.ndarray:
        return rng.normal(0.0, std, size=shape).astype(np.float32)

    with atomic_path(path) as tmp:
        w = gguf.GGUFWriter(str(tmp), "llama")
        w.add_name("flowdrafter-tiny-random")
        w.add_context_length(N_CTX)
        w.add_embedding_length(N_EMBD)
        w.add_block_count(N_LAYER)
        w.add_feed_forward_length(N_FF)
        w.add_head_count(N_HEAD)
        w.add_head_count_kv(N_HEAD)
        w.add_rope_dimension_count(N_EMBD // N_HEAD)
        w.add_layer_norm_rms_eps(1e-5)
        w.add_file_type(gguf.LlamaFileType.ALL_F32)
        w.add_tokenizer_model("llama")
        w.add_token_list(tokens)
        w.add_token_scores(scores)
        w.add_token_types(types)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_add_bos_token(False)
        w.add_add_space_prefix(False)
        w.add_chat_template(CHAT_TEMPLATE)

        w.add_tensor("token_embd.weight", weight(n_vocab, N_EMBD, std=1.0))
        for i in range(N_LAYER):
            w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
            for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
                w.add_tensor(f"blk.{i}.{name}.weight", weight(N_EMBD, N_EMBD))
            w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
            w.add_tensor(f"blk.{i}.ffn_gate.weight", weight(N_FF, N_EMBD))
            w.add_tensor(f"blk.{i}.ffn_up.weight", weight(N_FF, N_EMBD))
            w.add_tensor(f"blk.{i}.ffn_down.weight", weight(N_EMBD, N_FF))
        w.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        w.add_tensor("output.weight", weight(n_vocab, N_EMBD, std=0.5))

        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    return path


if __name__ == "__main__":  # python tests/builders/tiny_gguf.py OUT.gguf
    import sys

    print(write_tiny_gguf(sys.argv[1] if len(sys.argv) > 1 else "tiny.gguf"))
