"""Scheduled jobs of the team."""
