"""Fast tests with real parts: servers on loopback (moto's S3, the model server, HTTP) and subprocesses."""
