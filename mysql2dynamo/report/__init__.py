"""The migration report: what happened, recorded while it happens (`recorder`), drawn as one
self-contained HTML page (`page`), with the key-design pictures of `keymap analyze`."""
