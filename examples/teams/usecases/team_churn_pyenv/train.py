"""A team's churn-score project as it was written for mlflow 1.x on Python 3.8 (python_env.yaml).

The data is generated here (no downloads): six customer columns and a churn score.
"""

import argparse

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from sklearn.linear_model import ElasticNet
from sklearn.metrics import mean_squared_error

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, default=0.05)
parser.add_argument("--l1-ratio", type=float, default=0.3)
args = parser.parse_args()

rng = np.random.RandomState(7)
rows = 800
data = pd.DataFrame(
    {
        "tenure_months": rng.randint(1, 72, rows).astype(float),
        "monthly_charges": rng.uniform(20, 120, rows),
        "support_calls": rng.poisson(2, rows).astype(float),
        "contract_years": rng.choice([0.0, 1.0, 2.0], rows),
        "late_payments": rng.poisson(1, rows).astype(float),
        "discount": rng.uniform(0, 0.3, rows),
    }
)
score = (
    0.6
    - 0.008 * data.tenure_months
    + 0.003 * data.monthly_charges
    + 0.05 * data.support_calls
    - 0.15 * data.contract_years
    + 0.07 * data.late_payments
    - 0.5 * data.discount
)
target = score + rng.normal(0, 0.05, rows)

with mlflow.start_run():
    model = ElasticNet(alpha=args.alpha, l1_ratio=args.l1_ratio, random_state=0).fit(data, target)
    mlflow.log_metric("rmse", float(np.sqrt(mean_squared_error(target, model.predict(data)))))
    mlflow.sklearn.log_model(model, "model")
