"""Training-only code (never copied into a saved model): data files, the span metric, Trainer wiring, results.json, `xlner reproduce`."""
