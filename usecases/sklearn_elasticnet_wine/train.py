"""ElasticNet on wine-quality-shaped data, runnable on mlflow 1.2 through 3.x.

No data set can be downloaded here, so the data is generated deterministically: the 11 wine
columns in their usual order, ranges like the red-wine set, and `quality` a noisy linear mix.
"""

import sys

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import ElasticNet
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.pipeline import Pipeline

# (name, low, high, weight of the standardized column on quality)
COLUMNS = [
    ("fixed acidity", 4.6, 15.9, 0.05),
    ("volatile acidity", 0.12, 1.58, -0.45),
    ("citric acid", 0.0, 1.0, -0.05),
    ("residual sugar", 0.9, 15.5, 0.02),
    ("chlorides", 0.012, 0.611, -0.12),
    ("free sulfur dioxide", 1.0, 72.0, 0.05),
    ("total sulfur dioxide", 6.0, 289.0, -0.15),
    ("density", 0.99, 1.004, -0.1),
    ("pH", 2.74, 4.01, -0.08),
    ("sulphates", 0.33, 2.0, 0.3),
    ("alcohol", 8.4, 14.9, 0.6),
]


def make_data(rows: int = 1600, seed: int = 42) -> pd.DataFrame:
    rng = np.random.RandomState(seed)  # legacy RNG: same stream on every numpy release
    frame = pd.DataFrame({name: rng.uniform(lo, hi, rows) for name, lo, hi, _ in COLUMNS})
    standardized = {name: (frame[name] - (lo + hi) / 2) / ((hi - lo) / np.sqrt(12)) for name, lo, hi, _ in COLUMNS}
    quality = 5.6 + sum(standardized[name] * weight for name, _, _, weight in COLUMNS)
    frame["quality"] = (quality + rng.normal(0, 0.4, rows)).round().clip(3, 8)
    return frame


def log_model(model, example: pd.DataFrame) -> None:
    kwargs = {}
    try:  # signatures exist from mlflow 1.9; with one, servers align columns by name
        from mlflow.models.signature import infer_signature

        kwargs["signature"] = infer_signature(example, model.predict(example))
    except ImportError:
        pass
    if int(mlflow.__version__.split(".")[0]) >= 3:
        mlflow.sklearn.log_model(model, name="model", **kwargs)  # 3.x renamed artifact_path
    else:
        mlflow.sklearn.log_model(model, artifact_path="model", **kwargs)


def main(alpha: float, l1_ratio: float) -> None:
    data = make_data()
    features = [name for name, *_ in COLUMNS]
    train, test = data.iloc[:1200], data.iloc[1200:]
    # Selecting columns by name makes the model independent of the column order a client
    # sends; mlflow 1.2 has no signatures and would otherwise feed columns by position.
    model = Pipeline(
        [
            ("select", ColumnTransformer([("wine", "passthrough", features)])),
            ("regress", ElasticNet(alpha=alpha, l1_ratio=l1_ratio, random_state=42)),
        ]
    )
    with mlflow.start_run():
        model.fit(train[features], train["quality"])
        predicted = model.predict(test[features])
        mlflow.log_param("alpha", alpha)
        mlflow.log_param("l1_ratio", l1_ratio)
        mlflow.log_metric("rmse", float(np.sqrt(mean_squared_error(test["quality"], predicted))))
        mlflow.log_metric("r2", float(r2_score(test["quality"], predicted)))
        mlflow.log_metric("mae", float(mean_absolute_error(test["quality"], predicted)))
        log_model(model, train[features].head(20))


if __name__ == "__main__":
    main(float(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.1)
