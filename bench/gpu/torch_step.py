"""PyTorch eager, the peer of bench/gpu/measure: the same model (a Hugging Face config.json, fresh weights) trained with
the same math as an unclipped LOMO step, forward, backward, then p -= lr * grad for every weight, in fp32 on the GPU
(or the CPU where there is none). Prints one line: tokens/s over the timed steps, and the peak memory PyTorch
allocated. Usage: python3 torch_step.py CONFIG BATCH SEQ STEPS"""
import sys
import time

import torch
from transformers import AutoConfig, AutoModelForCausalLM

config_path, batch, seq, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
device = "cuda" if torch.cuda.is_available() else "cpu"
torch.manual_seed(0)
model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(config_path), dtype=torch.float32).to(device)
model.train()
tokens = torch.randint(0, 259, (batch, seq), device=device)  # byte tokens, as lomo4j's synthetic data
lr = 1e-3


def step():
    loss = model(input_ids=tokens, labels=tokens).loss
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(p.grad, alpha=-lr)
            p.grad = None
    return loss


def sync():
    if device == "cuda":
        torch.cuda.synchronize()


for _ in range(2):  # warm-up: allocator, cuBLAS handles, kernel selection
    step()
sync()
if device == "cuda":
    torch.cuda.reset_peak_memory_stats()
start = time.perf_counter()
for _ in range(steps):
    loss = step()
sync()
seconds = time.perf_counter() - start
peak = torch.cuda.max_memory_allocated() if device == "cuda" else 0
print(f"torch eager {device} {config_path} {batch}x{seq}: {batch * seq * steps / seconds:.0f} tok/s, "
      f"{1000 * seconds / steps:.1f} ms/step, loss {loss.item():.4f}, peak allocated {peak / 2**20:.0f} MiB")
