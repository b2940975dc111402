# syntax=docker/dockerfile:1
# One image per Oficina service, built from the repository root:
#   docker build -f docker/service.Dockerfile --build-arg SERVICE=billing -t oficina/billing .
# SERVICE is os, billing or execution. The same image runs the web process (the default CMD,
# gunicorn), the Celery worker and beat: the orchestrator (compose, Kubernetes) chooses by command.

# The base image by digest: a tag moves, a digest does not. This is the multi-architecture index of
# python:3.11.14-slim-bookworm; to move on, take the new index digest from
# `docker buildx imagetools inspect python:3.11-slim-bookworm` (the "Digest:" line) and update both
# Dockerfiles (deploy_tests/test_docker_images.py checks every FROM is pinned so).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1 \
    UV_LINK_MODE=copy
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN case "${SERVICE}" in os|billing|execution) ;; \
      *) echo "build with --build-arg SERVICE=os|billing|execution (got '${SERVICE}')" >&2; exit 1 ;; esac
# uv, pinned with its hashes (exported from uv.lock), in a virtualenv of its own left in this stage.
COPY requirements-uv.txt /src/requirements-uv.txt
RUN python -m venv /opt/uv \
 && /opt/uv/bin/pip install --no-cache-dir --require-hashes --no-deps -r /src/requirements-uv.txt
# The workspace (its manifests and the one lock) and libs/: the service's packages come from uv.lock,
# hashes checked, and --locked refuses a lock older than the manifests. No test tools: they are
# dependency groups, and none is installed here.
COPY pyproject.toml uv.lock /src/
COPY os_project/pyproject.toml /src/os_project/
COPY billing_project/pyproject.toml /src/billing_project/
COPY execution_project/pyproject.toml /src/execution_project/
COPY mercadopago_sandbox/pyproject.toml /src/mercadopago_sandbox/
COPY libs/ /src/libs/
WORKDIR /src
RUN /opt/uv/bin/uv sync --locked --no-default-groups --no-editable --package "oficina-${SERVICE}" \
 && /opt/uv/bin/uv pip check --python /opt/venv/bin/python

FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
ARG VERSION=dev
LABEL org.opencontainers.image.title="oficina-${SERVICE}" \
      org.opencontainers.image.version="${VERSION}"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    OFICINA_SERVICE=${SERVICE} \
    DJANGO_SETTINGS_MODULE=config.settings_production \
    STATIC_ROOT=/app/staticfiles \
    PORT=8000
RUN groupadd --system --gid 10001 oficina \
 && useradd --system --uid 10001 --gid oficina --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin oficina
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY ${SERVICE}_project/ /app/
COPY docker/gunicorn.conf.py /etc/oficina/gunicorn.conf.py
# Static files are collected at build time: the root filesystem is read-only at run time.
# The development settings are enough for collectstatic (it needs no secret and no database).
RUN python -m compileall -q /app \
 && DJANGO_SETTINGS_MODULE=config.settings python manage.py collectstatic --noinput --verbosity 0
USER 10001:10001
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--config", "/etc/oficina/gunicorn.conf.py"]
