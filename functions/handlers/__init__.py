"""Lambda entry points: one module per function in serverless.yml, each resolving only its routes."""
