"""lambda-manifest: AWS CDK constructs that turn a Lambda function into a production service.

The public API is what this module exports.
"""

from lambda_manifest._validation import PropsError
from lambda_manifest.compliance import ALL_PACKS, Pack, acknowledge, apply_compliance_packs
from lambda_manifest.observed_function import ObservedFunction
from lambda_manifest.shared import StackResources

__all__ = [
    "ALL_PACKS",
    "ObservedFunction",
    "Pack",
    "PropsError",
    "StackResources",
    "acknowledge",
    "apply_compliance_packs",
]

__version__ = "0.1.0"
