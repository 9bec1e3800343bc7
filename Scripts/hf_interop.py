#!/usr/bin/env python3
"""Load a cllm checkpoint directory with Hugging Face transformers and run token ids through it.

Proves the interop claim: a cllm checkpoint is a GPT-2 model PyTorch loads as-is, and (with --expect)
that both sides compute the same logits.

    python Scripts/hf_interop.py runs/x/checkpoints/step-00000100 --ids 1,2,3 [--expect logits.json]

`logits.json` is {"logits": [[...], ...]}, one row of vocab_size floats per input position.
Exit status: 0 on success, 1 if the logits differ by more than --tolerance, 2 on bad input.
"""

import argparse
import json
import sys


def parse_ids(text):
    try:
        ids = [int(part) for part in text.split(",") if part.strip() != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ids must be comma-separated integers, got {text!r}")
    if not ids:
        raise argparse.ArgumentTypeError("--ids needs at least one token id")
    return ids


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="checkpoint directory (config.json + model.safetensors)")
    parser.add_argument("--ids", required=True, type=parse_ids, help="comma-separated token ids, e.g. 1,2,3")
    parser.add_argument("--expect", help="JSON file {\"logits\": [[...], ...]} to compare against")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max absolute difference allowed (default 1e-4)")
    args = parser.parse_args()

    import torch
    from transformers import GPT2LMHeadModel

    model = GPT2LMHeadModel.from_pretrained(args.checkpoint, torch_dtype=torch.float32)
    model.eval()
    config = model.config
    bad = [i for i in args.ids if not 0 <= i < config.vocab_size]
    if bad:
        print(f"token ids {bad} are outside the vocabulary (size {config.vocab_size})", file=sys.stderr)
        return 2
    if len(args.ids) > config.n_positions:
        print(f"{len(args.ids)} ids exceed the context length {config.n_positions}", file=sys.stderr)
        return 2
    # The head must really be the token embedding: a cllm checkpoint stores it once.
    if model.lm_head.weight.data_ptr() != model.transformer.wte.weight.data_ptr():
        print("lm_head is not tied to transformer.wte", file=sys.stderr)
        return 1

    with torch.no_grad():
        logits = model(torch.tensor([args.ids], dtype=torch.long)).logits[0]

    print(f"loaded {args.checkpoint}: {config.n_layer} layers, {config.n_head} heads, width {config.n_embd}, "
          f"vocab {config.vocab_size}, context {config.n_positions}")
    print(f"logits shape: {list(logits.shape)}")
    print("first values:", " ".join(f"{v:.6f}" for v in logits[0, :8].tolist()))

    if args.expect:
        with open(args.expect) as f:
            expected = torch.tensor(json.load(f)["logits"], dtype=torch.float32)
        if expected.shape != logits.shape:
            print(f"expected logits have shape {list(expected.shape)} but the model produced {list(logits.shape)}",
                  file=sys.stderr)
            return 1
        diff = (logits - expected).abs().max().item()
        print(f"max abs difference: {diff:.3e} (tolerance {args.tolerance:.0e})")
        if not diff <= args.tolerance:
            print("logits differ", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
