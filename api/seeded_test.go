package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/aios-edge/aios/api/schema"
	"github.com/aios-edge/aios/he"
	"github.com/aios-edge/aios/inference"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/utils/sampling"
)

// TestSeededUploads: a client may send its evaluation keys seeded and its
// ciphertexts in the compact framing (c0 and the seed of c1, tight limbs);
// the node stores the keys under the ID of their canonical encoding and
// evaluates the compact input as it would the full one.
func TestSeededUploads(t *testing.T) {
	f := loadDigits(t)
	n := newTestNode(t, Config{})
	resp, b := n.do("POST", "/v1/models", n.tokens[RoleAdmin], f.file)
	var info schema.ModelInfo
	if resp.StatusCode != 201 || json.Unmarshal(b, &info) != nil {
		t.Fatalf("add model: %d %s", resp.StatusCode, b)
	}
	contract, err := info.Contract(inference.Batch)
	if err != nil {
		t.Fatal(err)
	}
	km, err := he.GenerateSeededKeys(f.keys.Params, contract.Keys)
	if err != nil {
		t.Fatal(err)
	}
	seeded, err := km.Evaluation.MarshalSeeded()
	if err != nil {
		t.Fatal(err)
	}
	full, _ := km.Evaluation.MarshalBinary()
	if len(seeded) >= len(full) {
		t.Fatalf("seeded keys %d bytes, full %d", len(seeded), len(full))
	}
	resp, b = n.do("POST", "/v1/keys?preset="+info.Preset, n.tokens[RoleClient], seeded)
	var key schema.KeyInfo
	if resp.StatusCode != 201 || json.Unmarshal(b, &key) != nil || key.ID != km.Evaluation.ID() || key.Bytes != int64(len(full)) {
		t.Fatalf("seeded key upload: %d %s (want id %s, %d bytes)", resp.StatusCode, b, km.Evaluation.ID(), len(full))
	}
	// The same set sent in lattigo's encoding is the same set.
	if resp, b = n.do("POST", "/v1/keys?preset="+info.Preset, n.tokens[RoleClient], full); resp.StatusCode != 200 {
		t.Fatalf("full upload of the same set: %d %s", resp.StatusCode, b)
	}

	c, err := inference.NewContractClient(contract, km)
	if err != nil {
		t.Fatal(err)
	}
	vecs, err := c.Encrypt(f.samples)
	if err != nil {
		t.Fatal(err)
	}
	var compact, plain bytes.Buffer
	if err := he.WriteCompactCiphertextFile(&compact, km.Params, vecs); err != nil {
		t.Fatal(err)
	}
	if err := he.WriteCiphertextFile(&plain, km.Params, vecs); err != nil {
		t.Fatal(err)
	}
	if compact.Len()*2 > plain.Len() {
		t.Errorf("compact request %d bytes, full %d: less than half expected", compact.Len(), plain.Len())
	}
	resp, out := n.do("POST", fmt.Sprintf("/v1/models/%s/infer?key=%s&packing=batch", info.ID, key.ID), n.tokens[RoleClient], compact.Bytes())
	if resp.StatusCode != 200 {
		t.Fatalf("infer: %d %s", resp.StatusCode, out)
	}
	res, err := he.ReadCiphertextFile(bytes.NewReader(out), km.Params, he.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	logits, err := c.Decrypt(res, len(f.samples))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range inference.Argmax(logits) {
		if p != f.ref[i] {
			t.Errorf("sample %d: encrypted prediction %d, plaintext %d", i, p, f.ref[i])
		}
	}

	// The older seeded form (entry form 1: c1 from lattigo's blake2b XOF
	// keyed by the seed), as builds before the AES-CTR form sent it, is
	// still accepted: the same plaintexts encrypted anew that way.
	enc := rlwe.NewEncryptor(km.Params.Parameters, km.SecretKey)
	dec := rlwe.NewDecryptor(km.Params.Parameters, km.SecretKey)
	old := make([]he.EncryptedVector, len(vecs))
	for i, v := range vecs {
		seed := bytes.Repeat([]byte{byte(i + 1)}, he.SeedSize)
		prng, _ := sampling.NewKeyedPRNG(seed)
		ct, err := enc.WithPRNG(prng).EncryptNew(dec.DecryptNew(v.Ciphertext))
		if err != nil {
			t.Fatal(err)
		}
		old[i] = he.EncryptedVector{Values: v.Values, Ciphertext: ct, Seed: seed, SeedPRNG: he.SeedBlake2b}
	}
	var form1 bytes.Buffer
	if err := he.WriteCompactCiphertextFile(&form1, km.Params, old); err != nil {
		t.Fatal(err) // the writer checks every seed by expanding it
	}
	if form := form1.Bytes()[10+32+4+4]; form != 1 {
		t.Fatalf("first entry of form %d, want 1", form)
	}
	if form := compact.Bytes()[10+32+4+4]; form != 2 {
		t.Fatalf("the SDK's first entry is of form %d, want 2 (AES-CTR)", form)
	}
	resp, out = n.do("POST", fmt.Sprintf("/v1/models/%s/infer?key=%s&packing=batch", info.ID, key.ID), n.tokens[RoleClient], form1.Bytes())
	if resp.StatusCode != 200 {
		t.Fatalf("infer, seeded form 1: %d %s", resp.StatusCode, out)
	}
	if res, err = he.ReadCiphertextFile(bytes.NewReader(out), km.Params, he.DefaultLimits); err != nil {
		t.Fatal(err)
	}
	if logits, err = c.Decrypt(res, len(f.samples)); err != nil {
		t.Fatal(err)
	}
	for i, p := range inference.Argmax(logits) {
		if p != f.ref[i] {
			t.Errorf("seeded form 1: sample %d: encrypted prediction %d, plaintext %d", i, p, f.ref[i])
		}
	}
}
