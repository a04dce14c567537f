package schema

import "time"

// KeyInfo is the metadata of an uploaded evaluation key set (POST /v1/keys,
// GET /v1/keys/{id}).
type KeyInfo struct {
	ID              string    `json:"id"`
	Preset          string    `json:"preset"`
	ParamsID        string    `json:"params_id"`
	Bytes           int64     `json:"bytes"`
	Relinearization bool      `json:"relinearization"`
	GaloisElements  []uint64  `json:"galois_elements"`
	CreatedAt       time.Time `json:"created_at"`
}
