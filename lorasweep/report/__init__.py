"""Reports: the summary numbers, the terminal table, the HTML page and optuna-dashboard."""
