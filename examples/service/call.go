package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	gopool "github.com/rubengp99/go-pool"
)

// callTimeout bounds one downstream call. It is a safety net only: the fake
// downstream always answers well within it.
const callTimeout = 10 * time.Second

// downstreamClient makes the service's calls to the downstream.
type downstreamClient struct {
	base   string
	client *http.Client
}

func newDownstreamClient(base string, limit int) *downstreamClient {
	// Keep as many idle connections as calls may be in flight, so that
	// every call reuses one instead of dialling.
	tr := &http.Transport{MaxIdleConnsPerHost: max(limit, 2)}
	return &downstreamClient{base: base, client: &http.Client{Transport: tr, Timeout: callTimeout}}
}

// close drops the idle connections, whose goroutines would outlive the
// service otherwise.
func (c *downstreamClient) close() {
	c.client.Transport.(*http.Transport).CloseIdleConnections()
}

// callError is the failure of one try of a downstream call.
type callError struct {
	RequestID string
	Item      int
	Attempt   int
	Status    int   // the HTTP status, or 0 if there was no answer
	Err       error // why there was no answer, or why it could not be read
}

func (e *callError) Error() string {
	var why string
	switch {
	case e.Status == 0:
		why = "no answer: " + e.Err.Error()
	case e.Err != nil:
		why = fmt.Sprintf("%d, then %v", e.Status, e.Err)
	default:
		why = fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("item %d: %s (try %d)", e.Item, why, e.Attempt)
}

func (e *callError) Unwrap() error { return e.Err }

// get makes one call: it asks the downstream for item on behalf of request
// requestID, as try number attempt. A 4xx answer is marked
// [gopool.Permanent], since asking again cannot change it; a 5xx or no
// answer is returned as is, for the task's retry policy to try again.
func (c *downstreamClient) get(ctx context.Context, requestID string, item, attempt int) (itemAnswer, error) {
	u := c.base + "/item/" + strconv.Itoa(item) + "?req=" + url.QueryEscape(requestID)
	fail := &callError{RequestID: requestID, Item: item, Attempt: attempt}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		fail.Err = err
		return itemAnswer{}, gopool.Permanent(fail)
	}
	req.Header.Set("X-Attempt", strconv.Itoa(attempt))
	resp, err := c.client.Do(req)
	if err != nil {
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err // the URL is already in the message
		}
		fail.Err = err
		return itemAnswer{}, fail
	}
	defer resp.Body.Close()
	fail.Status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body) // so that the connection is reused
		if resp.StatusCode >= 400 && resp.StatusCode < 500 {
			return itemAnswer{}, gopool.Permanent(fail)
		}
		return itemAnswer{}, fail
	}
	var a itemAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		fail.Err = err
		return itemAnswer{}, fail
	}
	return a, nil
}

// fetchItem is the task of one item of a request: one downstream call per
// try. Its input is the result with only the request id and the item filled
// in; it sends the whole result to the request's drain.
//
// A call in flight is not aborted when the request is cancelled (the client
// went away, a sibling failed under fail-fast, or the pool was closed): the
// downstream would go on working on it after the connection dropped, while
// the pool, seeing the task return, would let the next call in, one more
// than the limit. So the call runs to its end, which is short, and the
// cancellation takes effect at the next step: the task does not retry, and
// the request's tasks not yet started are skipped.
func (s *service) fetchItem(a gopool.Args[itemResult]) error {
	if err := a.Context.Err(); err != nil {
		return err // the request is over: not a failure, an echo of it
	}
	ans, err := s.down.get(context.WithoutCancel(a.Context), a.Input.RequestID, a.Input.Item, a.Attempt)
	if err != nil {
		if ctxErr := a.Context.Err(); ctxErr != nil {
			// The request ended while the call was in flight: nobody
			// needs another try, and this failure is not the request's.
			return ctxErr
		}
		return err
	}
	a.Drainer.Send(itemResult{RequestID: ans.RequestID, Item: ans.Item, Value: ans.Value, Attempts: a.Attempt})
	return nil
}
