package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/inference"
)

// ErrKeyFileMismatch is matched (errors.Is) by a *KeyFileError.
var ErrKeyFileMismatch = errors.New("client: key file does not fit the model")

// KeyFileError reports an existing key file that does not fit a model's
// packing. EnsureKeys never replaces such a file: it holds a secret key,
// and whatever was encrypted under it would be lost.
type KeyFileError struct {
	File    string
	Model   string            // the model's name
	Packing inference.Packing // the packing asked for
	// Preset is the preset the model needs and FilePreset the file's.
	Preset, FilePreset string
	// NoSecretKey is set when the file holds no secret key.
	NoSecretKey bool
	// Missing is what the packing needs that the file's evaluation keys
	// lack (the relinearization key, Galois elements); empty when the
	// preset differs.
	Missing he.KeySpec
}

func (e *KeyFileError) Error() string {
	what := fmt.Sprintf("key file %s does not fit model %s (%s packing): ", e.File, e.Model, e.Packing)
	switch {
	case e.FilePreset != e.Preset:
		what += fmt.Sprintf("it holds keys of preset %s, the model needs preset %s", e.FilePreset, e.Preset)
	case e.NoSecretKey:
		what += "it holds no secret key"
	default:
		var lacks []string
		if e.Missing.Relinearization {
			lacks = append(lacks, "the relinearization key")
		}
		if n := len(e.Missing.GaloisElements); n > 0 {
			lacks = append(lacks, fmt.Sprintf("the Galois keys of %d elements (%v)", n, e.Missing.GaloisElements))
		}
		what += fmt.Sprintf("the %s packing needs keys of preset %s with %s, which it lacks", e.Packing, e.Preset, strings.Join(lacks, " and "))
	}
	return what
}

// Unwrap makes errors.Is(err, ErrKeyFileMismatch) hold.
func (e *KeyFileError) Unwrap() error { return ErrKeyFileMismatch }

// EnsureKeysOptions tunes [Client.EnsureKeysWith]. The zero value gives
// [Client.EnsureKeys].
type EnsureKeysOptions struct {
	// Replace lets a key file that does not fit the model be replaced by
	// new keys, losing its secret key.
	Replace bool
}

// EnsureKeys returns key material for the model's packing and makes sure
// the node has its evaluation keys. With keyFile set, keys are read from it
// when it exists, and generated and written to it (mode 0600) when it does
// not; an existing file that does not fit the model (another preset, no
// secret key, or evaluation keys that do not cover the packing) is an
// error, a *KeyFileError, and is left alone. Uploading keys the node
// already holds is cheap (it answers 200).
func (c *Client) EnsureKeys(ctx context.Context, info schema.ModelInfo, packing inference.Packing, keyFile string) (*he.KeyMaterial, schema.KeyInfo, error) {
	return c.EnsureKeysWith(ctx, info, packing, keyFile, EnsureKeysOptions{})
}

// EnsureKeysWith is [Client.EnsureKeys] with options.
func (c *Client) EnsureKeysWith(ctx context.Context, info schema.ModelInfo, packing inference.Packing, keyFile string, opt EnsureKeysOptions) (*he.KeyMaterial, schema.KeyInfo, error) {
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
		if km, err = readFittingKeys(keyFile, info, packing, params, contract.Keys); err != nil {
			var kfe *KeyFileError
			if !opt.Replace || !errors.As(err, &kfe) {
				return nil, schema.KeyInfo{}, err
			}
		}
	}
	if km == nil {
		if km, err = he.GenerateSeededKeys(params, contract.Keys); err != nil {
			return nil, schema.KeyInfo{}, err
		}
		if keyFile != "" {
			if err := writeKeyFile(keyFile, km); err != nil {
				return nil, schema.KeyInfo{}, err
			}
		}
	}
	evk, err := UploadEncoding(km.Evaluation)
	if err != nil {
		return nil, schema.KeyInfo{}, err
	}
	key, err := c.UploadKeys(ctx, info.Preset, evk)
	return km, key, err
}

// UploadEncoding is the smallest encoding of set the node takes: the seeded
// one (about a third of the bytes with tight limbs) for a set generated
// seeded, lattigo's own otherwise. The node stores either under the same
// ID.
func UploadEncoding(set *he.EvaluationKeySet) ([]byte, error) {
	if set.Seeded() {
		return set.MarshalSeeded()
	}
	return set.MarshalBinary()
}

// readFittingKeys reads the key file at path if it exists (nil, nil if it
// does not) and checks that it fits the model's packing, which needs keys
// of params covering need; a file that does not fit is a *KeyFileError.
func readFittingKeys(path string, info schema.ModelInfo, packing inference.Packing, params he.Parameters, need he.KeySpec) (*he.KeyMaterial, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	km, err := he.ReadKeyFile(f, he.DefaultLimits)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	kfe := &KeyFileError{File: path, Model: info.Name, Packing: packing, Preset: info.Preset, FilePreset: km.Params.Name()}
	switch {
	case !km.Params.Equal(params):
		if kfe.FilePreset == "" || kfe.FilePreset == kfe.Preset { // a parameter literal, not the preset
			kfe.FilePreset = "(custom parameters)"
		}
		return nil, kfe
	case km.SecretKey == nil:
		kfe.NoSecretKey = true
		return nil, kfe
	}
	if kfe.Missing = need.Missing(km.Evaluation.Spec()); !kfe.Missing.Empty() {
		return nil, kfe
	}
	return km, nil
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
