"""rolloutcheck: is this MLflow version safe to roll out to our models?

Package map, lowest layer first; a package imports only those below it (.importlinter, checked by
`make lint` and tests/spec/test_kinds.py):

    core/      paths, settings, the error root, processes, step logs, version matching (imports nothing else)
    spec/      pure data: cell kinds and their pipelines (kinds.py), results, the run folder's layout
    probes/    stored curl requests: parse, expect, migrate, judge, load, loopback HTTP
    inputs/    the repository's declarations: registry, use cases, preflight, known breaks, store config
    envs/      a cell's environment: spec, uv/conda backends, locks, install, merged requirements
    drivers/   mlflow's CLI (project runs, serving), version traits, scripts run inside a cell's env
    stores/    tracking stores: snapshot diff, PostgreSQL clusters, in-env store scripts
    cells/     one cell end to end: each kind, the shared lifecycle, the pipeline executor, the stages
    reports/   what a run says: aggregate, JUnit/Markdown, HTML, merge
    ci/        cells as data, shards, the matrix runner, progress, CI lint
    entry.py   every session and CLI verb as a function returning an exit code (noxfile.py, __main__.py)
"""
