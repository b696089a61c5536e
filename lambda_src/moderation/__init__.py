"""Content moderation through the AI gateway: ``POST /moderation`` (``moderation.handler.main``) and the batch
worker ``moderation.batch:process`` (``lambda_manifest.runtime.worker`` runtime). Both call the gateway's ``moderate-text`` prompt
endpoint over HTTPS with a virtual key from Secrets Manager, and send flagged content to human review (SNS)."""
