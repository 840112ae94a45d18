"""DynamoDB access. Tables are defined only in serverless.yml; names come from settings."""
