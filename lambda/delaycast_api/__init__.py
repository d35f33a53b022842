"""The Lambda function behind the HTTP API: validates flights with delaycast's own validator, scores them on the
SageMaker endpoint. Standard library and boto3 only; the handler is `delaycast_api.handler.lambda_handler`."""
