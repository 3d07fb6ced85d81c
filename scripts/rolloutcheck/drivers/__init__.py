"""mlflow's own CLI (`mlflow run`, `mlflow models serve`), what differs between versions, and the
scripts run inside a cell's env (inenv/).
"""
