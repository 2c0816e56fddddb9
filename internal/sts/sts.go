// Package sts holds the wire side of OAuth 2.0 Token Exchange (RFC 8693):
// parsing and answering token requests on the server, and a client with
// client authentication, timeouts and retries on server errors only.
package sts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Grant and token type identifiers of RFC 8693.
const (
	GrantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeAccessToken   = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT           = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeIDToken       = "urn:ietf:params:oauth:token-type:id_token"
)

// maxRequestBytes bounds a token request body.
const maxRequestBytes = 64 << 10

// Request is a token exchange request.
type Request struct {
	SubjectToken       string
	SubjectTokenType   string
	ActorToken         string
	ActorTokenType     string
	Resource           []string
	Audience           []string
	Scope              []string
	RequestedTokenType string
	// AuthorizationDetails (RFC 9396) carries the call binding.
	AuthorizationDetails json.RawMessage
	// ClientID and ClientSecret come from HTTP Basic authentication or the
	// form (client_secret_post).
	ClientID, ClientSecret string
	// ClientAssertion is a private_key_jwt assertion (RFC 7523).
	ClientAssertion string
}

// Error is an RFC 6749 §5.2 error response.
type Error struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	Status      int    `json:"-"`
}

// Error implements error.
func (e *Error) Error() string {
	if e.Description == "" {
		return "token endpoint: " + e.Code
	}
	return "token endpoint: " + e.Code + ": " + e.Description
}

// Errorf returns a protocol error with an HTTP status fitting code.
func Errorf(code, format string, args ...any) *Error {
	status := http.StatusBadRequest
	if code == "invalid_client" {
		status = http.StatusUnauthorized
	}
	if code == "server_error" {
		status = http.StatusInternalServerError
	}
	return &Error{Code: code, Description: fmt.Sprintf(format, args...), Status: status}
}

// ParseRequest reads and checks a token exchange request.
func ParseRequest(r *http.Request) (*Request, *Error) {
	if r.Method != http.MethodPost {
		return nil, &Error{Code: "invalid_request", Description: "token requests must use POST", Status: http.StatusMethodNotAllowed}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, Errorf("invalid_request", "content type must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if err != nil {
		return nil, Errorf("invalid_request", "reading request body")
	}
	if len(body) > maxRequestBytes {
		return nil, Errorf("invalid_request", "request body too large")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, Errorf("invalid_request", "malformed form body")
	}
	for k, v := range form {
		if len(v) > 1 && k != "resource" && k != "audience" {
			return nil, Errorf("invalid_request", "parameter %q repeated", k)
		}
	}
	if gt := form.Get("grant_type"); gt != GrantTypeTokenExchange {
		return nil, Errorf("unsupported_grant_type", "grant_type must be %s", GrantTypeTokenExchange)
	}
	req := &Request{
		SubjectToken:       form.Get("subject_token"),
		SubjectTokenType:   form.Get("subject_token_type"),
		ActorToken:         form.Get("actor_token"),
		ActorTokenType:     form.Get("actor_token_type"),
		Resource:           form["resource"],
		Audience:           form["audience"],
		Scope:              strings.Fields(form.Get("scope")),
		RequestedTokenType: form.Get("requested_token_type"),
		ClientAssertion:    form.Get("client_assertion"),
	}
	if ad := form.Get("authorization_details"); ad != "" {
		if !json.Valid([]byte(ad)) {
			return nil, Errorf("invalid_request", "authorization_details is not JSON")
		}
		req.AuthorizationDetails = json.RawMessage(ad)
	}
	if id, secret, ok := r.BasicAuth(); ok {
		// RFC 6749 §2.3.1: the credentials are form-encoded before Basic.
		if req.ClientID, err = url.QueryUnescape(id); err != nil {
			return nil, Errorf("invalid_client", "malformed client id")
		}
		if req.ClientSecret, err = url.QueryUnescape(secret); err != nil {
			return nil, Errorf("invalid_client", "malformed client secret")
		}
	} else {
		req.ClientID, req.ClientSecret = form.Get("client_id"), form.Get("client_secret")
	}
	if req.SubjectToken == "" || req.SubjectTokenType == "" {
		return nil, Errorf("invalid_request", "subject_token and subject_token_type are required")
	}
	if (req.ActorToken == "") != (req.ActorTokenType == "") {
		return nil, Errorf("invalid_request", "actor_token and actor_token_type go together")
	}
	for _, u := range append(append([]string(nil), req.Resource...), req.Audience...) {
		if u == "" {
			return nil, Errorf("invalid_target", "empty resource or audience")
		}
	}
	for _, u := range req.Resource {
		if pu, err := url.Parse(u); err != nil || !pu.IsAbs() || pu.Fragment != "" {
			return nil, Errorf("invalid_target", "resource must be an absolute URI without a fragment")
		}
	}
	return req, nil
}

// Response is a successful token exchange response.
type Response struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in,omitempty"`
	Scope           string `json:"scope,omitempty"`
}

// WriteResponse writes a successful response.
func WriteResponse(w http.ResponseWriter, resp *Response) {
	writeJSON(w, http.StatusOK, resp)
}

