"""Local stand-ins for the AWS hops, for the chain on one machine: API Gateway, InvokeEndpoint, the chain."""
