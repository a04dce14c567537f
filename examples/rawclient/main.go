// Command rawclient runs the whole encrypted-inference flow against an aios
// node using only the OpenAPI document, the Go standard library and lattigo
// v5 — no aios package — to show that any lattigo program can be a client.
//
//	go run ./examples/rawclient --server http://127.0.0.1:8080 --token $TOKEN --data samples.csv
//
// samples.csv holds one sample per line (raw features, comma-separated).
// It prints each sample's predicted class.
//
// Every rule of the document this client follows is quoted in its comments
// between “ and ”, word for word (main_test.go checks that each quote is in
// api/openapi.yaml or README.md). The inputs travel as seeded
// ciphertexts in the compact framing (ciphertext batch version 2: c0 with
// tight limbs and the seed of c1, expanded by AES-256-CTR with crypto/aes,
// half of lattigo's encoding); the keys
// travel in lattigo's own encoding, which the node accepts too.
package main

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net/http"
	"os"
	"strconv"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/schemes/ckks"
)

func main() {
	server := flag.String("server", "http://127.0.0.1:8080", "node URL")
	token := flag.String("token", os.Getenv("AIOS_TOKEN"), "client token")
	model := flag.String("model", "", "model ID (default: the first model)")
	data := flag.String("data", "", "CSV of samples (raw features)")
	flag.Parse()
	samples, err := readSamples(*data)
	if err == nil {
		var pred []int
		pred, err = Run(&Node{URL: *server, Token: *token}, *model, samples)
		for i, p := range pred {
			fmt.Printf("sample %d: class %d\n", i, p)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rawclient:", err)
		os.Exit(1)
	}
}

// Node is an aios node: its URL and a bearer token with role client.
type Node struct {
	URL, Token string
	HTTP       *http.Client
}

func (n *Node) call(method, path, ctype string, body []byte, out any) ([]byte, error) {
	req, err := http.NewRequest(method, n.URL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+n.Token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	hc := n.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return b, json.Unmarshal(b, out)
	}
	return b, nil
}

// The parts of the OpenAPI schemas this client reads.
type modelInfo struct {
	ID       string   `json:"id"`
	Features int      `json:"features"`
	Classes  []string `json:"classes"`
	Preset   string   `json:"preset"`
	Ranges   []struct {
		Min float64 `json:"min"`
		Max float64 `json:"max"`
	} `json:"feature_ranges"`
	Packings map[string]struct {
		Relinearization bool `json:"relinearization"`
		InputLevel      int  `json:"input_level"`
		LogInputScale   int  `json:"log_input_scale"`
		MaxSamples      int  `json:"max_samples"`
	} `json:"packings"`
}

type preset struct {
	Name    string          `json:"name"`
	ID      string          `json:"id"`
	Lattigo json.RawMessage `json:"lattigo"`
}

// Run classifies samples (at most N/2 of them: one batch) with the batch
// packing and returns the predicted classes.
func Run(n *Node, modelID string, samples [][]float64) ([]int, error) {
	// 1. The model's client contract and the lattigo parameters of its preset.
	var models struct {
		Models []modelInfo `json:"models"`
	}
	if _, err := n.call("GET", "/v1/models", "", nil, &models); err != nil {
		return nil, err
	}
	var m *modelInfo
	for i := range models.Models {
		if modelID == "" || models.Models[i].ID == modelID {
			m = &models.Models[i]
			break
		}
	}
	if m == nil {
		return nil, errors.New("no such model on the node")
	}
	var presets struct {
		Presets []preset `json:"presets"`
	}
	if _, err := n.call("GET", "/v1/params", "", nil, &presets); err != nil {
		return nil, err
	}
	var params ckks.Parameters
	var paramsID [32]byte
	for _, p := range presets.Presets {
		if p.Name == m.Preset {
			if err := params.UnmarshalJSON(p.Lattigo); err != nil {
				return nil, err
			}
			// “the parameters ID, hex: SHA-256 of the bytes that lattigo
			// v5's ckks.Parameters.MarshalJSON writes for these
			// parameters. The lattigo value as served is indented, so hash
			// it only after re-encoding”.
			canon, err := params.MarshalJSON()
			if err != nil {
				return nil, err
			}
			paramsID = sha256.Sum256(canon)
		}
	}
	if params.N() == 0 {
		return nil, fmt.Errorf("preset %s not listed", m.Preset)
	}
	batch := m.Packings["batch"]
	if len(samples) == 0 || len(samples) > params.MaxSlots() {
		return nil, fmt.Errorf("%d samples: one batch holds 1…%d", len(samples), params.MaxSlots())
	}
	if err := checkRanges(m, samples); err != nil {
		return nil, err
	}

	// 2. Keys: the secret key stays here; the relinearization key goes up
	//    in “lattigo's MemEvaluationKeySet binary encoding exactly”.
	kgen := rlwe.NewKeyGenerator(params)
	sk := kgen.GenSecretKeyNew()
	var rlk *rlwe.RelinearizationKey
	if batch.Relinearization {
		rlk = kgen.GenRelinearizationKeyNew(sk)
	}
	evk, err := rlwe.NewMemEvaluationKeySet(rlk).MarshalBinary()
	if err != nil {
		return nil, err
	}
	var key struct {
		ID string `json:"id"`
	}
	if _, err := n.call("POST", "/v1/keys?preset="+m.Preset, "application/octet-stream", evk, &key); err != nil {
		return nil, err
	}

	// 3. “for each batch, ciphertext i has feature i of up to max_samples
	//    (N/2) samples in its slots, encoded at the packing's input level
	//    and scale; every ciphertext of a batch has the same values, the
	//    batch's sample count”, framed as a compact ciphertext batch of
	//    seeded ciphertexts.
	body, err := compactBatch(params, paramsID, sk, samples, m.Features, batch.InputLevel, batch.LogInputScale)
	if err != nil {
		return nil, err
	}

	// 4. Evaluate. The answer is a ciphertext batch of version 1, “u32
	//    count, then per ciphertext u32 values | u64 length | lattigo
	//    rlwe.Ciphertext binary encoding”, one ciphertext per class: “slot n
	//    of ciphertext o of a batch decrypts to logit o of sample n, the
	//    score of classes[o]”.
	out, err := n.call("POST", "/v1/models/"+m.ID+"/infer?packing=batch&key="+key.ID, "application/x-aios-ciphertexts", body, nil)
	if err != nil {
		return nil, err
	}
	if len(out) < 46 || string(out[:8]) != "AIOSCTXT" {
		return nil, errors.New("answer is not a ciphertext batch")
	}
	count := int(binary.LittleEndian.Uint32(out[42:]))
	if count != len(m.Classes) {
		return nil, fmt.Errorf("%d output ciphertexts for %d classes", count, len(m.Classes))
	}
	enc, dec := ckks.NewEncoder(params), rlwe.NewDecryptor(params, sk)
	best := make([]float64, len(samples))
	pred := make([]int, len(samples))
	for s := range best {
		best[s] = math.Inf(-1)
	}
	rest := out[46:]
	for o := range count {
		if len(rest) < 12 {
			return nil, errors.New("truncated answer")
		}
		size := binary.LittleEndian.Uint64(rest[4:])
		if uint64(len(rest)-12) < size {
			return nil, errors.New("truncated answer")
		}
		ct := rlwe.NewCiphertext(params, 1, 0)
		if err := ct.UnmarshalBinary(rest[12 : 12+size]); err != nil {
			return nil, err
		}
		rest = rest[12+size:]
		values := make([]float64, params.MaxSlots())
		if err := enc.Decode(dec.DecryptNew(ct), values); err != nil {
			return nil, err
		}
		for s := range samples {
			if values[s] > best[s] {
				best[s], pred[s] = values[s], o
			}
		}
	}
	return pred, nil
}

// compactBatch encrypts feature i of every sample into ciphertext i and
// returns the request body: a ciphertext batch in version 2 of the framing,
// every ciphertext seeded: “u16 version 2, 32-byte parameters ID, u32 count,
// then per ciphertext u32 values | u8 form | u8 degree | u8 limbs | metadata |
// body” and “form 2 (seeded, AES-CTR; what the SDK sends): degree is 1; the
// body is packed c0 then the 32-byte seed”.
func compactBatch(params ckks.Parameters, paramsID [32]byte, sk *rlwe.SecretKey, samples [][]float64, features, level, logScale int) ([]byte, error) {
	enc := ckks.NewEncoder(params)
	encryptor := rlwe.NewEncryptor(params, sk)
	body := []byte("AIOSCTXT")
	body = binary.LittleEndian.AppendUint16(body, 2)
	body = append(body, paramsID[:]...)
	body = binary.LittleEndian.AppendUint32(body, uint32(features))
	col := make([]float64, len(samples))
	for i := range features {
		for s := range samples {
			if len(samples[s]) != features {
				return nil, fmt.Errorf("sample %d has %d features, the model takes %d", s, len(samples[s]), features)
			}
			col[s] = samples[s][i]
		}
		pt := ckks.NewPlaintext(params, level)
		pt.Scale = rlwe.NewScale(math.Exp2(float64(logScale)))
		if err := enc.Encode(col, pt); err != nil {
			return nil, err
		}
		// “Use a fresh seed from a cryptographic random generator for every
		// ciphertext”, and c1 is “the c1 of the first encryption by
		// rlwe.NewEncryptor(params, sk).WithPRNG(prng)”, so one WithPRNG
		// encryptor per ciphertext: “a second encryption on the same
		// encryptor continues the stream and gives another c1”.
		seed := make([]byte, 32)
		if _, err := rand.Read(seed); err != nil {
			return nil, err
		}
		prng, err := newCTRStream(seed)
		if err != nil {
			return nil, err
		}
		ct, err := encryptor.WithPRNG(prng).EncryptNew(pt)
		if err != nil {
			return nil, err
		}
		meta, err := ct.MetaData.MarshalBinary()
		if err != nil {
			return nil, err
		}
		// “limbs is the ciphertext's level plus one; metadata is lattigo's
		// rlwe.MetaData binary encoding”.
		body = binary.LittleEndian.AppendUint32(body, uint32(len(samples)))
		body = append(body, 2, 1, byte(ct.Level()+1)) // form 2 (seeded, AES-CTR), degree 1
		body = append(body, meta...)
		for l, q := range params.Q()[:ct.Level()+1] {
			body = packLimb(body, ct.Value[0].Coeffs[l], q)
		}
		body = append(body, seed...)
	}
	return body, nil
}

// ctrStream is the prng of form 2: “the AES-256-CTR keystream of the seed:
// the AES-256 key is the seed, the initial counter block is the 8 ASCII
// bytes AIOS-CT1 followed by 8 zero bytes”, that is “the encryption of zero
// bytes by any AES-256-CTR implementation that increments the whole block”
// (Go's cipher.NewCTR does). lattigo's uniform sampler reads it through
// the io.Reader its sampling.PRNG interface is.
type ctrStream struct{ cipher.Stream }

func newCTRStream(seed []byte) (*ctrStream, error) {
	block, err := aes.NewCipher(seed)
	if err != nil {
		return nil, err
	}
	iv := []byte("AIOS-CT1\x00\x00\x00\x00\x00\x00\x00\x00")
	return &ctrStream{cipher.NewCTR(block, iv)}, nil
}

func (s *ctrStream) Read(b []byte) (int, error) {
	clear(b)
	s.XORKeyStream(b, b)
	return len(b), nil
}

// packLimb appends one limb of coefficients below q: “Limb i holds its N
// coefficients at width w = bitlen(q_i − 1) bits, coefficient j in bits
// j·w … j·w+w−1, least significant bit first (bit k of the limb is bit k mod
// 8 of byte ⌊k/8⌋)”.
func packLimb(dst []byte, coeffs []uint64, q uint64) []byte {
	w := bits.Len64(q - 1)
	limb := make([]byte, (len(coeffs)*w+7)/8)
	for j, c := range coeffs {
		for b := range w {
			k := j*w + b
			limb[k/8] |= byte((c>>b)&1) << (k % 8)
		}
	}
	return append(dst, limb...)
}

// checkRanges refuses samples in other units than the model's: “every
// packing encrypts features in the units of the model's training data, raw as
// the data set has them”, and the node cannot tell (“it answers 200 with wrong
// logits”), so “check them against the model's feature_ranges before
// encrypting”. A sample is refused when it lies “far outside them (by more
// than half the feature's span plus 5 % of the widest span)”.
func checkRanges(m *modelInfo, samples [][]float64) error {
	widest := 0.0
	for _, r := range m.Ranges {
		widest = max(widest, r.Max-r.Min)
	}
	for s, x := range samples {
		for i, r := range m.Ranges {
			if i >= len(x) {
				break
			}
			tol := (r.Max-r.Min)/2 + widest/20
			if x[i] < r.Min-tol || x[i] > r.Max+tol {
				return fmt.Errorf("sample %d: feature %d is %g, the model was trained on %g…%g: other units?", s, i, x[i], r.Min, r.Max)
			}
		}
	}
	return nil
}

func readSamples(path string) ([][]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(io.LimitReader(f, 64<<20))
	r.FieldsPerRecord = -1
	var out [][]float64
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		x := make([]float64, len(rec))
		for i, v := range rec {
			if x[i], err = strconv.ParseFloat(v, 64); err != nil {
				return nil, fmt.Errorf("line %d: %w", len(out)+1, err)
			}
		}
		out = append(out, x)
	}
}
