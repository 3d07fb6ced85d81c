"""rolloutcheck: is this MLflow version safe to roll out to our models?

One module per job: `registry` (version labels), `usecases` (MLflow Projects under test),
`envspec` and `locks` (requirements and uv locks per cell), `environment` (installing a cell's
env), `traits` (what differs between mlflow versions), `procs` (process trees), `project`
(`mlflow run`), `serving` (`mlflow models serve`), `curl` and `expectations` and `probing`
(replaying stored requests), `results` and `report` (what a run says), `cell` (one label x use
case end to end) and `steplog` (stage timing).
"""
