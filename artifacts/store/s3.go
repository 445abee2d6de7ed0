package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/tags"
)

// S3Config says which bucket of which S3-compatible server to use.
type S3Config struct {
	// Endpoint is the server's URL, http:// or https://.
	Endpoint        string
	Bucket          string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	// PathStyle addresses the bucket in the path (http://host/bucket/key)
	// rather than in the host name, as most self-hosted servers want.
	PathStyle bool
	// Prefix is put before every key (e.g. "q2o/").
	Prefix string
	// CreateBucket creates the bucket when it is missing.
	CreateBucket bool
	// MaxRetries is how often a failed request is tried again (0: minio's
	// default of 10).
	MaxRetries int
}

// PartSize is the size of each part of a multipart upload: one part is
// buffered at a time, so a Put holds about this much memory whatever the
// object's size.
const PartSize = 8 << 20

// shaTag is the object tag that records the content's SHA-256.
const shaTag = "q2o-sha256"

// S3 keeps objects in a bucket.
type S3 struct {
	client   *minio.Client
	bucket   string
	prefix   string
	endpoint string
}

// NewS3 connects to the server and makes sure the bucket exists, creating
// it when cfg.CreateBucket; it fails when the server does not answer or the
// bucket is missing and may not be created.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("store: s3 endpoint must be an http(s):// URL, got %q", cfg.Endpoint)
	}
	lookup := minio.BucketLookupDNS
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		Secure:       u.Scheme == "https",
		Region:       cfg.Region,
		BucketLookup: lookup,
		MaxRetries:   cfg.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("store: s3 client for %s: %w", cfg.Endpoint, err)
	}
	s := &S3{client: client, bucket: cfg.Bucket, prefix: cfg.Prefix, endpoint: cfg.Endpoint}
	ok, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, s.fail("reach bucket "+cfg.Bucket, err)
	}
	if !ok {
		if !cfg.CreateBucket {
			return nil, fmt.Errorf("store: s3 bucket %q does not exist at %s and Q2O_S3_CREATE_BUCKET is false", cfg.Bucket, cfg.Endpoint)
		}
		if err := client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
			if ok, _ := client.BucketExists(ctx, cfg.Bucket); !ok { // another replica may have made it
				return nil, s.fail("create bucket "+cfg.Bucket, err)
			}
		}
	}
	return s, nil
}

// fail names the object store in err, so a log line says which service
// was down.
func (s *S3) fail(what string, err error) error {
	return fmt.Errorf("store: s3 %s at %s: %w", what, s.endpoint, err)
}

func (s *S3) name(key string) (string, error) {
	k, err := cleanKey(key)
	if err != nil {
		return "", err
	}
	return s.prefix + k, nil
}

// Put streams r to the bucket in PartSize parts, hashing it on the way,
// then records the SHA-256 as an object tag.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) (Object, error) {
	name, err := s.name(key)
	if err != nil {
		return Object{}, err
	}
	h := sha256.New()
	body := &countingReader{r: io.TeeReader(r, h)}
	_, err = s.client.PutObject(ctx, s.bucket, name, body, size, minio.PutObjectOptions{
		PartSize:    PartSize,
		NumThreads:  1,
		ContentType: "application/octet-stream",
	})
	if err != nil {
		return Object{}, s.fail("put "+key, err)
	}
	if body.n != size {
		return Object{}, s.fail("put "+key, fmt.Errorf("got %d bytes, want %d", body.n, size))
	}
	sum := hex.EncodeToString(h.Sum(nil))
	t, err := tags.NewTags(map[string]string{shaTag: sum}, true)
	if err == nil {
		err = s.client.PutObjectTagging(ctx, s.bucket, name, t, minio.PutObjectTaggingOptions{})
	}
	if err != nil {
		return Object{}, s.fail("tag "+key, err)
	}
	o, err := s.Stat(ctx, key)
	if err != nil {
		return Object{}, err
	}
	o.SHA256 = sum
	return o, nil
}

