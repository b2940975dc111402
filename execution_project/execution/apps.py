from django.apps import AppConfig


class ExecutionConfig(AppConfig):
    name = "execution"
    verbose_name = "Execution (saga orchestrator and work queue)"

    def ready(self) -> None:
        from oficina_common import schema  # noqa: F401  (registers the OpenAPI extension for the JWT authentication)
