"""Pictures: decoding images, normalising a digit into MNIST's frame, reading written numbers.

Imports only the model contract (`api.runtime.manifest`) and the shared errors; the trainer uses it too."""
