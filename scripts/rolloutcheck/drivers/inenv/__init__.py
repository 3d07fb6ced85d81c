"""Scripts run by a cell environment's own Python (its own mlflow): standard library + mlflow only."""
