"""A real but tiny causal LM made in the test: a byte-level BPE tokenizer trained on a small
text and a 2-layer GPT-2 trained for a few steps on it (CPU, seconds, nothing downloaded)."""

from __future__ import annotations

from typing import Any

TEXT = (
    "the cat sat on the mat. the dog sat on the log. "
    "a bird sang in the tree. the sun rose over the hill. "
) * 8


def make_tiny_lm(steps: int = 30, seed: int = 0) -> tuple[Any, Any]:
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    torch.manual_seed(seed)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([TEXT], vocab_size=300, min_frequency=1, special_tokens=["<eos>"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<eos>")
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=512,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = GPT2LMHeadModel(config)
    ids = torch.tensor([tokenizer(TEXT)["input_ids"][:128]])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    return model.eval(), tokenizer
