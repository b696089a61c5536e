"""The team's job processing: ``jobs.worker:process`` runs under lambda-manifest's worker runtime."""
