# The tiny random model and chat files of the engine tests serve the evaluation engine too.
from tests.workers.conftest import chat_files, tiny_model_dir  # noqa: F401
