package he

import (
	"errors"
	"fmt"
	"math"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/schemes/ckks"
)

// ErrVectorLength is returned when a vector does not fit the slots.
var ErrVectorLength = errors.New("he: vector length")

// ErrNotFinite is returned when a value to encrypt is NaN or infinite.
var ErrNotFinite = errors.New("he: value is not finite")

// ErrNoSecretKey is returned when decryption is asked of a client built
// without a secret key.
var ErrNoSecretKey = errors.New("he: no secret key")

// Client encodes, encrypts and decrypts float64 vectors, one value per slot.
// A Client is not safe for concurrent use: give each goroutine its own
// ([Client.ShallowCopy] is cheap).
type Client struct {
	params    Parameters
	encoder   *ckks.Encoder
	encryptor *rlwe.Encryptor
	decryptor *rlwe.Decryptor // nil without a secret key
	fft       []complex128    // embed's buffer
}

// NewClient returns a client that encrypts under km's secret key (symmetric
// encryption: less noise than public-key encryption) and decrypts.
func NewClient(km *KeyMaterial) *Client {
	return &Client{
		params:    km.Params,
		encoder:   ckks.NewEncoder(km.Params.Parameters),
		encryptor: rlwe.NewEncryptor(km.Params.Parameters, km.SecretKey),
		decryptor: rlwe.NewDecryptor(km.Params.Parameters, km.SecretKey),
	}
}

// NewPublicKeyClient returns a client that can only encrypt, under pk.
func NewPublicKeyClient(p Parameters, pk *rlwe.PublicKey) *Client {
	return &Client{
		params:    p,
		encoder:   ckks.NewEncoder(p.Parameters),
		encryptor: rlwe.NewEncryptor(p.Parameters, pk),
	}
}

// ShallowCopy returns a client sharing c's keys with buffers of its own, for
// use in another goroutine.
func (c *Client) ShallowCopy() *Client {
	cp := &Client{params: c.params, encoder: c.encoder.ShallowCopy(), encryptor: c.encryptor.ShallowCopy()}
	if c.decryptor != nil {
		cp.decryptor = c.decryptor.ShallowCopy()
	}
	return cp
}

// Encrypt encodes values into the first len(values) slots (the rest are
// zero) at the top level and default scale, and encrypts them.
func (c *Client) Encrypt(values []float64) (*rlwe.Ciphertext, error) {
	return c.EncryptAt(values, c.params.MaxLevel(), c.params.DefaultScale().Float64())
}

// EncryptAt is Encrypt at the given level and scale (a circuit's plan may
// want its inputs lower and at a scale of its own).
func (c *Client) EncryptAt(values []float64, level int, scale float64) (*rlwe.Ciphertext, error) {
	pt, err := c.EncodeAt(values, level, scale)
	if err != nil {
		return nil, err
	}
	ct, err := c.encryptor.EncryptNew(pt)
	if err != nil {
		return nil, fmt.Errorf("he: encrypt: %w", err)
	}
	return ct, nil
}

// Encode returns the plaintext of values at the top level and default scale.
func (c *Client) Encode(values []float64) (*rlwe.Plaintext, error) {
	return c.EncodeAt(values, c.params.MaxLevel(), c.params.DefaultScale().Float64())
}

// EncodeAt returns the plaintext of values at the given level and scale.
func (c *Client) EncodeAt(values []float64, level int, scale float64) (*rlwe.Plaintext, error) {
	if len(values) == 0 || len(values) > c.params.MaxSlots() {
		return nil, fmt.Errorf("%w: %d values, want 1…%d", ErrVectorLength, len(values), c.params.MaxSlots())
	}
	if level < 0 || level > c.params.MaxLevel() {
		return nil, fmt.Errorf("%w: level %d outside 0…%d", ErrInvalidParameters, level, c.params.MaxLevel())
	}
	if !(scale >= 1) || math.IsInf(scale, 0) {
		return nil, fmt.Errorf("%w: scale %g", ErrInvalidParameters, scale)
	}
	for i, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%w: value %d", ErrNotFinite, i)
		}
	}
	pt := ckks.NewPlaintext(c.params.Parameters, level)
	pt.Scale = rlwe.NewScale(scale)
	if err := c.embed(values, pt); err != nil {
		return nil, err
	}
	return pt, nil
}

// Decrypt decrypts ct and returns its first n slots.
func (c *Client) Decrypt(ct *rlwe.Ciphertext, n int) ([]float64, error) {
	if c.decryptor == nil {
		return nil, ErrNoSecretKey
	}
	if n < 1 || n > c.params.MaxSlots() {
		return nil, fmt.Errorf("%w: %d values, want 1…%d", ErrVectorLength, n, c.params.MaxSlots())
	}
	if ct.Degree() != 1 {
		return nil, fmt.Errorf("he: decrypt: ciphertext of degree %d, want 1 (relinearize first)", ct.Degree())
	}
	pt := c.decryptor.DecryptNew(ct)
	values := make([]float64, c.params.MaxSlots())
	if err := c.encoder.Decode(pt, values); err != nil {
		return nil, fmt.Errorf("he: decode: %w", err)
	}
	return values[:n], nil
}
