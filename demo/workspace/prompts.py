"""Prompts for a small evaluation run. Hover any string to see how each tokenizer splits it."""

SYSTEM_PROMPT = "You are a careful assistant. Answer in one short paragraph."

FEW_SHOT = [
    ("What is the capital of France?", "Paris is the capital of France."),
    ("Translate 'good morning' to German.", "Guten Morgen."),
]

EDGE_CASES = {
    "digits": "The year 2024 had 366 days; 12345678 is a long number.",
    "emoji": "Launch day 🚀🎉 — congrats to the team 👩‍💻!",
    "code": "def add(a, b):\n    return a + b",
    "multilingual": "東京は日本の首都です。 Привет, мир! مرحبا",
    "special": "<|begin_of_text|>Hello<|eot_id|>",
}

LONG_DOC = """Tokenizers turn text into integer ids. A byte-level BPE tokenizer such as the ones used by
GPT-4o, Llama 3 and Qwen3 starts from the 256 bytes and merges frequent pairs; a SentencePiece tokenizer such as
Gemma's marks word starts with ▁ and falls back to bytes for rare characters. The same sentence can cost a very
different number of tokens depending on the tokenizer, which matters for context length and for price."""
