"""Loaded first by pytest (``-p testenv`` in pytest.ini), before Django reads its settings.

The suite has its own Redis database (12) so it never takes another suite's (or a running
system's) messages, whatever the shell exported.
"""
import os

os.environ["CELERY_BROKER_URL"] = os.environ.get("EXECUTION_TEST_BROKER_URL", "redis://127.0.0.1:6379/12")
os.environ["DYNAMODB_TABLE_PREFIX"] = "exec_test_"
os.environ["DEBUG"] = "true"
os.environ["LOG_JSON"] = "false"
os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
os.environ.pop("CELERY_TASK_ALWAYS_EAGER", None)
