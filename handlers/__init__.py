"""Adapters: GitLab webhooks, Slack commands/buttons, HTTP server → calls on the core."""
