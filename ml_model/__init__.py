"""number-prediction's trainer: config.json → Keras CNN on MNIST → export → S3."""

__version__ = "0.1.0"
