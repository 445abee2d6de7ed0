// Package s3e2e holds the tests of q2o with Q2O_ARTIFACTS=s3: the real API
// and worker (internal/apptest) storing zips and logs in a bucket of a real
// S3 server (SeaweedFS, internal/testenv), the worker running main.py in a
// scratch folder of its own. It has no code of its own.
package s3e2e
