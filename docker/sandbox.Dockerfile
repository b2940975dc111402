# syntax=docker/dockerfile:1
# The project's Mercado Pago sandbox (development and staging only, never production):
#   docker build -f docker/sandbox.Dockerfile -t oficina/mercadopago-sandbox .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY mercadopago_sandbox/requirements.txt /src/requirements.txt
RUN pip install --no-cache-dir -r /src/requirements.txt && pip check

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
