"""Automation rules: event → conditions → actions."""
