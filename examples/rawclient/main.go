// Command rawclient runs the whole encrypted-inference flow against an aios
// node using only the OpenAPI document, the Go standard library and lattigo
// v5 — no aios package — to show that any lattigo program can be a client.
//
//	go run ./examples/rawclient --server http://127.0.0.1:8080 --token $TOKEN --data samples.csv
//
// samples.csv holds one sample per line (raw features, comma-separated).
// It prints each sample's predicted class.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
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

	// 2. Keys: the secret key stays here; the relinearization key goes up
	//    as a MemEvaluationKeySet.
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

	// 3. One ciphertext per feature: slot s holds feature i of sample s, at
	//    the packing's input level and scale, framed as a ciphertext batch.
	enc := ckks.NewEncoder(params)
	encryptor := rlwe.NewEncryptor(params, sk)
	var body bytes.Buffer
	body.WriteString("AIOSCTXT")
	binary.Write(&body, binary.LittleEndian, uint16(1))
	body.Write(paramsID[:])
	binary.Write(&body, binary.LittleEndian, uint32(m.Features))
	col := make([]float64, len(samples))
	for i := range m.Features {
		for s := range samples {
			if len(samples[s]) != m.Features {
				return nil, fmt.Errorf("sample %d has %d features, the model takes %d", s, len(samples[s]), m.Features)
			}
			col[s] = samples[s][i]
		}
		pt := ckks.NewPlaintext(params, batch.InputLevel)
		pt.Scale = rlwe.NewScale(math.Exp2(float64(batch.LogInputScale)))
		if err := enc.Encode(col, pt); err != nil {
			return nil, err
		}
		ct, err := encryptor.EncryptNew(pt)
		if err != nil {
			return nil, err
		}
		b, err := ct.MarshalBinary()
		if err != nil {
			return nil, err
		}
		binary.Write(&body, binary.LittleEndian, uint32(len(samples)))
		binary.Write(&body, binary.LittleEndian, uint64(len(b)))
		body.Write(b)
	}

	// 4. Evaluate; the answer holds one ciphertext per class.
	out, err := n.call("POST", "/v1/models/"+m.ID+"/infer?packing=batch&key="+key.ID, "application/x-aios-ciphertexts", body.Bytes(), nil)
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
	dec := rlwe.NewDecryptor(params, sk)
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
