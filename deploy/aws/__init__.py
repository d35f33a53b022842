"""Deploy delaycast to AWS and tear it down again: `python -m deploy.aws {deploy,plan,teardown,batch}`.

What `deploy` creates, in order, each step creating what is missing and
correcting what differs (so a second run changes nothing):

- the image in ECR (repository created if absent, pushed once per git revision,
  tagged with the revision and the model version, used by digest);
- model.tar.gz in a private S3 bucket, with its SHA-256 (checked by S3, kept in
  the object's metadata);
- the SageMaker model, endpoint config (serverless or instances with target
  tracking auto scaling) and endpoint; a new model version makes a new endpoint
  config and UpdateEndpoint moves the endpoint to it;
- the flight store: a DynamoDB table (on demand, TTL) and the managed policy
  that lets `python -m deploy.ingest` write it (docs/store.md);
- the Lambda (lambda/delaycast_api) with a least-privilege role (invoke the
  endpoint, read the flight table) and its log group;
- an API Gateway HTTP API, POST /predict, CORS, a throttled stage.

Everything is tagged project=delaycast and delaycast:stack=<stack>; `teardown`
deletes what carries those tags. `batch` runs a Batch Transform job with the
same model.

Why boto3 and not the SageMaker Python SDK: SDK v3 removed `Estimator`,
`Model` and `Predictor` (replaced by ModelTrainer / ModelBuilder); v2 is a
large dependency with pins of its own (boto3 among them) to keep in step, and
its `deploy()` helpers hide the very requests this package must make
idempotent and test. Neither covers Lambda, API Gateway or IAM. boto3 is already
a pin (the Lambda handler uses it), and each request here is a plain dict that
`--dry-run` prints and the tests inspect.
"""
