package schema

import "time"

// JobStatus is a job's state.
type JobStatus string

// Job states.
const (
	JobQueued  JobStatus = "queued"
	JobRunning JobStatus = "running"
	JobDone    JobStatus = "done"
	JobFailed  JobStatus = "failed"
)

// JobInfo is a job as GET /v1/jobs/{id} shows it.
type JobInfo struct {
	ID          string     `json:"id"`
	Model       string     `json:"model"`
	Key         string     `json:"key"`
	Packing     string     `json:"packing"`
	Status      JobStatus  `json:"status"`
	Done        int        `json:"done"`  // batches (or single ciphertexts) evaluated
	Total       int        `json:"total"` // batches (or single ciphertexts) in the job
	Samples     int        `json:"samples"`
	Error       string     `json:"error,omitempty"`
	ResultBytes int64      `json:"result_bytes,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
}
