#!/bin/sh
# One-shot: create the evidence bucket WITH Object Lock and a non-root S3 user for the application.
# The user's policy allows deleting object versions on purpose: then only Object Lock can refuse the
# deletion, so the application's canary check (a locked version must refuse deletion) proves the lock.
set -eu
: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${COC_S3_ACCESS_KEY:?}" "${COC_S3_SECRET_KEY:?}"
BUCKET="${COC_S3_BUCKET:-coc-evidence}"

mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
# An existing bucket made without Object Lock is refused by the API itself (ensure_bucket and the /health
# canary), with a message naming the bucket.
mc mb --ignore-existing --with-lock "local/$BUCKET"

cat > /tmp/coc-evidence-policy.json <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow",
     "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketVersioning",
                "s3:GetBucketObjectLockConfiguration"],
     "Resource": ["arn:aws:s3:::$BUCKET"]},
    {"Effect": "Allow",
     "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion",
                "s3:PutObjectRetention", "s3:GetObjectRetention", "s3:PutObjectLegalHold",
                "s3:GetObjectLegalHold", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
     "Resource": ["arn:aws:s3:::$BUCKET/*"]}
  ]
}
JSON
mc admin user add local "$COC_S3_ACCESS_KEY" "$COC_S3_SECRET_KEY" >/dev/null
mc admin policy create local coc-evidence /tmp/coc-evidence-policy.json >/dev/null
mc admin policy attach local coc-evidence --user "$COC_S3_ACCESS_KEY" >/dev/null 2>&1 || true  # already attached
echo "bucket $BUCKET ready with Object Lock; S3 user $COC_S3_ACCESS_KEY has the coc-evidence policy"
