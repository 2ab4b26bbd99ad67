"""Golden files from Hugging Face transformers itself (llm.c's idea): tiny random LlamaForCausalLM and
Qwen2ForCausalLM checkpoints, saved with save_pretrained, and for one fixed batch their logits, loss and
every parameter's gradient, computed in float64 from the saved float32 weights.

Run from this directory with torch and transformers installed (CPU is enough):
    python make-hf-fixtures.py [NAME ...]
Writes <name>/ (config.json, generation_config.json, model.safetensors as transformers saves them) and
<name>/golden.safetensors + <name>/golden.json (tokens, targets, loss) for name in llama, qwen2, llama3, qwen3 (or the names given).
"""
import json
import os

import torch
import transformers
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM

SHAPE = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, vocab_size=64, max_position_embeddings=64, rms_norm_eps=1e-5,
             bos_token_id=1, eos_token_id=2)
MODELS = {
    "llama": (LlamaForCausalLM, LlamaConfig(**SHAPE, rope_theta=10000.0, tie_word_embeddings=False)),
    "qwen2": (Qwen2ForCausalLM, Qwen2Config(**SHAPE, rope_theta=1000000.0, tie_word_embeddings=True)),
    # Llama 3's RoPE scaling, with an original context short enough that the head's 4 frequencies fall in all
    # three bands (kept, smoothed, divided by the factor) within the batch's 12 positions.
    "llama3": (LlamaForCausalLM, LlamaConfig(**SHAPE, rope_theta=500000.0, tie_word_embeddings=True,
                                             rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                           "high_freq_factor": 4.0, "original_max_position_embeddings": 16})),
    # Qwen3: per-head q/k RMSNorms, and head_dim 16 where hidden_size / heads is 8 (as Qwen3-0.6B's 128 vs 64).
    "qwen3": (Qwen3ForCausalLM, Qwen3Config(**SHAPE, head_dim=16, rope_theta=1000000.0, tie_word_embeddings=True)),
}
B, T = 2, 12


def main(names):
    for name in names:
        cls, config = MODELS[name]
        torch.manual_seed(1234)
        model = cls(config).float()
        with torch.no_grad():
            # HF's init leaves norms at 1 and biases at 0; random values make every path carry gradient.
            for n, p in model.named_parameters():
                p.copy_(torch.randn_like(p) * (0.3 if p.dim() == 1 else 0.2) + (1.0 if p.dim() == 1 and (p.shape[0] == 32 or "norm" in n) else 0.0))
        model.save_pretrained(name, safe_serialization=True)

        g = torch.Generator().manual_seed(7)
        tokens = torch.randint(0, config.vocab_size, (B, T), generator=g)
        labels = torch.randint(0, config.vocab_size, (B, T), generator=g)
        labels[0, 3] = -100  # an ignored position

        oracle = cls.from_pretrained(name, dtype=torch.float64, attn_implementation="eager")
        out = oracle(input_ids=tokens, labels=labels)
        out.loss.backward()
        # transformers shifts labels inside: position i is scored on labels[i + 1]; the last position on none.
        targets = torch.cat([labels[:, 1:], torch.full((B, 1), -100)], dim=1)
        golden = {"logits": out.logits.detach().float().contiguous()}
        for pname, p in oracle.named_parameters():
            golden["grad." + pname] = p.grad.float().contiguous()
        save_file(golden, os.path.join(name, "golden.safetensors"))
        with open(os.path.join(name, "golden.json"), "w") as f:
            json.dump({"batch": B, "seq": T, "tokens": tokens.flatten().tolist(),
                       "targets": [(-1 if t < 0 else t) for t in targets.flatten().tolist()],
                       "loss": out.loss.item(), "torch": torch.__version__,
                       "transformers": transformers.__version__}, f, indent=1)
        print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, loss {out.loss.item():.6f}")


if __name__ == "__main__":
    import sys
    main(sys.argv[1:] or list(MODELS))
