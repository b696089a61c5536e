"""Example stacks, each built only from the public ``lambda_manifest`` API, as an app team would write it."""
