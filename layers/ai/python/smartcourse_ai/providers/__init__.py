"""Model providers: the interfaces (``base``), the packaged embedder, the extractive and the OpenAI-compatible
generators, and the registry that picks them from the settings."""
