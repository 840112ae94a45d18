"""One Logger, Metrics (EMF on stdout) and Tracer for every function; the service name is per function."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "voicecall-functions")

logger = Logger(service=SERVICE)
# Metrics refuses to flush without a namespace; default it so a missing variable cannot turn into a 5xx.
metrics = Metrics(service=SERVICE, namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "voicecall"))
tracer = Tracer(service=SERVICE)
