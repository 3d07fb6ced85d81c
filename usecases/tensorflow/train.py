"""A small Keras regression on 13 inputs, runnable on mlflow 1.2 through 3.x.

Clients send the 13 inputs as 13 columns all named "features" (the seed's request), so the
model takes them by position and no column signature is logged (one cannot describe duplicate
names). Data and initial weights come from numpy's legacy RNG, and training does not shuffle, so
every run gives the same model.
"""

import importlib
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import mlflow  # noqa: E402
import mlflow.pyfunc  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

N_INPUTS = 13


def make_data(rows: int = 400, seed: int = 42):
    rng = np.random.RandomState(seed)
    x = rng.rand(rows, N_INPUTS).astype("float32")
    weights = rng.rand(N_INPUTS).astype("float32")
    y = (x @ weights + 0.1 * rng.randn(rows)).astype("float32")
    return x, y


class KerasByPosition(mlflow.pyfunc.PythonModel):
    """python_function model around a saved Keras model, for mlflow whose Keras flavor needs TF1."""

    def load_context(self, context):
        self.model = tf.keras.models.load_model(context.artifacts["keras_model"], compile=False)

    def predict(self, context, model_input):
        values = np.asarray(model_input.values, dtype="float32")
        return pd.DataFrame(self.model.predict(values, verbose=0), index=model_input.index)


def log_model(model) -> str:
    major, minor = (int(part) for part in mlflow.__version__.split(".")[:2])
    if (major, minor) < (1, 30):
        path = os.path.join(tempfile.mkdtemp(), "model.h5")
        model.save(path)
        mlflow.pyfunc.log_model("model", python_model=KerasByPosition(), artifacts={"keras_model": path})
        return "python_function"
    flavor = importlib.import_module("mlflow.keras")
    if major < 2:  # 1.x would look for tf.keras.__version__, which TF 2.15 lacks
        flavor.log_model(model, "model", keras_module="keras")
    elif major < 3:
        flavor.log_model(model, artifact_path="model")
    else:
        flavor.log_model(model, name="model")
    return "keras"


def main(epochs: int, learning_rate: float) -> None:
    tf.random.set_seed(42)
    x, y = make_data()
    split = 300
    model = tf.keras.Sequential([tf.keras.Input(shape=(N_INPUTS,)), tf.keras.layers.Dense(1)])
    init = np.random.RandomState(0)  # initial weights independent of TensorFlow's seeding
    model.set_weights([init.uniform(-0.5, 0.5, (N_INPUTS, 1)).astype("float32"), np.zeros(1, "float32")])
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    with mlflow.start_run():
        model.fit(x[:split], y[:split], epochs=epochs, batch_size=32, verbose=0, shuffle=False)
        error = model.predict(x[split:], verbose=0).ravel() - y[split:]
        mlflow.log_param("epochs", epochs)
        mlflow.log_param("learning_rate", learning_rate)
        mlflow.log_metric("rmse", float(np.sqrt(np.mean(error**2))))
        mlflow.log_metric("mae", float(np.mean(np.abs(error))))
        mlflow.set_tag("logged_flavor", log_model(model))


if __name__ == "__main__":
    main(int(float(sys.argv[1])), float(sys.argv[2]))
