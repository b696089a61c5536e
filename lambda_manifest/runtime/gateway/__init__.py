"""lambda_manifest.runtime.gateway: a serverless, OpenAI-compatible LLM gateway that runs inside AWS Lambda (stdlib + boto3)."""
