"""Statistics for comparing search spaces over seeds, and the fitted α*–rank power law."""
