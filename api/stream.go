package api

import (
	"errors"
	"io"
	"net/http"
)

// bodyStream is a request body that a decoder reads as it arrives, for the
// routes that need only the decoded value (POST /v1/models/{id}/infer):
// no buffer holds the whole body. It reads through a bodyReader, so it
// keeps readBody's rules: an announced length above the limit is refused
// before anything is read, the limit holds whatever the announcement (a
// Content-Length is a claim), and the body has its read deadline.
type bodyStream struct {
	br      *bodyReader
	readErr error // the first read error other than io.EOF
}

// streamBody returns the body of r as a bodyStream of at most limit bytes.
// Call close when done with it.
func (s *Server) streamBody(w http.ResponseWriter, r *http.Request, limit int64) (*bodyStream, error) {
	br, err := s.newBodyReader(w, r, limit)
	if err != nil {
		return nil, err
	}
	return &bodyStream{br: br}, nil
}

func (b *bodyStream) Read(p []byte) (int, error) {
	n, err := b.br.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && b.readErr == nil {
		b.readErr = err
	}
	return n, err
}

// close counts the bytes read and lifts the deadline of a body read whole.
func (b *bodyStream) close() { b.br.close() }

// fail returns the error of a decoder that read b and failed with err: the
// body's own failure (ErrTooLarge, ErrBodyTimeout, ErrBadRequest) when
// reading it failed — the decoder only saw its bytes stop — else err.
func (b *bodyStream) fail(err error) error {
	if b.readErr != nil {
		return b.readErr
	}
	return err
}
