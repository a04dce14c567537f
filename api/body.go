package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// Reading request bodies. Every body is read within its route's size limit
// and under a read deadline that moves with the bytes that arrived: a
// sender gets Config.BodyReadGrace, then must keep up an average of
// Config.MinBodyRate, so a body of n bytes has at most grace + n/rate to
// arrive and a sender that stalls is cut off (408) instead of holding its
// connection, its buffer and whatever the handler holds for it.

// ErrBodyTimeout reports a request body that arrived slower than the
// node's minimum rate.
var ErrBodyTimeout = errors.New("request body arrived too slowly")

// bodyReader reads one request body within its limit and minimum rate.
type bodyReader struct {
	s     *Server
	rc    *http.ResponseController
	body  io.Reader
	limit int64
	start time.Time
	n     int64
	eof   bool
	// deadlines is false where the ResponseWriter cannot set them (a
	// test's recorder): the body is then read without one.
	deadlines bool
}

// newBodyReader checks the announced length against limit and starts the
// clock. Call close when done with the body.
func (s *Server) newBodyReader(w http.ResponseWriter, r *http.Request, limit int64) (*bodyReader, error) {
	if r.ContentLength > limit {
		return nil, fmt.Errorf("%w: %d bytes, the limit here is %d", ErrTooLarge, r.ContentLength, limit)
	}
	return &bodyReader{s: s, rc: http.NewResponseController(w), body: http.MaxBytesReader(w, r.Body, limit),
		limit: limit, start: time.Now(), deadlines: true}, nil
}

// deadline is when the next byte must have arrived.
func (b *bodyReader) deadline() time.Time {
	rate := float64(b.s.cfg.MinBodyRate)
	return b.start.Add(b.s.cfg.BodyReadGrace + time.Duration(float64(b.n)/rate*float64(time.Second)))
}

// Read reads the body, moving the connection's read deadline before each
// read; its errors are the API's (ErrTooLarge, ErrBodyTimeout,
// ErrBadRequest) or io.EOF.
func (b *bodyReader) Read(p []byte) (int, error) {
	if b.deadlines {
		if err := b.rc.SetReadDeadline(b.deadline()); err != nil {
			b.deadlines = false
		}
	}
	n, err := b.body.Read(p)
	b.n += int64(n)
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		b.eof = true
	case errors.As(err, &mbe):
		err = fmt.Errorf("%w: the limit here is %d bytes", ErrTooLarge, b.limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("%w: %d bytes in %s, the node needs %d bytes/s after %s", ErrBodyTimeout,
			b.n, time.Since(b.start).Round(time.Millisecond), b.s.cfg.MinBodyRate, b.s.cfg.BodyReadGrace)
	default:
		err = fmt.Errorf("%w: reading body: %v", ErrBadRequest, err)
	}
	return n, err
}

// close counts the bytes read. Once the whole body was read it lifts the
// deadline, so that the rest of the request (an evaluation that outlasts
// it) is not cut off; otherwise the deadline stays, and also bounds the
// server's own reading of the unread rest before it answers.
func (b *bodyReader) close() {
	b.s.metrics.bytesIn.Add(b.n)
	if b.deadlines && b.eof {
		b.rc.SetReadDeadline(time.Time{})
	}
}

// readAll appends what src has left to buf until io.EOF. Memory is
// committed as bytes arrive: buf's capacity is what the caller chose to
// preallocate (a Content-Length is a claim, not a promise).
func readAll(src io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// maxPrealloc bounds what a body's announced length preallocates.
const maxPrealloc = 16 << 20

// readBody reads at most limit bytes of the request body, under the
// body's deadline.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	br, err := s.newBodyReader(w, r, limit)
	if err != nil {
		return nil, err
	}
	defer br.close()
	return readAll(br, make([]byte, 0, min(max(r.ContentLength, 0), limit, maxPrealloc)))
}
