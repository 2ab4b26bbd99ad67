"""Golden renderings of chat templates by transformers itself (apply_chat_template), for ChatTemplateTest.

Run from this directory with transformers installed:  python make-chat-fixtures.py
Reads templates/*.jinja (chat templates as models ship them in tokenizer_config.json) and writes golden.json:
for each template and prompt, the text apply_chat_template(messages=[user prompt], add_generation_prompt=True,
tokenize=False) renders, with the template's bos/eos tokens.
"""
import glob
import json
import os

import transformers
from transformers import PreTrainedTokenizerFast

TOKENS = {  # the bos/eos each template's model has
    "llama3": ("<|begin_of_text|>", "<|eot_id|>"),
    "qwen2.5": ("<|endoftext|>", "<|im_end|>"),
    "qwen3": ("<|endoftext|>", "<|im_end|>"),
    "zephyr": ("<s>", "</s>"),
    "llama2": ("<s>", "</s>"),
}
PROMPTS = ["What is 2+2?", "  Reverse 'abc'.\nThen stop.  ", "Say \"hi\" & <bye>"]


def main():
    tok_file = os.path.join("..", "tokenizers", "byte-level-bpe.json")
    out = []
    for path in sorted(glob.glob(os.path.join("templates", "*.jinja"))):
        name = os.path.basename(path)[:-len(".jinja")]
        bos, eos = TOKENS[name]
        tok = PreTrainedTokenizerFast(tokenizer_file=tok_file, bos_token=bos, eos_token=eos)
        tok.chat_template = open(path).read()
        for prompt in PROMPTS:
            text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
            out.append({"template": name, "bos_token": bos, "eos_token": eos, "prompt": prompt, "rendered": text})
    with open("golden.json", "w") as f:
        json.dump({"transformers": transformers.__version__, "cases": out}, f, indent=1, ensure_ascii=False)
    print(f"{len(out)} renderings")


if __name__ == "__main__":
    main()
