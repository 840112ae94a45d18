"""AWS Lambda handlers: token issuance, session logs, analytics, LiveKit webhooks."""
