package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/inference"
)

// EnsureKeys returns key material for the model's packing and makes sure
// the node has its evaluation keys. With keyFile set, keys are read from it
// when it exists and covers what the packing needs, and otherwise generated
// and written to it (mode 0600); uploading keys the node already holds is
// cheap (it answers 200).
func (c *Client) EnsureKeys(ctx context.Context, info schema.ModelInfo, packing inference.Packing, keyFile string) (*he.KeyMaterial, schema.KeyInfo, error) {
	contract, err := info.Contract(packing)
	if err != nil {
		return nil, schema.KeyInfo{}, err
	}
	params, err := he.PresetByName(info.Preset)
	if err != nil {
		return nil, schema.KeyInfo{}, err
	}
	var km *he.KeyMaterial
	if keyFile != "" {
		if f, err := os.Open(keyFile); err == nil {
			km, err = he.ReadKeyFile(f, he.DefaultLimits)
			f.Close()
			if err != nil {
				return nil, schema.KeyInfo{}, fmt.Errorf("%s: %w", keyFile, err)
			}
			if covers, _ := km.Evaluation.Covers(contract.Keys); !km.Params.Equal(params) || km.SecretKey == nil || !covers {
				km = nil // made for another model or packing: make new ones
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, schema.KeyInfo{}, err
		}
	}
	if km == nil {
		if km, err = he.GenerateKeys(params, contract.Keys); err != nil {
			return nil, schema.KeyInfo{}, err
		}
		if keyFile != "" {
			if err := writeKeyFile(keyFile, km); err != nil {
				return nil, schema.KeyInfo{}, err
			}
		}
	}
	evk, err := km.Evaluation.MarshalBinary()
	if err != nil {
		return nil, schema.KeyInfo{}, err
	}
	key, err := c.UploadKeys(ctx, info.Preset, evk)
	return km, key, err
}

func writeKeyFile(path string, km *he.KeyMaterial) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := he.WriteKeyFile(f, km, false); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// InferStats says where the time and the bytes of an inference went.
type InferStats struct {
	Samples        int     `json:"samples"`
	Requests       int     `json:"requests"`
	EncryptSeconds float64 `json:"encrypt_seconds"`
	ServerSeconds  float64 `json:"server_seconds"` // request round trips: upload, evaluation, download
	DecryptSeconds float64 `json:"decrypt_seconds"`
	BytesUp        int64   `json:"bytes_up"`
	BytesDown      int64   `json:"bytes_down"`
}

// evaluate runs one request synchronously, or as a job when it is large.
func (c *Client) evaluate(ctx context.Context, modelID, keyID, packing string, body []byte) ([]byte, error) {
	if int64(len(body)) <= c.opt.MaxSyncRequestBytes {
		return c.Infer(ctx, modelID, keyID, packing, body)
	}
	job, err := c.SubmitJob(ctx, modelID, keyID, packing, body)
	if err != nil {
		return nil, err
	}
	if _, err := c.WaitJob(ctx, job.ID, 100*time.Millisecond, nil); err != nil {
		return nil, err
	}
	return c.JobResult(ctx, job.ID)
}

// InferSamples classifies samples (raw features) with the model under
// encryption: it encrypts them with km in the packing's layout, sends them
// to /v1/models/{id}/infer in requests of one encrypted batch (batch
// packing: up to N/2 samples) or of at least perRequest samples (single
// packing: one per ciphertext), seeded ciphertexts in the compact framing
// (he.WriteCompactCiphertextFile) — through /v1/jobs when a request exceeds
// Options.MaxSyncRequestBytes — and decrypts the logits. The node never
// sees a sample or a logit.
func (c *Client) InferSamples(ctx context.Context, info schema.ModelInfo, keyID string, km *he.KeyMaterial, packing inference.Packing, samples [][]float64, progress func(done int)) ([][]float64, InferStats, error) {
	const perRequest = 16
	var st InferStats
	contract, err := info.Contract(packing)
	if err != nil {
		return nil, st, err
	}
	ic, err := inference.NewContractClient(contract, km)
	if err != nil {
		return nil, st, err
	}
	chunk := max(ic.BatchSize(), perRequest)
	logits := make([][]float64, 0, len(samples))
	for start := 0; start < len(samples); start += chunk {
		part := samples[start:min(start+chunk, len(samples))]
		t0 := time.Now()
		vecs, err := ic.Encrypt(part)
		if err != nil {
			return nil, st, err
		}
		var body bytes.Buffer
		if err := he.WriteCompactCiphertextFile(&body, km.Params, vecs); err != nil {
			return nil, st, err
		}
		t1 := time.Now()
		out, err := c.evaluate(ctx, info.ID, keyID, packing.String(), body.Bytes())
		if err != nil {
			return nil, st, err
		}
		t2 := time.Now()
		res, err := he.ReadCiphertextFile(bytes.NewReader(out), km.Params, he.DefaultLimits)
		if err != nil {
			return nil, st, fmt.Errorf("client: node's answer: %w", err)
		}
		l, err := ic.Decrypt(res, len(part))
		if err != nil {
			return nil, st, fmt.Errorf("client: node's answer: %w", err)
		}
		logits = append(logits, l...)
		t3 := time.Now()
		st.Requests++
		st.Samples += len(part)
		st.EncryptSeconds += t1.Sub(t0).Seconds()
		st.ServerSeconds += t2.Sub(t1).Seconds()
		st.DecryptSeconds += t3.Sub(t2).Seconds()
		st.BytesUp += int64(body.Len())
		st.BytesDown += int64(len(out))
		if progress != nil {
			progress(st.Samples)
		}
	}
	return logits, st, nil
}