// WriteError writes an error response.
func WriteError(w http.ResponseWriter, e *Error) {
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
	}
	writeJSON(w, e.Status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ClientAuth adds client authentication to a token request.
type ClientAuth interface {
	Apply(r *http.Request, form url.Values, tokenURL string) error
}

// BasicAuth is client_secret_basic.
type BasicAuth struct{ ID, Secret string }

// Apply sets the Authorization header.
func (b BasicAuth) Apply(r *http.Request, _ url.Values, _ string) error {
	r.SetBasicAuth(url.QueryEscape(b.ID), url.QueryEscape(b.Secret))
	return nil
}

// AssertionFunc builds a private_key_jwt client assertion for an audience.
type AssertionFunc func(audience string) (string, error)

// PrivateKeyJWT is private_key_jwt (RFC 7523 §2.2).
type PrivateKeyJWT struct {
	ID     string
	Assert AssertionFunc
}

// Apply adds the assertion parameters.
func (p PrivateKeyJWT) Apply(_ *http.Request, form url.Values, tokenURL string) error {
	a, err := p.Assert(tokenURL)
	if err != nil {
		return err
	}
	form.Set("client_id", p.ID)
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", a)
	return nil
}

// Client calls a remote token endpoint.
type Client struct {
	TokenURL string
	HTTP     *http.Client
	Auth     ClientAuth
	// Retries is how many times a 5xx answer or a network error is retried;
	// 4xx answers are final.
	Retries int
	// Backoff is the first delay between tries; it doubles each time.
	Backoff time.Duration
}

// ErrUnavailable wraps failures to get an answer from the token endpoint.
var ErrUnavailable = errors.New("token endpoint unavailable")

// Exchange performs a token exchange. Protocol refusals are *Error; failures
// to reach the endpoint wrap ErrUnavailable.
func (c *Client) Exchange(ctx context.Context, req *Request) (*Response, error) {
	form := url.Values{}
	form.Set("grant_type", GrantTypeTokenExchange)
	form.Set("subject_token", req.SubjectToken)
	form.Set("subject_token_type", req.SubjectTokenType)
	if req.ActorToken != "" {
		form.Set("actor_token", req.ActorToken)
		form.Set("actor_token_type", req.ActorTokenType)
	}
	for _, r := range req.Resource {
		form.Add("resource", r)
	}
	for _, a := range req.Audience {
		form.Add("audience", a)
	}
	if len(req.Scope) > 0 {
		form.Set("scope", strings.Join(req.Scope, " "))
	}
	if req.RequestedTokenType != "" {
		form.Set("requested_token_type", req.RequestedTokenType)
	}
	if len(req.AuthorizationDetails) > 0 {
		form.Set("authorization_details", string(req.AuthorizationDetails))
	}
	delay := c.Backoff
	var lastErr error
	for attempt := 0; attempt <= c.Retries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("%w: %w (last error: %v)", ErrUnavailable, ctx.Err(), lastErr)
			case <-t.C:
			}
			delay *= 2
		}
		resp, retry, err := c.try(ctx, form)
		if err == nil {
			return resp, nil
		}
		if !retry {
			return nil, err
		}
		lastErr = err
	}
	return nil, fmt.Errorf("%w: %v", ErrUnavailable, lastErr)
}

func (c *Client) try(ctx context.Context, base url.Values) (*Response, bool, error) {
	form := url.Values{}
	for k, v := range base {
		form[k] = v
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.TokenURL, nil)
	if err != nil {
		return nil, false, err
	}
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hr.Header.Set("Accept", "application/json")
	if c.Auth != nil {
		if err := c.Auth.Apply(hr, form, c.TokenURL); err != nil {
			return nil, false, fmt.Errorf("client authentication: %w", err)
		}
	}
	body := []byte(form.Encode())
	hr.Body = io.NopCloser(bytes.NewReader(body))
	hr.ContentLength = int64(len(body))
	res, err := c.HTTP.Do(hr)
	if err != nil {
		return nil, ctx.Err() == nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, true, err
	}
	if res.StatusCode >= 500 {
		return nil, true, fmt.Errorf("token endpoint answered %d", res.StatusCode)
	}
	if res.StatusCode != http.StatusOK {
		var e Error
		if json.Unmarshal(data, &e) != nil || e.Code == "" {
			return nil, false, &Error{Code: "invalid_response", Description: "status " + strconv.Itoa(res.StatusCode), Status: res.StatusCode}
		}
		e.Status = res.StatusCode
		return nil, false, &e
	}
	var out Response
	if err := json.Unmarshal(data, &out); err != nil || out.AccessToken == "" {
		return nil, false, &Error{Code: "invalid_response", Description: "no access_token in the answer", Status: res.StatusCode}
	}
	if !strings.EqualFold(out.TokenType, "bearer") && !strings.EqualFold(out.TokenType, "N_A") {
		return nil, false, &Error{Code: "invalid_response", Description: "token_type " + out.TokenType + " is not bearer", Status: res.StatusCode}
	}
	return &out, false, nil
}
