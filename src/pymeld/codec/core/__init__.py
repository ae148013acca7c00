"""Core WebAssembly module codec: model, parser, encoder, instruction scanner/rewriter."""
