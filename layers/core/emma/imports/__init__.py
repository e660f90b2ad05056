"""Importing a shop's history (customers and orders) from its export files."""
