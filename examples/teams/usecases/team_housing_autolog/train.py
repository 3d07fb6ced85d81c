"""A team's house-price project that lets mlflow autolog everything: params, metrics and the model.

It names no artifact path: where the model lands is mlflow's choice (run artifacts on 1.x/2.x, a
LoggedModel on 3.x). The data is generated here.
"""

import sys

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor

mlflow.sklearn.autolog()

rng = np.random.RandomState(3)
rows = 600
data = pd.DataFrame(
    {
        "rooms": rng.randint(1, 8, rows).astype(float),
        "area_m2": rng.uniform(30, 250, rows),
        "age_years": rng.uniform(0, 80, rows),
        "distance_km": rng.uniform(0.5, 40, rows),
    }
)
price = 50 + 18 * data.rooms + 1.9 * data.area_m2 - 0.6 * data.age_years - 2.5 * data.distance_km
price = price + rng.normal(0, 10, rows)

with mlflow.start_run():
    model = RandomForestRegressor(n_estimators=int(sys.argv[1]), max_depth=int(sys.argv[2]), random_state=0)
    model.fit(data, price)
