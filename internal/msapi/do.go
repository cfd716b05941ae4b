package msapi

import (
	"errors"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
)

// TrackWrite returns req with a trace that records whether the request was
// written in full, and a function that reports it. A client calls it before
// sending so that NoResponse can tell "never sent" from "sent, no answer".
func TrackWrite(req *http.Request) (*http.Request, func() bool) {
	var written atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				written.Store(true)
			}
		},
	}
	return req.WithContext(httptrace.WithClientTrace(req.Context(), trace)), written.Load
}

// NoResponse describes a call that got no usable answer: err came from
// http.Client.Do, or from reading a 2xx body. OutcomeUnknown is set for a POST
// that was written in full, since the service may have acted on it.
func NoResponse(api, operation string, req *http.Request, written bool, err error) *RequestError {
	return &RequestError{
		API:            api,
		Operation:      operation,
		OutcomeUnknown: req.Method == http.MethodPost && written,
		Err:            stripURL(err),
	}
}

// stripURL drops the *url.Error wrapper, whose text repeats the whole request
// URL; the operation name already says which call failed.
func stripURL(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) && urlErr.Err != nil {
		return urlErr.Err
	}
	return err
}
