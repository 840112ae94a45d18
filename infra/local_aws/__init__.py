"""Local stand-in for AWS: moto's server plus the DynamoDB tables defined in serverless.yml.

The tables are never described here: they are taken from the framework's resolved configuration
(``osls print``) or from a packaged CloudFormation template, and created through moto's CloudFormation,
so serverless.yml stays the one definition.
"""

from infra.local_aws.server import LocalAws, start_local_aws
from infra.local_aws.tables import create_resources, local_resources, packaged_template, resolved_resources

__all__ = [
    "LocalAws",
    "create_resources",
    "local_resources",
    "packaged_template",
    "resolved_resources",
    "start_local_aws",
]
