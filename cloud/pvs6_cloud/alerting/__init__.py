"""Alerting: the rules, an alert's lifecycle, evidence and costs, and the mail."""
