"""JSON schemas of KEDA's two kinds the manifests use (keda.sh/v1alpha1 ScaledObject and
TriggerAuthentication), written from KEDA's specification (keda.sh/docs, "ScaledObject
specification", "Authentication", the redis, aws-sqs-queue and cpu scalers) for the fields an
Oficina manifest may set: kubernetes-validate knows only the built-in kinds, and a misspelt key in
a custom resource is otherwise accepted by the API server and ignored by KEDA."""
from __future__ import annotations

from typing import Any

import jsonschema

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                   "namespace": {"type": "string"}, "labels": _STRING_MAP, "annotations": _STRING_MAP},
    "additionalProperties": False,
}
_NUMBER_STRING = {"type": "string", "pattern": r"^[0-9]+$"}
# What each trigger type reads from its metadata: every value a string (KEDA parses them).
_TRIGGER_METADATA = {
    "redis": {"required": ["listName", "listLength"],
              "keys": ["address", "addressFromEnv", "host", "port", "passwordFromEnv", "usernameFromEnv",
                       "listName", "listLength", "activationListLength", "enableTLS", "unsafeSsl",
                       "databaseIndex"]},
    "aws-sqs-queue": {"required": ["queueURL", "awsRegion"],
                      "keys": ["queueURL", "queueURLFromEnv", "queueLength", "activationQueueLength",
                               "awsRegion", "awsEndpoint", "identityOwner", "scaleOnInFlight", "scaleOnDelayed"]},
    "cpu": {"required": ["value"], "keys": ["value", "type", "containerName"]},
}
_NUMERIC_KEYS = {"listLength", "activationListLength", "databaseIndex", "queueLength", "activationQueueLength",
                 "value", "port"}
_BOOLEAN_KEYS = {"enableTLS", "unsafeSsl", "scaleOnInFlight", "scaleOnDelayed"}


def _trigger(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    properties = {key: (_NUMBER_STRING if key in _NUMERIC_KEYS
                        else {"enum": ["true", "false"]} if key in _BOOLEAN_KEYS else {"type": "string"})
                  for key in spec["keys"]}
    trigger: dict[str, Any] = {
        "type": "object",
        "required": ["type", "metadata"],
        "properties": {
            "type": {"const": kind},
            "name": {"type": "string"},
            "metadata": {"type": "object", "required": spec["required"], "properties": properties,
                         "additionalProperties": False},
            "authenticationRef": {"type": "object", "required": ["name"],
                                  "properties": {"name": {"type": "string"},
                                                 "kind": {"enum": ["TriggerAuthentication",
                                                                   "ClusterTriggerAuthentication"]}},
                                  "additionalProperties": False},
        },
        "additionalProperties": False,
    }
    if kind == "cpu":  # resource triggers take no authentication, and say what they measure
        trigger["required"] = ["type", "metadata", "metricType"]
        trigger["properties"]["metricType"] = {"enum": ["Utilization", "AverageValue"]}
        del trigger["properties"]["authenticationRef"]
    return trigger


def _kind(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {"apiVersion": {"const": "keda.sh/v1alpha1"}, "kind": {"const": kind},
                       "metadata": _METADATA, "spec": spec},
        "additionalProperties": False,
    }


SCALED_OBJECT = _kind("ScaledObject", {
    "type": "object",
    "required": ["scaleTargetRef", "triggers"],
    "properties": {
        "scaleTargetRef": {"type": "object", "required": ["name"],
                           "properties": {"name": {"type": "string"}, "kind": {"type": "string"},
                                          "apiVersion": {"type": "string"},
                                          "envSourceContainerName": {"type": "string"}},
                           "additionalProperties": False},
        "minReplicaCount": {"type": "integer", "minimum": 0},
        "maxReplicaCount": {"type": "integer", "minimum": 1},
        "idleReplicaCount": {"type": "integer", "minimum": 0},
        "pollingInterval": {"type": "integer", "minimum": 1},
        "cooldownPeriod": {"type": "integer", "minimum": 0},
        "advanced": {
            "type": "object",
            "properties": {
                "restoreToOriginalReplicaCount": {"type": "boolean"},
                "horizontalPodAutoscalerConfig": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "behavior": {"type": "object"}},
                    "additionalProperties": False,
                },
            },
            "additionalProperties": False,
        },
        "triggers": {"type": "array", "minItems": 1,
                     "items": {"oneOf": [_trigger(kind, spec) for kind, spec in _TRIGGER_METADATA.items()]}},
    },
    "additionalProperties": False,
})

TRIGGER_AUTHENTICATION = _kind("TriggerAuthentication", {
    "type": "object",
    "minProperties": 1,
    "properties": {
        "secretTargetRef": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["parameter", "name", "key"],
            "properties": {"parameter": {"type": "string"}, "name": {"type": "string"},
                           "key": {"type": "string"}},
            "additionalProperties": False}},
        "podIdentity": {"type": "object", "required": ["provider"],
                        "properties": {"provider": {"enum": ["none", "aws", "aws-eks", "azure-workload",
                                                             "gcp"]},
                                       "identityOwner": {"enum": ["keda", "workload"]},
                                       "roleArn": {"type": "string"}},
                        "additionalProperties": False},
    },
    "additionalProperties": False,
})

SCHEMAS = {"ScaledObject": SCALED_OBJECT, "TriggerAuthentication": TRIGGER_AUTHENTICATION}


def is_keda(obj: dict[str, Any]) -> bool:
    return obj.get("apiVersion", "").startswith("keda.sh/")


def validate(obj: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError for a KEDA object that KEDA would not read as written."""
    schema = SCHEMAS.get(obj["kind"])
    if schema is None:
        raise jsonschema.ValidationError(f"no schema for the KEDA kind {obj['kind']}")
    jsonschema.Draft202012Validator(schema).validate(obj)
