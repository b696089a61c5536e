"""The team's HTTP handlers, built on lambda-manifest's HTTP toolkit."""
