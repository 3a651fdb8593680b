"""Command-line runner for the warehouse dbt project."""

__version__ = "0.1.0"
