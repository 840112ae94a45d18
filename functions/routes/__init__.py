"""HTTP routes, one Router per Lambda function (see serverless.yml)."""
