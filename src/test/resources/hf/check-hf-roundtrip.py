"""The other direction: transformers loads checkpoints that lomo4j wrote and must give lomo4j's logits.

    mvn test -Dtest=TransformersGoldenTest -Dlomo4j.hf.out=/tmp/hf-out
    python check-hf-roundtrip.py /tmp/hf-out

For each of llama, qwen2 and llama3 (Llama 3's RoPE scaling): AutoModelForCausalLM.from_pretrained(dir) (the fine-tuned weights lomo4j
saved after three LOMO steps), logits on the golden batch in float64, compared with lomo4j-logits.safetensors;
and the BF16 shards lomo4j wrote of the same weights (dir-bf16-shards, with its index) must load as exactly
those weights rounded to bfloat16. Then dir-bf16, a model lomo4j trained with bf16 weights and saved as bf16:
transformers must reproduce its logits, and save_pretrained of it in bfloat16 must give back lomo4j's bits.
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM


def main(root):
    worst_all = 0.0
    for name in ("llama", "qwen2", "llama3", "qwen3"):
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

        hd = d + "-bf16"
        half = AutoModelForCausalLM.from_pretrained(hd, dtype=torch.float64, attn_implementation="eager")
        with torch.no_grad():
            logits = half(input_ids=tokens).logits
        theirs = load_file(os.path.join(hd, "lomo4j-logits.safetensors"))["logits"].double()
        worst = (logits - theirs).abs().max().item()
        worst_all = max(worst_all, worst)
        saved = load_file(os.path.join(hd, "model.safetensors"))
        dtypes = sorted({str(v.dtype) for v in saved.values()})
        again = os.path.join(root, name + "-bf16-resaved")
        AutoModelForCausalLM.from_pretrained(hd, dtype=torch.bfloat16).save_pretrained(again)
        resaved = load_file(os.path.join(again, "model.safetensors"))
        differ = [k for k, v in saved.items() if not torch.equal(v, resaved[k])]
        print(f"{name}: lomo4j's bf16-trained checkpoint ({dtypes}) in transformers: max |logit difference| {worst:.3g}; "
              f"saved again by transformers, tensors not bit-identical: {differ or 'none'}")
        if dtypes != ["torch.bfloat16"] or differ:
            sys.exit(f"FAIL: {name} bf16 round trip: dtypes {dtypes}, differing {differ}")
    if worst_all > 1e-4:
        sys.exit(f"FAIL: logits differ by {worst_all:.3g} > 1e-4")
    print("OK: transformers reproduces lomo4j's logits within 1e-4")


if __name__ == "__main__":
    main(sys.argv[1])
