package jobs

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/internal/store"
)

// Record is an asynchronous job's row: what GET /v1/jobs/{id} shows, whose
// job it is, and the blobs it refers to.
type Record struct {
	schema.JobInfo
	Owner      string // who submitted it (api: the client's token ID)
	InputBlob  string // "" once the job finished
	ResultBlob string // "" until the job is done
}

// Update is a change of a job's state.
type Update struct {
	Status      schema.JobStatus
	Error       string // shown to the job's owner
	ResultBlob  string
	ResultBytes int64
	// FinishedAt is set when the job is done or failed, and zero otherwise.
	FinishedAt time.Time
	// Lease, when set, makes the update conditional: it applies only while
	// the job's lease token is Lease, and fails with ErrLeaseLost
	// otherwise; an update to any status but running also ends the lease.
	// This is how a job's result is written once when replicas share the
	// store (see [Leaser]).
	Lease string
}

// Store is the persistence of job rows. Implementations must be safe for
// concurrent use; the service serializes what must be atomic itself.
type Store interface {
	// Create records a new job.
	Create(ctx context.Context, r Record) error
	// Update sets a job's status, error and result. When u.FinishedAt is
	// set, the row records it and stops referring to its input blob.
	Update(ctx context.Context, id string, u Update) error
	// SetProgress records how many of the job's steps are done.
	SetProgress(ctx context.Context, id string, done int) error
	// Get returns job id if owner submitted it ("" matches any owner), or
	// an error wrapping ErrNotFound.
	Get(ctx context.Context, id, owner string) (Record, error)
	// Resumable lists the queued and running jobs, oldest first.
	Resumable(ctx context.Context) ([]Record, error)
	// Expired lists the done and failed jobs that finished before t.
	Expired(ctx context.Context, before time.Time) ([]Record, error)
	// Delete forgets a job.
	Delete(ctx context.Context, id string) error
	// References counts the jobs whose input or result is blob.
	References(ctx context.Context, blob string) (int, error)
}

// BlobReferences is implemented by a Store that records the rows that name
// a blob of a [store.Blobs], and removes a blob no row names any more, each
// in a transaction serialized per blob with every other process on the
// database ([store.Blobs.ReferenceStored], [store.Blobs.Unreference]), so
// that a job submitted through one replica never names a blob that another
// replica removed as unreferenced in between. [SQLStore] implements it; the
// Service uses it when its Blobs is a *store.Blobs.
type BlobReferences interface {
	// CreateReferencing is Create for r, whose input blob is stored in
	// blobs; it fails with store.ErrBlobNotFound if the blob was removed
	// since.
	CreateReferencing(ctx context.Context, blobs *store.Blobs, r Record) error
	// DeleteUnreferenced removes blob from blobs if no job names it, and
	// reports whether it did.
	DeleteUnreferenced(ctx context.Context, blobs *store.Blobs, blob string) (bool, error)
}

var _ BlobReferences = (*SQLStore)(nil)

// ErrLeaseLost reports a lease that another replica took over (after it
// expired) or that ended.
var ErrLeaseLost = errors.New("jobs: lease lost")

// Leaser is implemented by a Store that several replicas of a node share:
// a replica leases a job before it runs it, renews the lease while it
// works, and writes its outcome under the lease ([Update.Lease]); a job
// whose replica died is leased again by another once the lease expires.
// Times are the replicas' clocks, which must agree to well within a lease.
type Leaser interface {
	// Claim leases job id, or with id "" the oldest job that waits (queued
	// with no lease, or queued or running with an expired one), to token
	// until expires, marks it running and counts an attempt. ok is false
	// when no such job is free.
	Claim(ctx context.Context, id, token string, now, expires time.Time) (r Record, attempts int, ok bool, err error)
	// Renew moves the expiry of the lease that token holds on job id; it
	// fails with ErrLeaseLost when token no longer holds it.
	Renew(ctx context.Context, id, token string, expires time.Time) error
}

// Blobs is the content-addressed store of job inputs and results.
type Blobs interface {
	// Put stores data and returns its ID, the same for the same bytes.
	Put(data []byte) (string, error)
	// Get returns at most limit bytes of blob id.
	Get(id string, limit int64) ([]byte, error)
	// Open reads blob id, at most limit bytes, and fails at its end if its
	// bytes do not match id.
	Open(id string, limit int64) (io.ReadCloser, error)
	// Delete removes a blob; deleting a missing blob is not an error.
	Delete(id string) error
}

var _ Blobs = (*store.Blobs)(nil)
