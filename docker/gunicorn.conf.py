"""gunicorn settings for every Oficina web container (the image's default command).

Everything can be tuned from the environment; the defaults suit a pod with one CPU.
"""
import os
import tempfile

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "25"))
# Longer than the idle timeout of whatever keeps connections open in front (an ALB's is 60 s):
# a server that closes an idle kept-alive connection first races the client's next request on it,
# which then fails with "connection reset" (seen with the benchmark's clients at 5 s).
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "200"))
# The root filesystem is read-only: worker heartbeat files go to the /tmp volume.
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR", "/tmp")  # noqa: S108 (an emptyDir / tmpfs)
# Only the load balancer / ingress reaches the pods; trust its X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "*")
accesslog = "-"
# The access log without the credentials some URLs carry (approval links, tracking codes).
logger_class = "oficina_common.access_log.RedactingLogger"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# Prometheus metrics on a port of their own (METRICS_PORT), never on the service's port: the
# ingress routes only that one, and a NetworkPolicy opens this one to the scraper alone. The master
# serves them, adding up what every worker process counted (prometheus_client's multiprocess mode:
# each worker writes its numbers under PROMETHEUS_MULTIPROC_DIR, a fresh folder when none is given).
metrics_port = int(os.environ.get("METRICS_PORT") or 0)
if metrics_port and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="oficina-metrics-")


def when_ready(server):  # noqa: ANN001, ANN201 - gunicorn's hook
    if metrics_port:
        from oficina_common.metrics import serve_metrics

        serve_metrics(metrics_port)
