# syntax=docker/dockerfile:1
# The project's Mercado Pago sandbox (development and staging only, never production):
#   docker build -f docker/sandbox.Dockerfile -t oficina/mercadopago-sandbox .

# The same base image as docker/service.Dockerfile, by digest (see there how to move it on).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1 \
    UV_LINK_MODE=copy
# uv, pinned with its hashes (exported from uv.lock), in a virtualenv of its own left in this stage.
COPY requirements-uv.txt /src/requirements-uv.txt
RUN python -m venv /opt/uv \
 && /opt/uv/bin/pip install --no-cache-dir --require-hashes --no-deps -r /src/requirements-uv.txt
# The sandbox's packages from the workspace's lock, hashes checked; uv reads every member's manifest.
COPY pyproject.toml uv.lock /src/
COPY libs/pyproject.toml /src/libs/
COPY os_project/pyproject.toml /src/os_project/
COPY billing_project/pyproject.toml /src/billing_project/
COPY execution_project/pyproject.toml /src/execution_project/
COPY mercadopago_sandbox/pyproject.toml /src/mercadopago_sandbox/
WORKDIR /src
RUN /opt/uv/bin/uv sync --locked --no-default-groups --no-editable --package mercadopago-sandbox \
 && /opt/uv/bin/uv pip check --python /opt/venv/bin/python

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    MERCADOPAGO_SANDBOX_DATA_FILE=/data/mercadopago_sandbox.json
RUN groupadd --system --gid 10001 oficina \
 && useradd --system --uid 10001 --gid oficina --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin oficina \
 && mkdir /data && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY mercadopago_sandbox/ /app/mercadopago_sandbox/
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8004
CMD ["python", "-m", "mercadopago_sandbox", "--host", "0.0.0.0", "--port", "8004"]
