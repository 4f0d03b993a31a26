"""nzarc format v1 (spec/FORMAT.md): byte layout and parsing, no cryptography.

layout (constants), limits (caps), canonical (msgpack), header, stream (STREAM segments),
member / paths (entries and names), frames (plaintext-stream frames), index.
"""
