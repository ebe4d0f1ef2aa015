// Package client is the typed HTTP client of a factory's /v1 API: submit a
// JSDL document, read, list and cancel jobs, follow a job's events.
//
// Every call takes a context first and returns tuplebroker.Job values. An
// answer with an unexpected status comes back as an *Error carrying the
// HTTP status and the RFC 9457 problem document; errors.Is matches it
// against tuplebroker.ErrNotFound (404), tuplebroker.ErrConflict (409) and
// tuplebroker.ErrUnavailable (503). A request that gets no answer within the
// client's timeout fails with a *TimeoutError; other transport failures are
// returned wrapped, naming the method and URL.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"tuplebroker"
)

const (
	// DefaultTimeout is the time limit of a request unless WithTimeout
	// says otherwise.
	DefaultTimeout = 30 * time.Second
	// DefaultUserAgent is the User-Agent unless WithUserAgent says
	// otherwise.
	DefaultUserAgent = "tuplebroker-client"

	// maxResponse bounds a response body read into memory (1000 jobs of a
	// list are well under 1 MiB).
	maxResponse = 16 << 20
)

// Client talks to one factory as one user. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	token     string
	hc        *http.Client
	timeout   time.Duration
	userAgent string
}

// An Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests through hc (default:
// NewHTTPClient(2)). hc's own Timeout, if any, also bounds event streams:
// leave it 0 and use WithTimeout.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithTimeout bounds each request (default DefaultTimeout): the answer must
// be read within d, plus the wait a submission asks the factory for. An event
// stream's answer must start within d, and the stream is dropped and
// reopened when silent for max(d, 20s) (factories send a keepalive every
// 15 s).
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithUserAgent sets the User-Agent of the requests.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client of the factory at base (an absolute http or https
// URL, without query or fragment; its path, if any, prefixes the API's
// routes) authenticating with the bearer token (empty: none is sent). It
// fails if base is not such a URL, the token holds blanks, control or
// non-ASCII characters, or the timeout is not positive.
func New(base, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("client: base URL %q: want an http:// or https:// URL", base)
	case u.Hostname() == "":
		return nil, fmt.Errorf("client: base URL %q: no host", base)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("client: base URL %q: a base URL has no query or fragment", base)
	}
	if strings.IndexFunc(token, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0 {
		return nil, errors.New("client: the token contains blanks, control or non-ASCII characters")
	}
	c := &Client{base: u, token: token, timeout: DefaultTimeout, userAgent: DefaultUserAgent}
	for _, o := range opts {
		o(c)
	}
	if c.timeout <= 0 {
		return nil, fmt.Errorf("client: timeout %s: want a positive duration", c.timeout)
	}
	if c.hc == nil {
		c.hc = NewHTTPClient(2)
	}
	return c, nil
}

// URL returns (a copy of) the base URL; URL().Redacted() is safe to print.
func (c *Client) URL() *url.URL {
	u := *c.base
	return &u
}

// NewHTTPClient returns an http.Client whose transport keeps up to conns
// idle connections per host, so that conns concurrent requests reuse their
// connections. It does not follow redirects: the API has none, and a POST
// must not turn into a GET.
func NewHTTPClient(conns int) *http.Client {
	conns = max(conns, 2)
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          max(conns, 100),
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// TimeoutError is a request that got no (complete) answer within the
// client's timeout. errors.Is(err, context.DeadlineExceeded) holds for it.
type TimeoutError struct {
	Method, URL string
	// Limit is the time the request had.
	Limit time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s %s: no answer within %s", e.Method, e.URL, e.Limit)
}

// Timeout reports true (net.Error's convention).
func (e *TimeoutError) Timeout() bool { return true }

// Unwrap returns context.DeadlineExceeded.
func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }

// endpoint is the URL of the route segs (each path-escaped) under the base
// URL, with query q.
func (c *Client) endpoint(q url.Values, segs ...string) string {
	u := *c.base
	p := strings.TrimSuffix(u.Path, "/")
	rp := strings.TrimSuffix(u.EscapedPath(), "/")
	for _, s := range segs {
		p += "/" + s
		rp += "/" + url.PathEscape(s)
	}
	u.Path, u.RawPath, u.RawQuery = p, rp, q.Encode()
	return u.String()
}

// newRequest makes an authenticated request; hdr is copied.
func (c *Client) newRequest(ctx context.Context, method, target string, hdr http.Header, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, target, err)
	}
	for k, vs := range hdr {
		req.Header[k] = append([]string(nil), vs...)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", c.userAgent)
	return req, nil
}

// response is a complete answer of the API.
type response struct {
	method, url string
	status      int
	header      http.Header
	body        []byte
}

// do sends one request and reads its answer, within the timeout plus extra
// (the time the factory may legitimately hold it, wait=). Any status is
// returned as a response; an error is a transport error.
func (c *Client) do(ctx context.Context, method string, q url.Values, hdr http.Header, body []byte, extra time.Duration, segs ...string) (response, error) {
	limit := c.timeout + extra
	rctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	target := c.endpoint(q, segs...)
	req, err := c.newRequest(rctx, method, target, hdr, body)
	if err != nil {
		return response{}, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return response{}, transportError(ctx, rctx, method, target, limit, err)
	}
	defer resp.Body.Close()
	b, err := readLimited(resp.Body, maxResponse, "the response to "+method+" "+target)
	if err != nil {
		return response{}, transportError(ctx, rctx, method, target, limit, err)
	}
	return response{method: method, url: target, status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// transportError describes a failed exchange: a deadline of ours is a
// *TimeoutError, not "context deadline exceeded".
func transportError(parent, rctx context.Context, method, target string, limit time.Duration, err error) error {
	if parent.Err() == nil && rctx.Err() != nil {
		return &TimeoutError{Method: method, URL: target, Limit: limit}
	}
	if uerr := (*url.Error)(nil); errors.As(err, &uerr) {
		err = uerr.Err // the URL is already in our message
	}
	return fmt.Errorf("%s %s: %w", method, target, err)
}

// readLimited reads r to its end, failing if it holds more than limit
// bytes; what names r in the error.
func readLimited(r io.Reader, limit int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", what, limit)
	}
	return b, nil
}

// decodeJob decodes a job, keeping its JSON compacted (future fields
// included).
func decodeJob(b []byte) (tuplebroker.Job, json.RawMessage, error) {
	var j tuplebroker.Job
	if err := json.Unmarshal(b, &j); err != nil {
		return j, nil, fmt.Errorf("decoding the job: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return j, nil, fmt.Errorf("decoding the job: %w", err)
	}
	return j, buf.Bytes(), nil
}