// Open opens key; reads and seeks become (ranged) GETs.
func (s *S3) Open(ctx context.Context, key string) (Reader, error) {
	name, err := s.name(key)
	if err != nil {
		return nil, err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, name, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.fail("open "+key, err)
	}
	info, err := obj.Stat()
	if err != nil {
		obj.Close()
		return nil, s.notFound("open", key, err)
	}
	return &s3Reader{o: obj, obj: s3Object(key, info)}, nil
}

// Stat describes key, with the SHA-256 its tag recorded.
func (s *S3) Stat(ctx context.Context, key string) (Object, error) {
	name, err := s.name(key)
	if err != nil {
		return Object{}, err
	}
	info, err := s.client.StatObject(ctx, s.bucket, name, minio.StatObjectOptions{})
	if err != nil {
		return Object{}, s.notFound("stat", key, err)
	}
	o := s3Object(key, info)
	if t, err := s.client.GetObjectTagging(ctx, s.bucket, name, minio.GetObjectTaggingOptions{}); err == nil {
		o.SHA256 = t.ToMap()[shaTag]
	}
	return o, nil
}

// PresignGet is a URL that lets its holder GET key (Range included) until
// ttl has passed, without credentials, answered with the given
// Content-Disposition and Content-Type. It is signed for the configured
// endpoint, which its holder must reach. Signing needs no request.
func (s *S3) PresignGet(ctx context.Context, key string, ttl time.Duration, disposition, contentType string) (*url.URL, error) {
	name, err := s.name(key)
	if err != nil {
		return nil, err
	}
	params := url.Values{"response-content-disposition": {disposition}, "response-content-type": {contentType}}
	u, err := s.client.PresignedGetObject(ctx, s.bucket, name, ttl, params)
	if err != nil {
		return nil, s.fail("presign "+key, err)
	}
	return u, nil
}

// Ref is s3://<bucket>/<prefix><key>.
func (s *S3) Ref(key string) string {
	name, err := s.name(key)
	if err != nil {
		return ""
	}
	return "s3://" + s.bucket + "/" + name
}

// Key is the key of a ref of this bucket and prefix.
func (s *S3) Key(ref string) (string, error) {
	name, ok := strings.CutPrefix(ref, "s3://"+s.bucket+"/")
	if ok {
		name, ok = strings.CutPrefix(name, s.prefix)
	}
	if !ok {
		return "", fmt.Errorf("store: %s is not in the bucket %s under %q", ref, s.bucket, s.prefix)
	}
	return cleanKey(name)
}

// Delete removes key.
func (s *S3) Delete(ctx context.Context, key string) error {
	name, err := s.name(key)
	if err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{}); err != nil {
		if isNotFound(err) {
			return nil
		}
		return s.fail("delete "+key, err)
	}
	return nil
}

func (s *S3) notFound(op, key string, err error) error {
	if isNotFound(err) {
		return fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return s.fail(op+" "+key, err)
}

func isNotFound(err error) bool {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return resp.StatusCode == http.StatusNotFound || resp.Code == "NoSuchKey"
	}
	return false
}

func s3Object(key string, info minio.ObjectInfo) Object {
	etag := info.ETag
	if etag != "" && !strings.HasPrefix(etag, `"`) {
		etag = `"` + etag + `"`
	}
	return Object{Key: key, Size: info.Size, ModTime: info.LastModified, ETag: etag}
}

type s3Reader struct {
	o   *minio.Object
	obj Object
}

func (r *s3Reader) Read(p []byte) (int, error)                { return r.o.Read(p) }
func (r *s3Reader) Seek(off int64, whence int) (int64, error) { return r.o.Seek(off, whence) }
func (r *s3Reader) ReadAt(p []byte, off int64) (int, error)   { return r.o.ReadAt(p, off) }
func (r *s3Reader) Close() error                              { return r.o.Close() }

func (r *s3Reader) Object() Object { return r.obj }
