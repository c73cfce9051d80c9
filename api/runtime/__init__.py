"""The model runtime: the manifest contract, the predictor, the model store and where models are read from.

Standard library and numpy only at import; the trainer imports it to check the exports it writes."""
