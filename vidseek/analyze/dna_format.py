"""What a video DNA fingerprint is, without NumPy: its version and code width. The indexer compares
the version to decide whether a video's codes are current, which a no-op re-index must do without
loading `vidseek.analyze.dna` (NumPy, Pillow and its DCT tables)."""

DNA_VERSION = "vdna1"  # change whenever a code, weight or threshold changes meaning
CODE_BITS = 96
