"""The other direction: transformers loads checkpoints that lomo4j wrote and must give lomo4j's logits.

    mvn test -Dtest=TransformersGoldenTest -Dlomo4j.hf.out=/tmp/hf-out
    python check-hf-roundtrip.py /tmp/hf-out

For each of llama and qwen2: AutoModelForCausalLM.from_pretrained(dir) (the fine-tuned weights lomo4j
saved after three LOMO steps), logits on the golden batch in float64, compared with lomo4j-logits.safetensors;
and the BF16 shards lomo4j wrote of the same weights (dir-bf16-shards, with its index) must load as exactly
those weights rounded to bfloat16.
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM


def main(root):
    worst_all = 0.0
    for name in ("llama", "qwen2"):
        d = os.path.join(root, name)
        golden = json.load(open(os.path.join(d, "golden.json")))
        model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float64, attn_implementation="eager")
        tokens = torch.tensor(golden["tokens"]).view(golden["batch"], golden["seq"])
        with torch.no_grad():
            logits = model(input_ids=tokens).logits
        theirs = load_file(os.path.join(d, "lomo4j-logits.safetensors"))["logits"].double()
        worst = (logits - theirs).abs().max().item()
        worst_all = max(worst_all, worst)
        print(f"{name}: {type(model).__name__} loaded from lomo4j's checkpoint; max |logit difference| {worst:.3g}")

        sharded = AutoModelForCausalLM.from_pretrained(d + "-bf16-shards", dtype=torch.bfloat16)
        f32 = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).state_dict()
        mismatched = [k for k, v in sharded.state_dict().items() if not torch.equal(v, f32[k].to(torch.bfloat16))]
        shard_files = sorted(f for f in os.listdir(d + "-bf16-shards") if f.startswith("model-"))
        print(f"{name}: {len(shard_files)} BF16 shards + index loaded; tensors not equal to round(f32): {mismatched or 'none'}")
        if mismatched:
            sys.exit(f"FAIL: {name} BF16 shards differ from the rounded weights: {mismatched}")
    if worst_all > 1e-4:
        sys.exit(f"FAIL: logits differ by {worst_all:.3g} > 1e-4")
    print("OK: transformers reproduces lomo4j's logits within 1e-4")


if __name__ == "__main__":
    main(sys.argv[1])
