"""A team's flower classifier with no parameters that logs its model with an input example.

The example is the request its author says the model takes; no curl is stored for it. The data is
generated here (three well-separated classes on four measurements).
"""

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

rng = np.random.RandomState(11)
centers = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]])
labels = np.repeat([0, 1, 2], 60)
data = pd.DataFrame(
    centers[labels] + rng.normal(0, 0.25, (180, 4)),
    columns=["sepal_length", "sepal_width", "petal_length", "petal_width"],
)

with mlflow.start_run():
    model = LogisticRegression(max_iter=500).fit(data, labels)
    mlflow.log_metric("accuracy", float((model.predict(data) == labels).mean()))
    mlflow.sklearn.log_model(model, "model", input_example=data.head(3))
