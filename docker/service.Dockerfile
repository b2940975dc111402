# syntax=docker/dockerfile:1
# One image per Oficina service, built from the repository root:
#   docker build -f docker/service.Dockerfile --build-arg SERVICE=billing -t oficina/billing .
# SERVICE is os, billing or execution. The same image runs the web process (the default CMD,
# gunicorn), the Celery worker and beat: the orchestrator (compose, Kubernetes) chooses by command.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN case "${SERVICE}" in os|billing|execution) ;; \
      *) echo "build with --build-arg SERVICE=os|billing|execution (got '${SERVICE}')" >&2; exit 1 ;; esac
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY libs/ /src/libs/
COPY ${SERVICE}_project/requirements.txt /src/service-requirements.txt
COPY docker/requirements-runtime.txt /src/requirements-runtime.txt
# The services' requirements.txt also list their test tools; those stay out of the image.
RUN grep -v -i -E '^(pytest|moto)' /src/service-requirements.txt > /src/requirements.txt \
 && pip install --no-cache-dir /src/libs -r /src/requirements.txt -r /src/requirements-runtime.txt \
 && pip check

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
