"""An OpenAI-protocol server for tests and benchmarks: the paid cloud's wire protocol, not a patched client.

Chat completions stream a deterministic reply, transcriptions return a scripted text (and record what
audio arrived), speech is synthesised with espeak-ng. Delays and failures are set per test through
``/_control``.
"""
