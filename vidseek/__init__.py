"""vidseek: self-hostable multimodal video search."""

__version__ = "0.1.0"
