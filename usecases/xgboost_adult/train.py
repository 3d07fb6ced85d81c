"""XGBoost income classifier on adult-census-shaped data, runnable on mlflow 1.2 through 3.x.

No data set can be downloaded here, so the 14 integer-coded adult columns are generated
deterministically, and `income > 50K` follows a logistic rule of a few of them.
"""

import importlib
import os
import sys
import tempfile

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import xgboost as xgb

# (name, lowest code or value, highest) in the census file's column order
COLUMNS = [
    ("age", 17, 90),
    ("workclass", 0, 8),
    ("fnlwgt", 12285, 1490400),
    ("education", 0, 15),
    ("education-num", 1, 16),
    ("marital-status", 0, 6),
    ("occupation", 0, 13),
    ("relationship", 0, 5),
    ("race", 0, 4),
    ("sex", 0, 1),
    ("capital-gain", 0, 99999),
    ("capital-loss", 0, 4356),
    ("hours-per-week", 1, 99),
    ("native-country", 0, 40),
]
FEATURES = [name for name, _, _ in COLUMNS]


def make_data(rows: int = 4000, seed: int = 7) -> pd.DataFrame:
    rng = np.random.RandomState(seed)  # legacy RNG: same stream on every numpy release
    frame = pd.DataFrame({name: rng.randint(lo, hi + 1, rows) for name, lo, hi in COLUMNS})
    for money in ("capital-gain", "capital-loss"):  # mostly zero, as in the census
        frame[money] = np.where(rng.rand(rows) < 0.9, 0, frame[money])
    logit = (
        -7.5
        + 0.04 * frame["age"]
        + 0.3 * frame["education-num"]
        + 0.03 * frame["hours-per-week"]
        + 0.8 * frame["sex"]
        + 0.00008 * frame["capital-gain"]
        - 0.3 * (frame["marital-status"] == 4)
    )
    frame["income"] = (rng.rand(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


class BoosterByName(mlflow.pyfunc.PythonModel):
    """A python_function model around a saved booster, for mlflow without an xgboost flavor.
    It selects the training columns by name, so clients may send them in any order."""

    def __init__(self, features):
        self.features = list(features)

    def load_context(self, context):
        self.booster = xgb.Booster()
        self.booster.load_model(context.artifacts["booster"])

    def predict(self, context, model_input):
        return self.booster.predict(xgb.DMatrix(model_input[self.features]))


def log_model(booster: xgb.Booster, example: pd.DataFrame) -> str:
    name = {"name": "model"} if int(mlflow.__version__.split(".")[0]) >= 3 else {"artifact_path": "model"}
    try:
        flavor = importlib.import_module("mlflow.xgboost")
    except ImportError:  # mlflow 1.2
        path = os.path.join(tempfile.mkdtemp(), "booster.json")
        booster.save_model(path)
        mlflow.pyfunc.log_model(python_model=BoosterByName(FEATURES), artifacts={"booster": path}, **name)
        return "python_function"
    from mlflow.models.signature import infer_signature  # xgboost flavor exists from 1.6, signatures 1.9

    signature = infer_signature(example, booster.predict(xgb.DMatrix(example)))
    flavor.log_model(booster, signature=signature, **name)
    return "xgboost"


def main(max_depth: int, learning_rate: float, num_round: int) -> None:
    data = make_data()
    train, test = data.iloc[:3000], data.iloc[3000:]
    params = {"objective": "binary:logistic", "max_depth": max_depth, "eta": learning_rate, "seed": 0, "nthread": 1}
    with mlflow.start_run():
        booster = xgb.train(params, xgb.DMatrix(train[FEATURES], label=train["income"]), num_boost_round=num_round)
        probability = booster.predict(xgb.DMatrix(test[FEATURES]))
        truth = test["income"].to_numpy()
        clipped = np.clip(probability, 1e-7, 1 - 1e-7)
        mlflow.log_param("max_depth", max_depth)
        mlflow.log_param("learning_rate", learning_rate)
        mlflow.log_param("num_round", num_round)
        mlflow.log_metric("accuracy", float(((probability > 0.5) == truth).mean()))
        mlflow.log_metric("logloss", float(-np.mean(truth * np.log(clipped) + (1 - truth) * np.log(1 - clipped))))
        mlflow.set_tag("logged_flavor", log_model(booster, train[FEATURES].head(20)))


if __name__ == "__main__":
    main(int(float(sys.argv[1])), float(sys.argv[2]), int(float(sys.argv[3])))
