"""The HTTP app: API Gateway events and responses, routing, request bodies, the Open Inference Protocol,
the drawing page and the OpenAPI document. Imports the model runtime and the pictures; nothing below imports it."""
