"""The slow tier (conftest.py marks every test here slow): training, real MNIST, the Serverless CLI, Chromium."""
