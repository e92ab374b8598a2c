#!/bin/sh
# LocalStack runs this once it is ready (mounted into /etc/localstack/init/ready.d): it creates
# the bucket the functions use, unless it exists.
set -eu
awslocal s3api head-bucket --bucket "${S3_BUCKET}" 2>/dev/null || awslocal s3 mb "s3://${S3_BUCKET}"
