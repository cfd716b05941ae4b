package transport

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// DefaultBodyLimit is the cap ReadBody applies when given a limit of zero or less.
// Microsoft API responses the operator reads are a few KiB; a bigger one is a
// fault, not data.
const DefaultBodyLimit = 4 << 20

// ErrBodyTooLarge is returned (wrapped) by ReadBody when a body exceeds its limit.
var ErrBodyTooLarge = errors.New("response body too large")

// ReadBody reads at most limit bytes of resp's body and always closes it. A longer
// body returns the first limit bytes and an error wrapping ErrBodyTooLarge.
func ReadBody(resp *http.Response, limit int64) ([]byte, error) {
	if resp == nil || resp.Body == nil {
		return nil, nil
	}
	defer func() { _ = resp.Body.Close() }()
	if limit <= 0 {
		limit = DefaultBodyLimit
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading response body: %w", err)
	}
	if int64(len(data)) > limit {
		return data[:limit], fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, limit)
	}
	return data, nil
}
