"""One module per stage of a cell. Each has NAME, `describe(ctx)` and `run(ctx, state, record)`
(and `start(ctx, state)` when it runs in the background beside a later stage); cell.py lists them
in order. A stage reports a failure by raising StageFailed with a one-line reason."""
