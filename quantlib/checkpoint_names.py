"""What a checkpoint tensor is, from its name: layer index and kind, by a small table of rules.

Covers the common naming schemes: Hugging Face Llama / Mistral / Qwen
(``model.layers.3.self_attn.q_proj.weight``), BERT (``encoder.layer.3.attention.self.query.weight``),
GPT-2 (``transformer.h.3.attn.c_attn.weight``) and GGUF (``blk.3.attn_q.weight``). The first rule
whose pattern matches anywhere in the name gives the kind (so the more specific rules come first:
a BERT ``attention.output.LayerNorm`` is a norm, its ``attention.output.dense`` the attention output,
its other ``output.dense`` the MLP down projection). A name no rule matches is ``other``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class NameRule:
    """Tensors whose name matches ``pattern`` (a regular expression, searched) are of ``kind``."""

    kind: str
    pattern: str
    examples: str


#: Kinds in display order (rows of the checkpoint heatmap).
KINDS = ("embedding", "attn_q", "attn_k", "attn_v", "attn_qkv", "attn_o", "mlp_gate", "mlp_up", "mlp_down",
         "norm", "lm_head", "other")

RULES: tuple[NameRule, ...] = (
    NameRule("norm", r"(?i)(norm|(^|\.)ln_(\d+|f)\.)", "input_layernorm, post_attention_layernorm, LayerNorm, ln_1, ln_f, attn_norm"),
    NameRule("embedding", r"(embed_tokens|word_embeddings|position_embeddings|token_type_embeddings|(^|\.)wte\.|"
                          r"(^|\.)wpe\.|token_embd|tok_embeddings)", "embed_tokens, word_embeddings, wte, wpe, token_embd"),
    NameRule("lm_head", r"(lm_head|^output\.weight$)", "lm_head, output.weight (GGUF)"),
    NameRule("attn_qkv", r"(c_attn|qkv_proj|query_key_value|attn_qkv|Wqkv)", "c_attn (GPT-2), qkv_proj, query_key_value"),
    NameRule("attn_q", r"(q_proj|attention\.self\.query|attn_q\.|\.wq\.)", "q_proj, attention.self.query, attn_q"),
    NameRule("attn_k", r"(k_proj|attention\.self\.key|attn_k\.|\.wk\.)", "k_proj, attention.self.key, attn_k"),
    NameRule("attn_v", r"(v_proj|attention\.self\.value|attn_v\.|\.wv\.)", "v_proj, attention.self.value, attn_v"),
    NameRule("attn_o", r"(o_proj|attention\.output\.dense|attn\.c_proj|attn_output|\.wo\.)",
             "o_proj, attention.output.dense, attn.c_proj, attn_output"),
    NameRule("mlp_gate", r"(gate_proj|ffn_gate|feed_forward\.w1)", "gate_proj, ffn_gate"),
    NameRule("mlp_up", r"(up_proj|intermediate\.dense|mlp\.c_fc|ffn_up|feed_forward\.w3)", "up_proj, intermediate.dense, c_fc"),
    NameRule("mlp_down", r"(down_proj|output\.dense|mlp\.c_proj|ffn_down|feed_forward\.w2)",
             "down_proj, output.dense (BERT), mlp.c_proj, ffn_down"),
)

#: Where the layer index sits: ``layers.N.``, ``layer.N.``, ``h.N.``, ``blocks.N.``, ``blk.N.``.
LAYER = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks|block|blk)\.(\d+)\.")
_COMPILED = tuple((r.kind, re.compile(r.pattern)) for r in RULES)


def tensor_kind(name: str) -> str:
    """The kind of the tensor called ``name`` (one of :data:`KINDS`): the first matching rule's."""
    for kind, pattern in _COMPILED:
        if pattern.search(name):
            return kind
    return "other"


def layer_index(name: str) -> int | None:
    """The transformer block a tensor belongs to (``model.layers.12.mlp.up_proj.weight`` -> 12), or None."""
    m = LAYER.search(name)
    return int(m.group(1)) if m else None
