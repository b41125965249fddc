from .bundled import BUNDLED_MODEL_ID, bundled_gguf_path, ensure_bundled_model

__all__ = ["BUNDLED_MODEL_ID", "bundled_gguf_path", "ensure_bundled_model"]
