package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// bodyStream is a request body that a decoder reads as it arrives, for the
// routes that need only the decoded value (POST /v1/models/{id}/infer):
// no buffer holds the whole body. It keeps readBody's rules: an announced
// length above the limit is refused before anything is read, the limit
// holds whatever the announcement (a Content-Length is a claim), and a
// body over the limit is ErrTooLarge, a failed read ErrBadRequest.
type bodyStream struct {
	r       io.Reader
	limit   int64
	n       int64 // bytes read
	readErr error // the first read error other than io.EOF
}

// streamBody returns the body of r as a bodyStream of at most limit bytes.
func streamBody(w http.ResponseWriter, r *http.Request, limit int64) (*bodyStream, error) {
	if r.ContentLength > limit {
		return nil, fmt.Errorf("%w: %d bytes, the limit here is %d", ErrTooLarge, r.ContentLength, limit)
	}
	return &bodyStream{r: http.MaxBytesReader(w, r.Body, limit), limit: limit}, nil
}

func (b *bodyStream) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) && b.readErr == nil {
		b.readErr = err
	}
	return n, err
}

// fail returns the error of a decoder that read b and failed with err: the
// body's own failure when reading it failed (the decoder only saw its
// bytes stop), else err.
func (b *bodyStream) fail(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case b.readErr == nil:
		return err
	case errors.As(b.readErr, &mbe):
		return fmt.Errorf("%w: the limit here is %d bytes", ErrTooLarge, b.limit)
	default:
		return fmt.Errorf("%w: reading body: %v", ErrBadRequest, b.readErr)
	}
}
