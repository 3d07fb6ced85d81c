"""H2O gradient boosting on wine.csv (generated once, deterministically, and shipped), mlflow 1.2 to 3.x.

Each run starts its own JVM on a free port and shuts it down at the end. The model is logged with
h2o.init settings that also name a free port, so the model server and the validator's in-process
check share one private JVM instead of whatever listens on h2o's default port 54321.
"""

import importlib
import os
import socket
import sys

import h2o
import mlflow
import pandas as pd
from h2o.estimators import H2OGradientBoostingEstimator

FEATURES = [
    "fixed acidity", "volatile acidity", "citric acid", "residual sugar", "chlorides", "free sulfur dioxide",
    "total sulfur dioxide", "density", "pH", "sulphates", "alcohol",
]  # fmt: skip


def free_port_pair() -> int:
    """A port p with p+1 free too: h2o listens on both."""
    while True:
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port


def jvm_settings() -> dict:
    return {"ip": "127.0.0.1", "port": free_port_pair(), "nthreads": 1, "max_mem_size": "1g"}


def main(ntrees: int, max_depth: int) -> None:
    data = pd.read_csv(os.path.join(os.path.dirname(os.path.abspath(__file__)), "wine.csv"))
    h2o.init(**jvm_settings())
    try:
        train = h2o.H2OFrame(data.iloc[:1200])
        test = h2o.H2OFrame(data.iloc[1200:])
        model = H2OGradientBoostingEstimator(ntrees=ntrees, max_depth=max_depth, seed=42)
        with mlflow.start_run():
            model.train(x=FEATURES, y="quality", training_frame=train)
            performance = model.model_performance(test)
            mlflow.log_param("ntrees", ntrees)
            mlflow.log_param("max_depth", max_depth)
            mlflow.log_metric("rmse", performance.rmse())
            mlflow.log_metric("r2", performance.r2())
            mlflow.log_metric("mae", performance.mae())
            name = {"name": "model"} if int(mlflow.__version__.split(".")[0]) >= 3 else {"artifact_path": "model"}
            flavor = importlib.import_module("mlflow.h2o")
            flavor.log_model(model, settings={"init": jvm_settings()}, **name)
    finally:
        h2o.cluster().shutdown()


if __name__ == "__main__":
    main(int(float(sys.argv[1])), int(float(sys.argv[2])))
